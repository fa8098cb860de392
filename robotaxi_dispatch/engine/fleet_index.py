"""The live fleet in arrays: batched telemetry ingest and filtered k-nearest search.

Vehicle ids index a slot table directly, so a telemetry batch is a handful of numpy operations
whatever its size. Searches run on a k-d tree of the dispatchable vehicles only (in service,
heard from recently, battery above the floor), rebuilt lazily when something moved; per-query
filters (seats, battery for the trip) are applied to a small over-fetch and re-queried only for
the rare queries they starve.
"""
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from robotaxi_dispatch.engine.chongqing import to_lat_lon, to_xy

AVAILABLE, DISPATCHED, ON_TRIP, OUT_OF_SERVICE = 0, 1, 2, 3
STATUS_CODES = {"available": AVAILABLE, "dispatched": DISPATCHED, "on_trip": ON_TRIP}
_SPARE = 4  # extra candidates fetched per query so filters rarely starve it


def _cell_key(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return a 16-bit key of the 1 km cell of each point (wrapping far away), cheap to sort."""
    return (((y // 1000) % 128) * 256 + (x // 1000) % 256).astype(np.uint16)


@dataclass
class Neighbours:
    """k nearest per query: vehicle ids (-1 when missing) and distances in metres (inf)."""
    ids: np.ndarray
    distances: np.ndarray


class FleetIndex:
    """Positions, status, seats, battery and freshness of every vehicle, by vehicle id."""

    def __init__(self, *, stale_after_s: float = 60.0, min_soc: float = 15.0, capacity: int = 1024):
        self.stale_after_s, self.min_soc = stale_after_s, min_soc
        self._slot_of = np.full(capacity, -1, dtype=np.int64)
        self.ids = np.empty(0, dtype=np.int64)
        self.x = self.y = self.soc = self.seen = np.empty(0, dtype=np.float64)
        self.status = self.seats = np.empty(0, dtype=np.int8)
        self._tree: cKDTree | None = None
        self._tree_at: float | None = None
        # Read only along with a tree, which sets them.
        self._tree_slots = self._tree_ids = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def _slots(self, ids: np.ndarray) -> np.ndarray:
        """Return the slots of vehicle ids, adding slots for vehicles never seen."""
        top = int(ids.max()) + 1 if len(ids) else 0
        if top > len(self._slot_of):
            self._slot_of = np.concatenate([self._slot_of, np.full(max(top, 2 * len(self._slot_of))
                                                                    - len(self._slot_of), -1)])
        slots = self._slot_of[ids]
        fresh = np.unique(ids[slots < 0])
        if len(fresh):
            start = len(self.ids)
            self._slot_of[fresh] = np.arange(start, start + len(fresh))
            self.ids = np.concatenate([self.ids, fresh])
            grow = lambda a, fill: np.concatenate([a, np.full(len(fresh), fill, dtype=a.dtype)])  # noqa: E731
            self.x, self.y = grow(self.x, np.nan), grow(self.y, np.nan)
            self.soc, self.seen = grow(self.soc, 0.0), grow(self.seen, -np.inf)
            self.status, self.seats = grow(self.status, OUT_OF_SERVICE), grow(self.seats, 0)
            slots = self._slot_of[ids]
        return slots

    def upsert(self, ids, lat, lon, *, ts, soc=None, seats=None, status=None) -> None:
        """Record a batch of positions (and optionally battery, seats, status) for vehicle ids."""
        ids = np.asarray(ids, dtype=np.int64)
        slots = self._slots(ids)
        self.x[slots], self.y[slots] = to_xy(lat, lon)
        self.seen[slots] = ts
        for column, values in (("soc", soc), ("seats", seats), ("status", status)):
            if values is not None:
                getattr(self, column)[slots] = values
        self._tree = None

    def set_status(self, ids, status: int) -> None:
        """Change the status of some vehicles (dispatched, back in service, out of service)."""
        self.status[self._slots(np.asarray(ids, dtype=np.int64))] = status
        self._tree = None

    def known(self, ids) -> np.ndarray:
        """Tell, for each vehicle id, whether the index has seen it."""
        ids = np.asarray(ids, dtype=np.int64)
        inside = ids < len(self._slot_of)
        seen = np.zeros(len(ids), dtype=bool)
        seen[inside] = self._slot_of[ids[inside]] >= 0
        return seen

    def slots_of(self, ids) -> np.ndarray:
        """Return the array slots of known vehicle ids."""
        return self._slot_of[np.asarray(ids, dtype=np.int64)]

    def positions(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """Return (lat, lon) of vehicle ids."""
        slots = self.slots_of(ids)
        return to_lat_lon(self.x[slots], self.y[slots])

    def dispatchable(self, now: float) -> np.ndarray:
        """Return the slots of vehicles that may take a ride now."""
        return np.flatnonzero((self.status == AVAILABLE) & (now - self.seen <= self.stale_after_s)
                              & (self.soc >= self.min_soc))

    def _tree_for(self, now: float) -> tuple[cKDTree | None, np.ndarray]:
        # Freshness depends on `now`, so a tree is reused only at the same moment.
        if self._tree is None or self._tree_at != now:
            slots = self.dispatchable(now)
            points = np.column_stack([self.x[slots], self.y[slots]])
            self._tree = cKDTree(points, balanced_tree=False, compact_nodes=False) if len(slots) else None
            # The tree answers a missing neighbour with index len(slots): it maps to id -1.
            self._tree_ids = np.append(self.ids[slots], -1)
            self._tree_slots, self._tree_at = slots, now
        return self._tree, self._tree_slots

    def nearest(self, lat, lon, *, k: int, radius_m: float, now: float, min_seats=1,
                min_soc=0.0) -> Neighbours:
        """Return the k nearest dispatchable vehicles within radius_m of each query point."""
        qx, qy = to_xy(np.atleast_1d(lat), np.atleast_1d(lon))
        n = len(qx)
        need_seats = np.broadcast_to(np.asarray(min_seats), (n,))
        need_soc = np.broadcast_to(np.asarray(min_soc, dtype=np.float64), (n,))
        found = Neighbours(np.full((n, k), -1, dtype=np.int64), np.full((n, k), np.inf))
        tree, slots = self._tree_for(now)
        if tree is None or k == 0:
            return found
        # Queries in spatial order walk the tree with far better cache locality.
        order = np.argsort(_cell_key(qx, qy), kind="stable")
        # A filter every dispatchable vehicle passes costs nothing: no over-fetch, no checks.
        filtered = (need_seats[order] > self.seats[slots].min()) | (need_soc[order] > self.soc[slots].min())
        plain = order[~filtered]
        if len(plain):
            cols = min(k, len(slots))
            d, j = tree.query(np.column_stack([qx[plain], qy[plain]]), k=cols,
                              distance_upper_bound=radius_m)
            found.ids[plain, :cols] = self._tree_ids[j.reshape(len(plain), cols)]
            found.distances[plain, :cols] = np.asarray(d).reshape(len(plain), cols)
        todo, fetch = order[filtered], k + _SPARE
        while len(todo):
            fetch = min(fetch, len(slots))
            d, j = tree.query(np.column_stack([qx[todo], qy[todo]]), k=fetch,
                              distance_upper_bound=radius_m)
            d, j = np.asarray(d).reshape(len(todo), fetch), j.reshape(len(todo), fetch)
            cand = slots[np.where(np.isfinite(d), j, 0)]
            ok = (np.isfinite(d) & (self.seats[cand] >= need_seats[todo, None])
                  & (self.soc[cand] >= need_soc[todo, None]))
            taken = self._fill(found, todo, d, j, slots, ok)
            # Filters may have starved a query whose fetch was full: look further for those.
            starved = (taken < k) & np.isfinite(d[:, -1]) & (fetch < len(slots))
            todo, fetch = todo[starved], fetch * 4
        return found

    def _fill(self, found: Neighbours, rows, d, j, slots, ok) -> np.ndarray:
        """Write the nearest passing candidates of some queries; return how many each got."""
        cols = min(found.ids.shape[1], d.shape[1])
        # Stable order keeps the nearest first among the candidates that pass.
        order = np.argsort(~ok, axis=1, kind="stable")[:, :cols]
        pick = np.arange(len(rows))[:, None], order
        keep = ok[pick]
        found.ids[rows, :cols] = np.where(keep, self.ids[slots[np.where(keep, j[pick], 0)]], -1)
        found.distances[rows, :cols] = np.where(keep, d[pick], np.inf)
        return keep.sum(axis=1)

    def within_box(self, south: float, west: float, north: float, east: float) -> np.ndarray:
        """Return the slots of vehicles inside a lat/lon box."""
        x0, y0 = to_xy(south, west)
        x1, y1 = to_xy(north, east)
        return np.flatnonzero((self.x >= x0) & (self.x <= x1) & (self.y >= y0) & (self.y <= y1))
