"""The simulated fleet: each vehicle drives one leg at a time, in arrays.

A leg goes from (x0, y0) at t0 to (x1, y1) at t1 in the true travel time; a vehicle is where
its leg has got to, straight-line in between. Battery drains as legs end or are cut short, so a
leg given up half-way (a rebalancing car taking a ride) counts half. Vehicles start from
depots, which have chargers.
"""
import numpy as np

from robotaxi_dispatch.engine.demand import CityDemand
from robotaxi_dispatch.engine.matcher import soc_needed
from robotaxi_dispatch.engine.travel import Drive

IDLE, REBALANCING, TO_PICKUP, ON_TRIP, TO_CHARGER, CHARGING = range(6)
KIND = {REBALANCING: "rebalancing", TO_PICKUP: "pickup", ON_TRIP: "trip", TO_CHARGER: "charging"}
CHARGE_PCT_PER_S = 120 / 60 / 36  # a 120 kW charger fills a 60 kWh battery at 0.056 %/s
CHARGED_SOC = 90.0


class SimFleet:
    """Positions, legs, battery and rides of n vehicles."""

    def __init__(self, x: np.ndarray, y: np.ndarray, soc: np.ndarray):
        n = len(x)
        self.ids = np.arange(1, n + 1, dtype=np.int64)
        self.x0, self.y0, self.x1, self.y1 = x.copy(), y.copy(), x.copy(), y.copy()
        self.t0, self.t1, self.metres = np.zeros(n), np.zeros(n), np.zeros(n)
        self.expected_t1 = np.zeros(n)  # when the dispatcher expects the leg to end
        self.state = np.full(n, IDLE, dtype=np.int8)
        self.ride, self.queued = np.full(n, -1), np.full(n, -1)  # request rows; queued: next after drop-off
        self.soc, self.seats = soc.astype(np.float64), np.full(n, 4, dtype=np.int8)

    def __len__(self) -> int:
        return len(self.ids)

    def _share(self, at, v=slice(None)) -> np.ndarray:
        """Return how much of their legs vehicles have driven at `at`."""
        span = self.t1[v] - self.t0[v]
        return np.clip(np.divide(at - self.t0[v], span, out=np.ones_like(span), where=span > 0), 0, 1)

    def position(self, now: float, v=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Return where vehicles are at `now`, part-way along their legs."""
        share = self._share(now, v)
        return (self.x0[v] + (self.x1[v] - self.x0[v]) * share, self.y0[v] + (self.y1[v] - self.y0[v]) * share)

    def due(self, now: float) -> np.ndarray:
        """Return the vehicles whose leg ends by `now` (charging included), earliest first."""
        v = np.flatnonzero((self.state != IDLE) & (self.t1 <= now))
        return v[np.argsort(self.t1[v], kind="stable")]

    def km_driven(self, start: float, end: float) -> dict[str, float]:
        """Return the kilometres driven between two moments on the current legs, by kind."""
        metres = self.metres * (self._share(end) - self._share(start))
        return {kind: float(metres[self.state == state].sum()) / 1000 for state, kind in KIND.items()}

    def stop(self, v: np.ndarray, at) -> None:
        """End the legs of vehicles at `at` wherever they got to, draining their batteries."""
        x, y = self.position(at, v)
        self.soc[v] -= soc_needed(self.metres[v] * self._share(at, v))
        self.x0[v], self.y0[v], self.x1[v], self.y1[v] = x, y, x, y
        self.t0[v], self.t1[v], self.metres[v] = at, at, 0.0
        self.state[v] = IDLE

    def start(self, v: np.ndarray, state: int, target: tuple, at, drive: Drive) -> None:
        """Send stopped vehicles on a leg to `target` (x, y arrays) starting at `at`."""
        self.state[v], self.x1[v], self.y1[v] = state, target[0], target[1]
        self.t0[v], self.t1[v], self.metres[v] = at, at + drive.seconds, drive.metres
        self.expected_t1[v] = at + drive.expected_s


def depot_fleet(n: int, demand: CityDemand, hour: float, rng: np.random.Generator) -> SimFleet:
    """Return n vehicles parked at the depots, shared by where the first hour's riders start."""
    origins = demand.od_matrix(hour).sum(axis=1)
    depot = rng.choice(len(origins), n, p=origins)
    x, y = demand.x[depot] + rng.normal(0, 150, n), demand.y[depot] + rng.normal(0, 150, n)
    return SimFleet(x, y, soc=rng.uniform(25, 100, n))
