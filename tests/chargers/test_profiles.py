"""The ordered-charging planner: cheapest periods first, before the deadline, never above the cap."""
from datetime import datetime, timedelta

from booking.bookings import pricing
from booking.bookings.rules import CITY_TZ
from booking.chargers.profiles import STEP, FleetNeed, schedules

AFTERNOON = datetime(2026, 11, 26, 14, 5, tzinfo=CITY_TZ)
NEXT_MORNING = datetime(2026, 11, 27, 7, 0, tzinfo=CITY_TZ)


def limit_at(periods, moment) -> float:
    """Return the limit a schedule sets at a moment (0 before its first period)."""
    return ([p.limit_w for p in periods if p.start <= moment] or [0.0])[-1]


def energy_wh(periods, until) -> float:
    """Return the energy a session draws at its limits from the schedule's start until a moment."""
    edges = [p.start for p in periods if p.start < until] + [until]
    return sum(limit_at(periods, a) * (b - a).total_seconds() / 3600 for a, b in zip(edges, edges[1:]))


def instants(plans, now, until):
    """Every minute from now until a moment, and every period start."""
    minutes = [now + timedelta(minutes=m) for m in range(int((until - now).total_seconds() // 60))]
    return sorted({*minutes, *(p.start for periods in plans.values() for p in periods)})


def test_fleet_sessions_share_what_citizens_leave_of_the_cap_at_every_instant():
    needs = [FleetNeed(1, 150_000, 120_000, NEXT_MORNING), FleetNeed(2, 150_000, 120_000, NEXT_MORNING),
             FleetNeed(3, 30_000, 120_000, AFTERNOON + timedelta(hours=1))]
    plans = schedules(cap_w=200_000, citizens_w=120_000, needs=needs, now=AFTERNOON)
    for moment in instants(plans, AFTERNOON, NEXT_MORNING):
        assert sum(limit_at(periods, moment) for periods in plans.values()) <= 80_000
    assert all(limit_at(periods, NEXT_MORNING) == 0 for periods in plans.values())


def test_energy_goes_into_valley_hours_when_the_vehicle_is_needed_only_in_the_morning():
    plans = schedules(cap_w=None, citizens_w=0, needs=[FleetNeed(7, 60_000, 120_000, NEXT_MORNING)],
                      now=AFTERNOON)
    periods = plans[7]
    assert {pricing.period_at(p.start) for p in periods if p.limit_w > 0} == {"valley"}
    assert energy_wh(periods, NEXT_MORNING) >= 60_000


def test_a_vehicle_needed_soon_charges_now_in_the_cheapest_hours_it_has():
    soon = AFTERNOON + timedelta(hours=4)  # 14:05-18:05: peak until 17:00, then flat
    periods = schedules(cap_w=None, citizens_w=0, needs=[FleetNeed(1, 60_000, 120_000, soon)], now=AFTERNOON)[1]
    assert energy_wh(periods, soon) >= 60_000
    assert limit_at(periods, AFTERNOON) == 0  # peak waits while flat hours can carry the charge
    assert limit_at(periods, datetime(2026, 11, 26, 17, 0, tzinfo=CITY_TZ)) == 120_000


def test_the_earliest_needed_vehicle_is_served_first_when_the_cap_cannot_carry_both():
    soon = AFTERNOON + timedelta(hours=1)
    plans = schedules(cap_w=100_000, citizens_w=0, now=AFTERNOON,
                      needs=[FleetNeed(1, 100_000, 120_000, soon), FleetNeed(2, 100_000, 120_000, soon + STEP)])
    assert energy_wh(plans[1], soon) >= 90_000  # the cap allows 100 kWh over the hour; all of it is hers
    assert limit_at(plans[2], AFTERNOON) == 0


def test_fleet_sessions_stop_when_citizens_at_full_power_use_the_whole_cap():
    plans = schedules(cap_w=200_000, citizens_w=240_000, now=AFTERNOON,
                      needs=[FleetNeed(1, 50_000, 120_000, NEXT_MORNING)])
    assert [p.limit_w for p in plans[1]] == [0.0]


def test_a_vehicle_already_due_charges_at_once():
    periods = schedules(cap_w=None, citizens_w=0, now=AFTERNOON,
                        needs=[FleetNeed(1, 10_000, 120_000, AFTERNOON - timedelta(minutes=5))])[1]
    assert periods[0].start == AFTERNOON and periods[0].limit_w > 0
