"""Simplified Chongqing geography: district outlines, rivers and bridges, neighbourhoods, robotaxi areas.

One map for the demo seed, the dispatch engine and the operator console, below all of them.
Outlines are hand-drawn simplifications (a few kilometres of precision) of the main-city
districts and Yongchuan; Liangjiang New Area is the functional zone around Lijia, Yuelai,
Yufu and Longxing. Rivers are centrelines with a half-width, so "on land" means outside
the water band plus a margin; river centrelines are simplified to a few hundred metres and
bridges are the real main-city crossings of the Yangtze and the Jialing. Coordinates are
WGS84 as (lon, lat) pairs, as in GeoJSON.
"""
import math

from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.ops import transform

DISTRICT_NAMES = {
    "yuzhong": ("渝中区", "Yuzhong"), "jiangbei": ("江北区", "Jiangbei"),
    "nanan": ("南岸区", "Nan'an"), "shapingba": ("沙坪坝区", "Shapingba"),
    "jiulongpo": ("九龙坡区", "Jiulongpo"), "dadukou": ("大渡口区", "Dadukou"),
    "beibei": ("北碚区", "Beibei"), "yubei": ("渝北区", "Yubei"), "banan": ("巴南区", "Ba'nan"),
    "liangjiang": ("两江新区", "Liangjiang New Area"), "yongchuan": ("永川区", "Yongchuan"),
}

OUTLINES = {
    "yuzhong": [[(106.500, 29.540), (106.540, 29.532), (106.575, 29.545), (106.592, 29.566),
                 (106.560, 29.566), (106.520, 29.566), (106.500, 29.560)]],
    "jiangbei": [[(106.500, 29.571), (106.585, 29.568), (106.640, 29.600), (106.700, 29.612),
                  (106.700, 29.640), (106.600, 29.615), (106.560, 29.602), (106.500, 29.602)]],
    "nanan": [[(106.545, 29.530), (106.575, 29.545), (106.600, 29.570), (106.640, 29.590),
               (106.700, 29.590), (106.700, 29.460), (106.560, 29.470), (106.540, 29.500)]],
    "shapingba": [[(106.280, 29.545), (106.470, 29.540), (106.500, 29.545), (106.500, 29.602),
                   (106.470, 29.640), (106.280, 29.640)]],
    "jiulongpo": [[(106.280, 29.440), (106.400, 29.440), (106.440, 29.478), (106.480, 29.500),
                   (106.510, 29.500), (106.538, 29.520), (106.500, 29.540), (106.470, 29.540),
                   (106.280, 29.545)]],
    "dadukou": [[(106.400, 29.380), (106.520, 29.420), (106.540, 29.480), (106.510, 29.500),
                 (106.480, 29.500), (106.440, 29.478), (106.400, 29.440)]],
    "beibei": [[(106.300, 29.700), (106.480, 29.700), (106.500, 29.780), (106.500, 29.900),
                (106.300, 29.900)]],
    "yubei": [[(106.500, 29.602), (106.560, 29.602), (106.600, 29.615), (106.700, 29.640),
               (106.700, 29.780), (106.600, 29.780), (106.600, 29.700), (106.590, 29.650),
               (106.500, 29.635)]],
    "liangjiang": [[(106.500, 29.635), (106.590, 29.650), (106.600, 29.700), (106.600, 29.780),
                    (106.500, 29.780), (106.480, 29.700)],
                   [(106.700, 29.690), (106.850, 29.690), (106.850, 29.800), (106.700, 29.800)]],
    "banan": [[(106.450, 29.300), (106.750, 29.300), (106.750, 29.460), (106.700, 29.460),
               (106.560, 29.470), (106.540, 29.480), (106.520, 29.420), (106.450, 29.390)]],
    "yongchuan": [[(105.800, 29.250), (106.050, 29.250), (106.050, 29.450), (105.800, 29.450)]],
}

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

SHORE_MARGIN_M = 150

# Neighbourhood centres on land, per district: (name_zh, name_en, lat, lon).
NEIGHBOURHOODS = {
    "yuzhong": [("解放碑", "Jiefangbei", 29.5578, 106.5772), ("两路口", "Lianglukou", 29.5530, 106.5500),
                ("大坪", "Daping", 29.5415, 106.5190), ("鹅岭", "Eling", 29.5525, 106.5350),
                ("七星岗", "Qixinggang", 29.5560, 106.5640)],
    "jiangbei": [("观音桥", "Guanyinqiao", 29.5790, 106.5320), ("江北嘴", "Jiangbeizui", 29.5765, 106.5780),
                 ("五里店", "Wulidian", 29.5880, 106.5650), ("大石坝", "Dashiba", 29.5880, 106.5220),
                 ("石马河", "Shimahe", 29.5930, 106.5050)],
    "nanan": [("南坪", "Nanping", 29.5270, 106.5640), ("四公里", "Sigongli", 29.5120, 106.5650),
              ("茶园", "Chayuan", 29.5000, 106.6350), ("南山", "Nanshan", 29.5420, 106.6180),
              ("黄桷垭", "Huangjueya", 29.5330, 106.6050), ("长生桥", "Changshengqiao", 29.4830, 106.6550)],
    "shapingba": [("三峡广场", "Sanxia Square", 29.5565, 106.4570), ("大学城", "University Town", 29.6070, 106.3040),
                  ("西永", "Xiyong", 29.5940, 106.3180), ("歌乐山", "Geleshan", 29.5680, 106.3980),
                  ("天星桥", "Tianxingqiao", 29.5480, 106.4730), ("陈家桥", "Chenjiaqiao", 29.6100, 106.3350)],
    "jiulongpo": [("杨家坪", "Yangjiaping", 29.5045, 106.5110), ("石桥铺", "Shiqiaopu", 29.5250, 106.4960),
                  ("二郎", "Erlang", 29.5160, 106.4580), ("重庆西站", "Chongqing West Station", 29.4930, 106.4320),
                  ("陈家坪", "Chenjiaping", 29.5250, 106.4700), ("含谷", "Hangu", 29.5000, 106.3500)],
    "dadukou": [("大渡口", "Dadukou", 29.4840, 106.4780), ("新山村", "Xinshancun", 29.4870, 106.4650),
                ("跳磴", "Tiaodeng", 29.4250, 106.4500), ("建桥", "Jianqiao", 29.4560, 106.4500)],
    "beibei": [("北碚城区", "Beibei Centre", 29.8254, 106.4300), ("天生", "Tiansheng", 29.8150, 106.4100),
               ("歇马", "Xiema", 29.7700, 106.3900), ("蔡家", "Caijia", 29.7250, 106.4500)],
    "yubei": [("重庆北站", "Chongqing North Station", 29.6085, 106.5505), ("江北机场", "Jiangbei Airport", 29.7200, 106.6400),
              ("两路", "Lianglu", 29.7150, 106.6250), ("回兴", "Huixing", 29.6600, 106.6000),
              ("冉家坝", "Ranjiaba", 29.6160, 106.5140), ("龙头寺", "Longtousi", 29.6100, 106.5420)],
    "liangjiang": [("悦来", "Yuelai", 29.7195, 106.5665), ("礼嘉", "Lijia", 29.6600, 106.5450),
                   ("鱼复", "Yufu", 29.6900, 106.5800), ("龙兴", "Longxing", 29.7400, 106.7900),
                   ("龙兴足球场", "Longxing Stadium", 29.7330, 106.7750)],
    "banan": [("龙洲湾", "Longzhouwan", 29.4020, 106.5380), ("鱼洞", "Yudong", 29.3850, 106.5250),
              ("界石", "Jieshi", 29.3300, 106.6400), ("南泉", "Nanquan", 29.4300, 106.6350)],
    "yongchuan": [("永川城区", "Yongchuan Centre", 29.3560, 105.9270), ("永川高新区", "Yongchuan Hi-tech Zone", 29.3330, 105.8900),
                  ("凤凰湖", "Fenghuang Lake", 29.3900, 105.9500), ("兴龙湖", "Xinglong Lake", 29.3400, 105.9200)],
}

# Robotaxi service areas: Liangjiang (Lijia, Yuelai, Yufu) and Yongchuan's new town.
SERVICE_AREAS = [
    ("liangjiang", "两江新区自动驾驶出行服务区", "Liangjiang New Area robotaxi zone", "liangjiang",
     [(106.525, 29.645), (106.600, 29.650), (106.610, 29.700), (106.590, 29.740),
      (106.545, 29.740), (106.540, 29.700)]),
    ("yongchuan", "永川自动驾驶出行服务区", "Yongchuan robotaxi zone", "yongchuan",
     [(105.860, 29.310), (105.980, 29.310), (105.985, 29.400), (105.870, 29.405)]),
]

_REF_LAT = 29.56


def _to_metres(lon: float, lat: float, z: float | None = None) -> tuple[float, float]:
    """Project to local metres (a height, if shapely passes one, is dropped); negligibly off over the city."""
    return (lon * 111_320 * math.cos(math.radians(_REF_LAT)), lat * 110_574)


DISTRICTS = {name: MultiPolygon([Polygon(ring) for ring in rings]) for name, rings in OUTLINES.items()}
_WATER = [transform(_to_metres, LineString(line)).buffer(half + SHORE_MARGIN_M)
          for half, line in RIVERS.values()]


def in_water(lat: float, lon: float) -> bool:
    """Tell whether a point lies in a river (or too close to its shore to build on)."""
    here = Point(_to_metres(lon, lat))
    return any(band.contains(here) for band in _WATER)


def district_at(lat: float, lon: float) -> str | None:
    """Return the district whose outline contains the point."""
    here = Point(lon, lat)
    return next((name for name, shape in DISTRICTS.items() if shape.contains(here)), None)
