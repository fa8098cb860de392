"""Dispatch quality as FleetPy and MATSim DRT report it, over a measured window.

Only requests made inside the window count (warm-up before it and the cool-down after it are
simulated but not measured); distance and fleet time count when they fall inside it.
- served_share: requests picked up / requests made.
- waits (mean, median, p95): pickup time minus request time, over the served.
- in_vehicle_vs_direct: total time riders sat in cars / total direct trip time the dispatcher
  quoted (no pooling here, so above 1 only by congestion the estimate missed).
- empty_km_share: km without a rider (to pickups, rebalancing, to chargers) / all km.
- utilisation: fleet time spent fetching or carrying riders / fleet time.
- rides_per_vehicle_hour: served requests / vehicle hours.
- load: the time the fleet really needs to carry the requests / fleet time: each request's direct
  trip in the simulation's true travel time at its request hour, as a mean over the per-drive
  noise (so a property of the demand, the same for every policy, served or not).
- load_quoted: the same with the trip time the dispatcher quoted (its ETA table, which
  underestimates peak traffic and bridge queues: about 1.23 times less at the 8:00 peak).
- eta_error_mean_s, eta_error_p95_s: real minus promised pickup time at the last assignment:
  the mean (bias, positive = late) and the 95th percentile of its size.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class RideTimes:
    """Seconds of each request's life; NaN where it never got there."""
    requested: np.ndarray
    assigned: np.ndarray
    picked_up: np.ndarray
    dropped_off: np.ndarray
    direct_s: np.ndarray      # trip time the dispatcher quoted
    true_direct_s: np.ndarray  # mean true trip time (the simulation's travel time, noise averaged out)
    pickup_eta_s: np.ndarray  # pickup time it promised at the last assignment


@dataclass
class FleetUse:
    """Fleet time and distance inside the window."""
    fleet_s: float
    busy_s: float             # fetching or carrying riders
    km: dict                  # by kind of leg: pickup, trip, rebalancing, charging


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else float("nan")


def _stats(values: np.ndarray, prefix: str) -> dict:
    if not len(values):
        return {f"mean_{prefix}": None, f"median_{prefix}": None, f"p95_{prefix}": None}
    return {f"mean_{prefix}": float(values.mean()), f"median_{prefix}": float(np.median(values)),
            f"p95_{prefix}": float(np.percentile(values, 95))}


def summary(rides: RideTimes, use: FleetUse, window: tuple[float, float]) -> dict:
    """Return the standard figures of requests made in [start, end) and the fleet's use."""
    inside = (rides.requested >= window[0]) & (rides.requested < window[1])
    served = inside & np.isfinite(rides.picked_up)
    done = served & np.isfinite(rides.dropped_off)
    waits = rides.picked_up[served] - rides.requested[served]
    eta_error = (rides.picked_up - rides.assigned - rides.pickup_eta_s)[served]
    km = sum(use.km.values())
    return {"requests": int(inside.sum()), "served_share": _share(served.sum(), inside.sum()),
            **_stats(waits, "wait_s"),
            "in_vehicle_vs_direct": _share((rides.dropped_off - rides.picked_up)[done].sum(),
                                           rides.direct_s[done].sum()),
            "empty_km_share": _share(km - use.km["trip"], km), "rebalancing_km": use.km["rebalancing"],
            "total_km": km, "utilisation": _share(use.busy_s, use.fleet_s),
            "rides_per_vehicle_hour": _share(served.sum(), use.fleet_s / 3600),
            "load": _share(rides.true_direct_s[inside].sum(), use.fleet_s),
            "load_quoted": _share(rides.direct_s[inside].sum(), use.fleet_s),
            "eta_error_mean_s": float(eta_error.mean()) if len(eta_error) else None,
            "eta_error_p95_s": float(np.percentile(np.abs(eta_error), 95)) if len(eta_error) else None}
