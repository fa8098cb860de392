"""Ordered charging (有序充电): power limits for fleet sessions under a site's power cap.

Citizens charge at their connector's full power; what the cap leaves is shared among the fleet
sessions, the earliest-needed vehicle first, each filling the cheapest time-of-use periods
before it is needed again. When citizens alone use the cap up, fleet sessions get nothing.
"""
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from booking.bookings import pricing

# Schedules change on quarter hours (time-of-use periods begin on the hour).
STEP = timedelta(minutes=15)


@dataclass(frozen=True)
class FleetNeed:
    """A fleet session to plan: energy still wanted, its connector's power, when the vehicle is needed."""
    session_id: int
    wanted_wh: float
    max_w: float
    needed_by: datetime


@dataclass(frozen=True)
class Period:
    """From `start` on, the session may draw at most `limit_w`."""
    start: datetime
    limit_w: float


def _edges(now: datetime, needs: list[FleetNeed]) -> list[datetime]:
    """Return now, the quarter hours until the last deadline, and every deadline, in order."""
    horizon = max(need.needed_by for need in needs)
    quarter = STEP.total_seconds()
    first = datetime.fromtimestamp(math.floor(now.timestamp() / quarter) * quarter + quarter, now.tzinfo)
    edges = {now, horizon, *(n.needed_by for n in needs)}
    moment = first
    while moment < horizon:
        edges.add(moment)
        moment += STEP
    return sorted(edges)


def _merged(steps: list[tuple[datetime, datetime]], limits: list[float]) -> list[Period]:
    """Return the limits as periods, a new period only where the limit changes, ending at 0."""
    periods: list[Period] = []
    for (start, _), limit in [*zip(steps, limits), ((steps[-1][1], None), 0.0)]:
        if not periods or periods[-1].limit_w != limit:
            periods.append(Period(start, limit))
    return periods


def schedules(*, cap_w: float | None, citizens_w: float, needs: list[FleetNeed],
              now: datetime) -> dict[int, list[Period]]:
    """Return each fleet session's power limits: cheapest periods first, never above the cap."""
    if not needs:
        return {}
    # A vehicle already due is served now, as fast as the cap allows.
    needs = [FleetNeed(n.session_id, n.wanted_wh, n.max_w, max(n.needed_by, now + STEP)) for n in needs]
    edges = _edges(now, needs)
    steps = list(zip(edges, edges[1:]))
    headroom = math.inf if cap_w is None else max(0.0, cap_w - citizens_w)
    free = [headroom] * len(steps)
    plans = {}
    for need in sorted(needs, key=lambda n: (n.needed_by, n.session_id)):
        limits, left = [0.0] * len(steps), need.wanted_wh
        usable = [i for i, (_, end) in enumerate(steps) if end <= need.needed_by]
        for i in sorted(usable, key=lambda i: (pricing.TOU_PRICES[pricing.period_at(steps[i][0])], i)):
            if left <= 0:
                break
            hours = (steps[i][1] - steps[i][0]).total_seconds() / 3600
            # Whole watts (1.6 takes steps of 0.1): never above the room left, never short of the need.
            limits[i] = min(math.floor(min(need.max_w, free[i])), math.ceil(left / hours))
            free[i] -= limits[i]
            left -= limits[i] * hours
        plans[need.session_id] = _merged(steps, limits)
    return plans
