"""Chongqing as the engine sees it: a local metric projection, the two rivers and their bridges.

Coordinates are WGS84 (lon, lat). River centrelines are simplified to a few hundred metres;
bridges are the real main-city crossings of the Yangtze and the Jialing.
"""
import numpy as np

LAT0, LON0 = 29.56, 106.55
# On the sphere of the haversine formula (R = 6371.0088 km), as distances elsewhere are measured.
M_PER_DEG_LAT = 6_371_008.8 * np.pi / 180
M_PER_DEG_LON = M_PER_DEG_LAT * np.cos(np.radians(LAT0))

# name: (half-width m, centreline as (lon, lat))
RIVERS = {
    "yangtze": (400, [(106.390, 29.390), (106.415, 29.405), (106.445, 29.435), (106.475, 29.460),
                      (106.495, 29.478), (106.520, 29.492), (106.538, 29.510), (106.552, 29.528),
                      (106.5645, 29.543), (106.5875, 29.5565), (106.592, 29.568),
                      (106.603, 29.582), (106.615, 29.600), (106.640, 29.612),
                      (106.680, 29.606), (106.720, 29.600)]),
    "jialing": (250, [(106.405, 29.855), (106.420, 29.845), (106.440, 29.838), (106.455, 29.830),
                      (106.470, 29.812), (106.475, 29.790), (106.470, 29.760), (106.470, 29.740),
                      (106.500, 29.720), (106.535, 29.715), (106.520, 29.680),
                      (106.505, 29.655), (106.480, 29.635), (106.465, 29.612), (106.450, 29.590),
                      (106.455, 29.580), (106.492, 29.578), (106.519, 29.574), (106.545, 29.571),
                      (106.578, 29.569), (106.592, 29.568)]),
}

# river: [(name, lon, lat)] where each bridge meets the centreline
BRIDGES = {
    "yangtze": [("马桑溪大桥 Masangxi", 106.478, 29.462), ("李家沱大桥 Lijiatuo", 106.521, 29.493),
                ("鹅公岩大桥 Egongyan", 106.545, 29.519), ("菜园坝大桥 Caiyuanba", 106.5645, 29.543),
                ("石板坡大桥 Shibanpo", 106.574, 29.548), ("东水门大桥 Dongshuimen", 106.5875, 29.5565),
                ("朝天门大桥 Chaotianmen", 106.600, 29.578), ("大佛寺大桥 Dafosi", 106.612, 29.596),
                ("寸滩大桥 Cuntan", 106.640, 29.612)],
    "jialing": [("千厮门大桥 Qiansimen", 106.578, 29.569), ("黄花园大桥 Huanghuayuan", 106.550, 29.5708),
                ("嘉陵江大桥 Niujiaotuo", 106.533, 29.5725), ("红岩村大桥 Hongyancun", 106.510, 29.5755),
                ("石门大桥 Shimen", 106.492, 29.578), ("高家花园大桥 Gaojiahuayuan", 106.452, 29.586),
                ("双碑大桥 Shuangbei", 106.458, 29.603), ("礼嘉大桥 Lijia", 106.495, 29.647),
                ("蔡家大桥 Caijia", 106.512, 29.690), ("北碚嘉陵江大桥 Beibei", 106.462, 29.822)],
}


def to_xy(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 to metres east and north of the city centre (equirectangular)."""
    return ((np.asarray(lon, dtype=np.float64) - LON0) * M_PER_DEG_LON,
            (np.asarray(lat, dtype=np.float64) - LAT0) * M_PER_DEG_LAT)


def to_lat_lon(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Return WGS84 (lat, lon) of projected metres."""
    return (np.asarray(y) / M_PER_DEG_LAT + LAT0, np.asarray(x) / M_PER_DEG_LON + LON0)
