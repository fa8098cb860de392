"""What occupies a resource over a window: live bookings and outages. One query each, any number of resources."""
from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from booking.bookings.models import Booking, BookingStatus, Outage


def occupies(now: datetime):
    """Return the condition for a booking that holds capacity now (lapsed holds do not)."""
    return and_(Booking.active,
                or_(Booking.status != BookingStatus.held, Booking.hold_expires_at > now))


def usage(session: Session, *, resource_ids: list[int], start: datetime, end: datetime,
          now: datetime, exclude: int | None = None) -> dict[int, list[tuple[datetime, datetime, int]]]:
    """Return (start, blocked_until, quantity) of every live booking overlapping the window, per resource."""
    if not resource_ids:
        return {}
    query = (select(Booking.resource_id, Booking.start_at, Booking.blocked_until, Booking.quantity)
             .where(Booking.resource_id.in_(resource_ids), occupies(now),
                    Booking.start_at < end, Booking.blocked_until > start))
    if exclude is not None:
        query = query.where(Booking.id != exclude)
    rows = session.exec(query).all()
    found = defaultdict(list)
    for resource_id, begins, ends, quantity in rows:
        found[resource_id].append((begins, ends, quantity))
    return found


def outages(session: Session, *, resource_ids: list[int], start: datetime,
            end: datetime) -> dict[int, list[tuple[datetime, datetime]]]:
    """Return the outage windows overlapping the window, per resource."""
    if not resource_ids:
        return {}
    rows = session.exec(select(Outage.resource_id, Outage.start_at, Outage.end_at)
                        .where(Outage.resource_id.in_(resource_ids), Outage.start_at < end,
                               Outage.end_at > start)).all()
    found = defaultdict(list)
    for resource_id, begins, ends in rows:
        found[resource_id].append((begins, ends))
    return found


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


def release_lapsed_holds(session: Session, *, now: datetime, resource_id: int | None = None) -> int:
    """Mark holds past their expiry as expired so they stop holding capacity; return how many."""
    statement = (update(Booking)
                 .where(Booking.status == BookingStatus.held, Booking.hold_expires_at <= now)
                 .values(status=BookingStatus.expired, active=False, updated_at=now))
    if resource_id is not None:
        statement = statement.where(Booking.resource_id == resource_id)
    return session.exec(statement).rowcount
