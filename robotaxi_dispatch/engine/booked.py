"""Rides booked ahead in dispatch: when one goes to the dispatcher, which vehicles may take it yet.

A booked ride is released when the nearest free vehicle, plus a margin for matching and traffic,
needs all the time left before its pickup; the matcher then keeps it from a vehicle that would
arrive more than `EARLY_S` before the pickup (the car would block a kerb, and a nearer one is
coming free meanwhile). The dispatcher and the simulation share these rules.
"""
from dataclasses import fields

import numpy as np

from robotaxi_dispatch.engine.matcher import Candidates

MARGIN_S = 300.0   # released this long before the nearest free vehicle would have to set off
EARLY_S = 300.0    # a vehicle may reach a booked pickup at most this long before its time
ON_TIME_S = 120.0  # a vehicle this late at a booked pickup still counts as on time
LEAD_WITHOUT_VEHICLE_S = 900.0  # no free vehicle near: released the dispatcher's pickup limit ahead
PREPOSITION_S = 1800.0  # booked pickups draw idle vehicles (rebalancing) this long before their time


def release_due(pickup_at, nearest_s, now: float) -> np.ndarray:
    """Tell which booked rides go to dispatch now (`nearest_s` NaN where no free vehicle is near)."""
    nearest = np.asarray(nearest_s, dtype=np.float64)
    lead = np.where(np.isnan(nearest), LEAD_WITHOUT_VEHICLE_S, nearest) + MARGIN_S
    return np.asarray(pickup_at, dtype=np.float64) - now <= lead


def not_too_early(edges: Candidates, pickup_at: np.ndarray, now: float) -> Candidates:
    """Drop the edges that would bring a vehicle to a booked pickup too early (`pickup_at` NaN: on demand)."""
    early = now + edges.pickup_s < pickup_at[edges.rows] - EARLY_S  # NaN compares False: kept
    return Candidates(*(getattr(edges, f.name)[~early] for f in fields(Candidates)))


def on_time_share(pickup_at: np.ndarray, arrived: np.ndarray) -> float | None:
    """Return the share of booked pickups a vehicle reached by their time (plus ON_TIME_S); None if none."""
    if not len(pickup_at):
        return None
    return float(np.mean(arrived <= pickup_at + ON_TIME_S))  # never reached (NaN): late
