"""The simulation's requests, in growable arrays indexed by request row."""
import numpy as np

from robotaxi_dispatch.engine.demand import Trips
from robotaxi_dispatch.engine.metrics import RideTimes

OPEN, ASSIGNED, PICKED_UP, DONE, LOST = range(5)
_COLUMNS = ("ox", "oy", "dx", "dy", "direct_m", "direct_s", "true_direct_s", "requested", "assigned", "picked_up",
            "dropped_off", "pickup_eta_s", "pickup_at")  # pickup_at: booked ahead (NaN: on demand)


class RequestBook:
    """Where each request goes, what the dispatcher quoted, and what happened to it."""

    # The float columns, one per name in _COLUMNS (set by name in __init__ and _grow).
    ox: np.ndarray
    oy: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    direct_m: np.ndarray
    direct_s: np.ndarray
    true_direct_s: np.ndarray
    requested: np.ndarray
    assigned: np.ndarray
    picked_up: np.ndarray
    dropped_off: np.ndarray
    pickup_eta_s: np.ndarray
    pickup_at: np.ndarray

    def __init__(self, capacity: int = 1024):
        self.n = 0
        for column in _COLUMNS:
            setattr(self, column, np.full(capacity, np.nan))
        self.state = np.full(capacity, OPEN, dtype=np.int8)
        self.vehicle = np.full(capacity, -1, dtype=np.int64)

    def add(self, trips: Trips, direct_m: np.ndarray, direct_s: np.ndarray, true_direct_s: np.ndarray) -> np.ndarray:
        """Record new requests with their trips' road metres, quoted and mean true seconds; return their rows."""
        rows = np.arange(self.n, self.n + len(trips.at))
        if rows.size and rows[-1] >= len(self.state):
            self._grow(2 * rows[-1])
        values = {"ox": trips.ox, "oy": trips.oy, "dx": trips.dx, "dy": trips.dy, "direct_m": direct_m,
                  "direct_s": direct_s, "true_direct_s": true_direct_s, "requested": trips.at}
        for column, value in values.items():
            getattr(self, column)[rows] = value
        self.n += len(rows)
        return rows

    def _grow(self, capacity: int) -> None:
        extra = capacity - len(self.state)
        for column in _COLUMNS:
            setattr(self, column, np.concatenate([getattr(self, column), np.full(extra, np.nan)]))
        self.state = np.concatenate([self.state, np.full(extra, OPEN, dtype=np.int8)])
        self.vehicle = np.concatenate([self.vehicle, np.full(extra, -1, dtype=np.int64)])

    def rows(self, state: int) -> np.ndarray:
        """Return the rows of requests in a state."""
        return np.flatnonzero(self.state[:self.n] == state)

    def times(self) -> RideTimes:
        """Return the requests' times for the metrics."""
        n = self.n
        return RideTimes(requested=self.requested[:n], assigned=self.assigned[:n], picked_up=self.picked_up[:n],
                         dropped_off=self.dropped_off[:n], direct_s=self.direct_s[:n],
                         true_direct_s=self.true_direct_s[:n], pickup_eta_s=self.pickup_eta_s[:n])
