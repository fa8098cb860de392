"""Chongqing as the engine sees it: a local metric projection (the city map is backend.geography)."""
import numpy as np

LAT0, LON0 = 29.56, 106.55
# On the sphere of the haversine formula (R = 6371.0088 km), as distances elsewhere are measured.
M_PER_DEG_LAT = 6_371_008.8 * np.pi / 180
M_PER_DEG_LON = M_PER_DEG_LAT * np.cos(np.radians(LAT0))

def to_xy(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 to metres east and north of the city centre (equirectangular)."""
    return ((np.asarray(lon, dtype=np.float64) - LON0) * M_PER_DEG_LON,
            (np.asarray(lat, dtype=np.float64) - LAT0) * M_PER_DEG_LAT)


def to_lat_lon(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Return WGS84 (lat, lon) of projected metres."""
    return (np.asarray(y) / M_PER_DEG_LAT + LAT0, np.asarray(x) / M_PER_DEG_LON + LON0)
