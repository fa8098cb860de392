"""Ride demand of Chongqing's main city: a rate of its own and an origin-destination model.

The rate is requests per hour averaged over the day, shaped by an hourly profile; it does not
depend on the fleet. Trips join places (homes, offices, stations, the airport, the expo centre,
the circuit) by purpose: commuters go from homes to jobs in the morning and back in the evening,
outings go from homes to shops, stations and venues and come back later, so flows are
asymmetric by hour and return. Destinations fall off with distance (a gravity model).
"""
from dataclasses import dataclass
from typing import cast

import numpy as np

from robotaxi_dispatch.engine.chongqing import to_xy


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    homes: float     # relative weights of what is there
    jobs: float
    visits: float    # shops, stations, venues
    spread_m: float  # how far round the centre trips start and end


PLACES = (
    Place("Jiefangbei", 29.5578, 106.5772, 2, 8, 6, 900),
    Place("Jiangbeizui CBD", 29.5765, 106.5780, 0.5, 5, 1, 700),
    Place("Guanyinqiao", 29.5790, 106.5320, 4, 6, 5, 1000),
    Place("Daping", 29.5415, 106.5190, 3, 3, 2, 900),
    Place("Shapingba", 29.5565, 106.4570, 5, 3, 3, 1200),
    Place("Nanping", 29.5270, 106.5640, 5, 3, 3, 1200),
    Place("Yangjiaping", 29.5045, 106.5110, 5, 2, 2, 1200),
    Place("Dadukou", 29.4840, 106.4780, 3, 1, 1, 1300),
    Place("Ranjiaba", 29.6130, 106.5280, 5, 2, 1, 1400),
    Place("Lijia", 29.6600, 106.5450, 3, 1, 1, 1500),
    Place("Huixing", 29.6600, 106.6000, 4, 1, 1, 1500),
    Place("Chayuan", 29.5000, 106.6350, 3, 2, 1, 1500),
    Place("University town", 29.6070, 106.3040, 3, 2, 1, 1500),
    Place("Chongqing North station", 29.6085, 106.5505, 0, 0.5, 4, 500),
    Place("Chongqing West station", 29.4930, 106.4320, 0, 0.3, 2, 500),
    Place("Jiangbei airport", 29.7200, 106.6400, 0, 0.5, 3, 600),
    Place("Yuelai expo centre", 29.7195, 106.5665, 0.5, 1, 2, 700),
    Place("Longxing circuit", 29.7440, 106.8050, 0, 0.2, 0.5, 600),
)

# Share of the day's mean rate by local hour (mean 1): morning and evening peaks, quiet nights.
HOURLY = np.array([0.25, 0.12, 0.08, 0.06, 0.08, 0.25, 0.7, 1.5, 1.8, 1.3, 1.0, 1.0, 1.15, 1.05,
                   1.0, 1.1, 1.4, 1.8, 1.7, 1.3, 1.15, 1.0, 0.8, 0.5])
HOURLY = HOURLY / HOURLY.mean()
DECAY_M = 4000  # gravity: each 4 km further away makes a destination e times less likely
SAME_PLACE = 0.3  # trips inside one place are rarer than the gravity model alone would say


def _bump(hours: np.ndarray, peak: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((hours - peak) / width) ** 2)


def _purpose_mix(hour: float) -> dict[str, float]:
    """Return the weight of each trip purpose at a local hour."""
    h = np.array(hour)
    return {"commute_out": float(_bump(h, 8, 1.2)), "commute_back": float(_bump(h, 18, 1.5)),
            "outing": float(0.25 + _bump(h, 11, 2) + 0.6 * _bump(h, 19.5, 1.5)),
            "return": float(0.15 + 0.8 * _bump(h, 15, 2) + _bump(h, 21.5, 1.5)),
            "between": 0.2}


@dataclass
class Trips:
    """Requested trips: when, where from, where to (projected metres)."""
    at: np.ndarray
    ox: np.ndarray
    oy: np.ndarray
    dx: np.ndarray
    dy: np.ndarray


class CityDemand:
    """Draws requests of the main city at `requests_per_hour` averaged over the day."""

    def __init__(self, requests_per_hour: float, places=PLACES):
        self.rate = requests_per_hour
        self.x, self.y = to_xy([p.lat for p in places], [p.lon for p in places])
        self.spread = np.array([p.spread_m for p in places])
        weight = {k: np.array([getattr(p, k) for p in places], dtype=np.float64)
                  for k in ("homes", "jobs", "visits")}
        gravity = np.exp(-np.hypot(self.x[:, None] - self.x, self.y[:, None] - self.y) / DECAY_M)
        np.fill_diagonal(gravity, SAME_PLACE)
        self._od = {purpose: _joint(weight[o], weight[d], gravity) for purpose, (o, d) in
                    {"commute_out": ("homes", "jobs"), "commute_back": ("jobs", "homes"),
                     "outing": ("homes", "visits"), "return": ("visits", "homes"),
                     "between": ("visits", "visits")}.items()}

    def od_matrix(self, hour: float) -> np.ndarray:
        """Return the probability of each (origin place, destination place) at a local hour."""
        od = cast(np.ndarray, sum(w * self._od[purpose] for purpose, w in _purpose_mix(hour).items()))
        return od / od.sum()

    def per_second(self, hour: float) -> float:
        """Return the expected requests per second at a local hour."""
        return self.rate * HOURLY[int(hour) % 24] / 3600

    def draw(self, start_s: float, seconds: float, hour: float, rng: np.random.Generator) -> Trips:
        """Return the requests made during `seconds` from `start_s`, at a local hour."""
        n = rng.poisson(self.per_second(hour) * seconds)
        od = self.od_matrix(hour)
        pair = rng.choice(od.size, n, p=od.ravel())
        o, d = np.divmod(pair, len(self.x))
        jitter = rng.normal(0, 1, (4, n))
        return Trips(at=np.sort(start_s + rng.uniform(0, seconds, n)),
                     ox=self.x[o] + jitter[0] * self.spread[o], oy=self.y[o] + jitter[1] * self.spread[o],
                     dx=self.x[d] + jitter[2] * self.spread[d], dy=self.y[d] + jitter[3] * self.spread[d])


def _joint(origin: np.ndarray, destination: np.ndarray, gravity: np.ndarray) -> np.ndarray:
    """Return P(origin, destination) for one purpose: origins by weight, destinations by gravity."""
    toward = destination * gravity
    return origin[:, None] / origin.sum() * toward / toward.sum(axis=1, keepdims=True)
