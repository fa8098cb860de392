"""When a resource of each kind may be booked: slot grid, lead times, opening hours, cancellation."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import overload
from zoneinfo import ZoneInfo

from backend.exceptions import Invalid
from backend.i18n import Span
from booking.sites.models import WEEKDAYS, ResourceKind

CITY_TZ = ZoneInfo("Asia/Shanghai")
HOLD_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class KindRule:
    slot_minutes: int          # length of one slot
    buffer_minutes: int        # turnaround after each slot, blocked but not sold
    max_slots: int             # how many consecutive slots one booking may take
    min_notice: timedelta      # earliest start from now
    max_ahead: timedelta       # latest start from now
    free_cancel_before: timedelta  # cancelling later than this before start costs a fee
    late_cancel_fee_pct: int   # of the price, when cancelling after the cut-off
    no_show_fee_pct: int       # of the price, when never checked in

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes + self.buffer_minutes)


RULES = {
    ResourceKind.charger: KindRule(30, 0, 4, timedelta(minutes=5), timedelta(days=7),
                                   timedelta(minutes=30), 20, 30),
    ResourceKind.swap_lane: KindRule(10, 0, 1, timedelta(minutes=5), timedelta(days=3),
                                     timedelta(minutes=15), 10, 20),
    ResourceKind.h2_dispenser: KindRule(15, 0, 1, timedelta(minutes=10), timedelta(days=7),
                                        timedelta(minutes=30), 10, 20),
    ResourceKind.test_drive_car: KindRule(45, 15, 1, timedelta(hours=2), timedelta(days=30),
                                          timedelta(hours=2), 0, 0),
    ResourceKind.track_session: KindRule(60, 0, 1, timedelta(hours=24), timedelta(days=60),
                                         timedelta(hours=48), 50, 100),
    ResourceKind.parking_bay: KindRule(60, 0, 24, timedelta(minutes=15), timedelta(days=14),
                                       timedelta(hours=1), 50, 100),
}


@overload
def city_time(moment: datetime) -> datetime: ...
@overload
def city_time(moment: None) -> None: ...
def city_time(moment: datetime | None) -> datetime | None:
    """Return a UTC moment in Asia/Shanghai, as the app shows it."""
    return moment and moment.astimezone(CITY_TZ)


def rule_for(kind: str) -> KindRule:
    """Return the booking rule of a resource kind."""
    return RULES[ResourceKind(kind)]


def blocked_until(kind: str, end: datetime) -> datetime:
    """Return when a booking ending at `end` frees its resource (after the turnaround)."""
    return end + timedelta(minutes=rule_for(kind).buffer_minutes)


def _minutes_of_day(moment: datetime) -> int:
    local = moment.astimezone(CITY_TZ)
    return local.hour * 60 + local.minute


def within_opening_hours(opening_hours: dict, start: datetime, end: datetime) -> bool:
    """Tell whether [start, end) fits inside one opening span of the start's local day."""
    local_start = start.astimezone(CITY_TZ)
    if end.astimezone(CITY_TZ).date() != local_start.date() and _minutes_of_day(end) != 0:
        return False
    day = WEEKDAYS[local_start.weekday()]
    begin = _minutes_of_day(start)
    finish = _minutes_of_day(end) or 24 * 60
    for open_at, close_at in opening_hours.get(day, []):
        if _hhmm(open_at) <= begin and finish <= _hhmm(close_at):
            return True
    return False


def _hhmm(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def check_window(*, kind: str, opening_hours: dict, start: datetime, end: datetime,
                 now: datetime) -> None:
    """Refuse a booking window that breaks the kind's rules, with a stable code for each rule."""
    rule = rule_for(kind)
    if end <= start:
        raise Invalid("end_before_start", "The booking must end after it starts.")
    if start.second or start.microsecond or _minutes_of_day(start) % (rule.step.seconds // 60):
        raise Invalid("slot_not_on_grid",
                       "Starts must fall on the {minutes}-minute grid.",
                       params={"minutes": rule.step.seconds // 60})
    length = (end - start).total_seconds() / 60
    if length % rule.slot_minutes or not 1 <= length // rule.slot_minutes <= rule.max_slots:
        raise Invalid("invalid_duration",
                       "Book 1 to {slots} slot(s) of {minutes} minutes.",
                       params={"slots": rule.max_slots, "minutes": rule.slot_minutes})
    if start < now:
        raise Invalid("in_the_past", "The slot has already started.")
    if start < now + rule.min_notice:
        raise Invalid("too_short_notice", "Book at least {notice} ahead.", params={"notice": Span(rule.min_notice)})
    if start > now + rule.max_ahead:
        raise Invalid("beyond_booking_window", "Book at most {days} days ahead.",
                       params={"days": rule.max_ahead.days})
    if not within_opening_hours(opening_hours, start, end):
        raise Invalid("outside_opening_hours", "The site is closed for part of this slot.")
