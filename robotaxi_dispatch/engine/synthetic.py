"""Seeded synthetic fleets and demand around Chongqing's hotspots, for the benchmark and the simulator."""
from dataclasses import dataclass

import numpy as np

from robotaxi_dispatch.engine.chongqing import M_PER_DEG_LAT, M_PER_DEG_LON
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, DISPATCHED, ON_TRIP, OUT_OF_SERVICE

# Where riders ask for cars (lat, lon, relative weight).
HOTSPOTS = {
    "Jiefangbei": (29.5578, 106.5772, 3), "Guanyinqiao": (29.5790, 106.5320, 3),
    "Shapingba": (29.5565, 106.4570, 2), "Chongqing North station": (29.6085, 106.5505, 2),
    "Jiangbei airport": (29.7200, 106.6400, 1), "Yuelai expo centre": (29.7195, 106.5665, 1),
    "University town": (29.6070, 106.3040, 1),
}
# The benchmark's 40 x 30 km box over the main city.
BOX = (29.42, 106.35, 29.69, 106.76)


# A working fleet's mix: most cars free, a third carrying or fetching riders, a few out of service.
STATUS_MIX = {AVAILABLE: 0.6, ON_TRIP: 0.25, DISPATCHED: 0.1, OUT_OF_SERVICE: 0.05}


@dataclass
class Fleet:
    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    seats: np.ndarray
    soc: np.ndarray
    status: np.ndarray


def fleet(n: int, rng: np.random.Generator, box=BOX) -> Fleet:
    """Return n vehicles spread evenly over the box: 4 or 6 seats, 10-100% battery, mixed status."""
    south, west, north, east = box
    return Fleet(ids=np.arange(1, n + 1, dtype=np.int64), lat=rng.uniform(south, north, n),
                 lon=rng.uniform(west, east, n), seats=rng.choice([4, 6], n, p=[0.8, 0.2]).astype(np.int8),
                 soc=rng.uniform(10, 100, n),
                 status=rng.choice(list(STATUS_MIX), n, p=list(STATUS_MIX.values())).astype(np.int8))


def demand(n: int, rng: np.random.Generator, *, spread_m: float = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Return n pickup points clustered round the hotspots by weight."""
    spots = np.array([(lat, lon) for lat, lon, _ in HOTSPOTS.values()])
    weights = np.array([w for *_, w in HOTSPOTS.values()], dtype=np.float64)
    pick = rng.choice(len(spots), n, p=weights / weights.sum())
    offsets = rng.normal(0, spread_m, (n, 2))
    return (spots[pick, 0] + offsets[:, 0] / M_PER_DEG_LAT,
            spots[pick, 1] + offsets[:, 1] / M_PER_DEG_LON)


def move(lat: np.ndarray, lon: np.ndarray, rng: np.random.Generator,
         metres: float) -> tuple[np.ndarray, np.ndarray]:
    """Return positions after each vehicle drove up to `metres` in a random direction."""
    step = rng.uniform(0, metres, len(lat))
    angle = rng.uniform(0, 2 * np.pi, len(lat))
    return (lat + step * np.cos(angle) / M_PER_DEG_LAT, lon + step * np.sin(angle) / M_PER_DEG_LON)
