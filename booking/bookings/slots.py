"""What occupies a resource over a window: live bookings and outages, in one query for any number of resources."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import BindParameter, Integer, and_, bindparam, case, literal, null, or_, select, union_all, update
from sqlmodel import Session

from backend.dbtypes import UTCDateTime
from booking.bookings.models import Booking, BookingStatus, Outage


def occupies(now: datetime | BindParameter):
    """Return the condition for a booking that holds capacity now (lapsed holds do not)."""
    return and_(Booking.active,
                or_(Booking.status != BookingStatus.held, Booking.hold_expires_at > now))


@dataclass
class Occupancy:
    """What occupies one resource over a window."""
    bookings: list[tuple[datetime, datetime, int]] = field(default_factory=list)  # start, blocked until, places
    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    # A lapsed hold not yet released overlaps the window: it takes no capacity, yet still holds
    # its place under PostgreSQL's exclusion constraint.
    lapsed: bool = False
    lapses_at: datetime | None = None  # when the first hold counted here lapses: what it takes frees itself


def occupancy(session: Session, *, resource_ids: list[int], start: datetime, end: datetime,
              now: datetime, exclude: int | None = None) -> dict[int, Occupancy]:
    """Return the live bookings and outages overlapping the window, per resource, in one query.

    Lapsed holds still marked active are not counted, only noted (`Occupancy.lapsed`).
    """
    if not resource_ids:
        return {}
    params = {"resource_ids": resource_ids, "start": start, "end": end, "now": now, "exclude": exclude}
    rows = session.exec(_occupancy_statement(exclude is not None), params=params)
    found: defaultdict[int, Occupancy] = defaultdict(Occupancy)
    for resource_id, begins, ends, quantity, occupying, hold_ends in rows:
        used = found[resource_id]
        if not occupying:
            used.lapsed = True
        elif quantity:
            used.bookings.append((begins, ends, quantity))
            if hold_ends is not None and (used.lapses_at is None or hold_ends < used.lapses_at):
                used.lapses_at = hold_ends
        else:
            used.outages.append((begins, ends))
    return found


@lru_cache
def _occupancy_statement(excluding: bool):
    """Build, once with and once without a booking left out, the query of what occupies resources over a window.

    Every value is a bound parameter: building the statement and its cache key anew cost a
    tenth of a nearby search.
    """
    resource_ids = bindparam("resource_ids", type_=Integer, expanding=True)
    start, end = bindparam("start", type_=UTCDateTime), bindparam("end", type_=UTCDateTime)
    hold_ends = case((Booking.status == BookingStatus.held, Booking.hold_expires_at))
    booked = (select(Booking.resource_id, Booking.start_at, Booking.blocked_until, Booking.quantity,
                     occupies(bindparam("now")), hold_ends)
              .where(Booking.resource_id.in_(resource_ids), Booking.active,
                     Booking.start_at < end, Booking.blocked_until > start))
    if excluding:
        booked = booked.where(Booking.id != bindparam("exclude"))
    # An outage row carries no places: quantity 0 tells it from a booking.
    down = (select(Outage.resource_id, Outage.start_at, Outage.end_at, literal(0), literal(True),
                   null().cast(UTCDateTime))
            .where(Outage.resource_id.in_(resource_ids), Outage.start_at < end, Outage.end_at > start))
    return union_all(booked, down)


def peak_usage(bookings: list[tuple[datetime, datetime, int]], start: datetime, end: datetime) -> int:
    """Return the most places taken at any moment of [start, end)."""
    changes = []
    for begins, ends, quantity in bookings:
        if begins < end and ends > start:
            changes += [(max(begins, start), quantity), (min(ends, end), -quantity)]
    peak = taken = 0
    # Releases sort before takes at the same instant: back-to-back bookings do not overlap.
    for _, delta in sorted(changes, key=lambda change: (change[0], change[1])):
        taken += delta
        peak = max(peak, taken)
    return peak


def overlaps_outage(windows: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    """Tell whether [start, end) touches any outage window."""
    return any(begins < end and ends > start for begins, ends in windows)


def release_lapsed_holds(session: Session, *, now: datetime, resource_id: int | None = None,
                         user_id: int | None = None) -> int:
    """Mark holds past their expiry as expired so they stop holding capacity; return how many."""
    statement = (update(Booking)
                 .where(Booking.status == BookingStatus.held, Booking.hold_expires_at <= now)
                 .values(status=BookingStatus.expired, active=False, updated_at=now))
    if resource_id is not None:
        statement = statement.where(Booking.resource_id == resource_id)
    if user_id is not None:
        statement = statement.where(Booking.user_id == user_id)
    return session.exec(statement).rowcount
