"""How long drives really take in the simulation, which the dispatcher only estimates.

The dispatcher's ETA model (`eta.BridgeAwareEta`) uses one speed per hour. The "true" time
takes the same road length but congestion the table does not know: peaks are slower than it
assumes and nights a little faster, each bridge crossed adds a queue at its approaches (worst
in the peaks: the bridges are the only ways over the rivers), and every drive varies (lognormal
noise). The difference is what the simulation reports as ETA error. `expected` is a drive's mean
true time (noise averaged out): what the fleet really needs for a trip, the measure of load.
"""
from dataclasses import dataclass

import numpy as np

from robotaxi_dispatch.engine.eta import SPEED_BY_HOUR, BridgeAwareEta

# True speed as a share of the ETA model's, by local hour.
SPEED_SHARE = np.array([1.1, 1.1, 1.1, 1.1, 1.1, 1.05, 0.95, 0.85, 0.82, 0.9, 1.0, 1.0, 0.95,
                        1.0, 1.0, 0.95, 0.9, 0.82, 0.82, 0.9, 1.0, 1.05, 1.1, 1.1])
# Seconds of queueing per bridge crossed, by local hour.
BRIDGE_QUEUE_S = np.array([0, 0, 0, 0, 0, 10, 60, 150, 180, 90, 40, 40, 50, 40, 40, 60, 100, 180,
                           180, 90, 50, 30, 10, 0], dtype=np.float64)


@dataclass
class Drive:
    """Drives as they happen: road metres, real seconds, and the seconds the dispatcher expects."""
    metres: np.ndarray
    seconds: np.ndarray
    expected_s: np.ndarray


@dataclass(frozen=True)
class TrueTravel:
    """Draws real driving times; `sigma` is the spread of one drive around its mean."""
    eta: BridgeAwareEta
    sigma: float = 0.2

    def _parts(self, ax, ay, bx, by, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return road metres, the dispatcher's estimate, true seconds moving (before noise) and queueing."""
        h = hour % 24
        metres, estimate = self.eta.route(ax, ay, bx, by, hour=h)
        queue = self.eta.crossings(ax, ay, bx, by) * BRIDGE_QUEUE_S[h]
        return metres, estimate, metres / (SPEED_BY_HOUR[h] * SPEED_SHARE[h]), queue

    def drive(self, ax, ay, bx, by, *, hour: int, rng: np.random.Generator) -> Drive:
        """Return drives from a to b starting at a local hour."""
        metres, estimate, moving, queue = self._parts(ax, ay, bx, by, hour)
        return Drive(metres, moving * rng.lognormal(0.0, self.sigma, len(metres)) + queue, estimate)

    def expected(self, ax, ay, bx, by, *, hour: int) -> np.ndarray:
        """Return the mean true seconds of drives from a to b at a local hour (the noise's mean is exp(sigma^2 / 2))."""
        _, _, moving, queue = self._parts(ax, ay, bx, by, hour)
        return moving * np.exp(self.sigma ** 2 / 2) + queue
