"""Pickup and trip times in a hilly city cut by two rivers.

Road distance is the straight line times a detour factor, except that a trip whose straight
line crosses the Yangtze or the Jialing goes over the best real bridge of that river. Speed
depends on the hour. `EtaModel` is the interface a road-graph router would implement.
"""
from typing import Protocol, cast

import numpy as np

from backend.geography import BRIDGES, RIVERS
from robotaxi_dispatch.engine.chongqing import to_xy

DETOUR = 1.35  # Chongqing's grid winds round hills: roads run ~35% longer than the crow flies
# Mean speed (m/s) by local hour: morning and evening peaks are slowest.
SPEED_BY_HOUR = np.array([11, 11, 11, 11, 11, 10, 8, 6, 5, 6, 7, 7, 7, 7, 7, 7, 6, 5, 5, 6, 7,
                          8, 9, 10], dtype=np.float64)


class EtaModel(Protocol):
    def road_distance(self, ax, ay, bx, by) -> np.ndarray: ...

    def seconds(self, ax, ay, bx, by, *, hour: int) -> np.ndarray: ...

    def route(self, ax, ay, bx, by, *, hour: int) -> tuple[np.ndarray, np.ndarray]: ...


def _segments(line) -> np.ndarray:
    """Return a polyline's segments as rows (x0, y0, x1, y1) in metres."""
    x, y = to_xy([lat for _, lat in line], [lon for lon, _ in line])
    return np.column_stack([x[:-1], y[:-1], x[1:], y[1:]])


def _crosses(ax, ay, bx, by, segments: np.ndarray) -> np.ndarray:
    """Tell, per pair, whether the straight line a-b crosses the polyline an odd number of times."""
    ax, ay, bx, by = (np.asarray(v, dtype=np.float64)[:, None] for v in (ax, ay, bx, by))
    px, py, qx, qy = segments.T
    # Cross products written as one product per pair and segment plus a per-row or per-column
    # constant: the same test as "p and q on either side of a-b, a and b on either side of p-q",
    # with fewer passes over the pairs x segments arrays.
    dx, dy, ex, ey = bx - ax, by - ay, qx - px, qy - py
    c, k = dx * ay - dy * ax, ex * py - ey * px
    hits = (((dx * py - dy * px - c) * (dx * qy - dy * qx - c) < 0)
            & ((ex * ay - ey * ax - k) * (ex * by - ey * bx - k) < 0))
    return hits.sum(axis=1) % 2 == 1


class BridgeAwareEta:
    """Detour-factor distances that cross rivers only on bridges, and hour-dependent speeds."""

    def __init__(self):
        self._rivers = [(_segments(line), np.column_stack(to_xy(
            [lat for _, _, lat in BRIDGES[name]], [lon for _, lon, _ in BRIDGES[name]])))
            for name, (_, line) in RIVERS.items()]

    def road_distance(self, ax, ay, bx, by) -> np.ndarray:
        """Return road metres from a to b (arrays of projected coordinates)."""
        ax, ay, bx, by = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (ax, ay, bx, by))
        metres = np.hypot(bx - ax, by - ay)
        for segments, bridges in self._rivers:
            crossing = np.flatnonzero(_crosses(ax, ay, bx, by, segments))
            if len(crossing):
                via = (np.hypot(bridges[:, 0] - ax[crossing, None], bridges[:, 1] - ay[crossing, None])
                       + np.hypot(bx[crossing, None] - bridges[:, 0], by[crossing, None] - bridges[:, 1]))
                metres[crossing] = np.maximum(metres[crossing], via.min(axis=1))
        return metres * DETOUR

    def crossings(self, ax, ay, bx, by) -> np.ndarray:
        """Return how many rivers the trip from a to b crosses (each on a bridge)."""
        ax, ay, bx, by = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (ax, ay, bx, by))
        crossings = sum(_crosses(ax, ay, bx, by, segments).astype(np.int64) for segments, _ in self._rivers)
        return cast(np.ndarray, crossings)  # a sum of arrays (there are rivers), never the 0 it starts from

    def seconds(self, ax, ay, bx, by, *, hour: int) -> np.ndarray:
        """Return driving seconds from a to b at a local hour."""
        return self.route(ax, ay, bx, by, hour=hour)[1]

    def route(self, ax, ay, bx, by, *, hour: int) -> tuple[np.ndarray, np.ndarray]:
        """Return road metres and driving seconds from a to b at a local hour, working out the route once."""
        metres = self.road_distance(ax, ay, bx, by)
        return metres, metres / SPEED_BY_HOUR[hour % 24]
