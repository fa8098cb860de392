"""Site operators' view of their resources: the bookings on them, their outages, utilisation per day."""
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlmodel import Session, SQLModel, select

from backend.accounts.models import User
from backend.accounts.tokens import Principal
from backend.exceptions import Invalid, NotFound
from backend.i18n import pick
from backend.keyset import beyond
from booking.bookings.models import Booking, BookingStatus, Outage
from booking.bookings.rules import CITY_TZ, city_time
from booking.sites.models import WEEKDAYS, Resource
from booking.sites.services import managed_site

MAX_DAYS = 31
# Bookings that took the resource's time: paid and used, paid and missed, or paid and live.
USED = (BookingStatus.confirmed, BookingStatus.checked_in, BookingStatus.completed, BookingStatus.no_show)


class SiteBooking(SQLModel):
    """A booking as the site sees it: the customer's first name and nothing else about them."""

    id: int
    resource_id: int
    resource_name: str
    status: BookingStatus
    start: datetime
    end: datetime
    quantity: int
    first_name: str
    disrupted: bool


class OutageView(SQLModel):
    """An outage of a resource."""

    id: int
    resource_id: int
    start: datetime
    end: datetime
    reason: str
    created_at: datetime


class ResourceDay(SQLModel):
    """One resource's use on one local day."""

    resource_id: int
    resource_name: str
    day: date
    open_minutes: int
    booked_minutes: int = 0
    utilisation: float = 0.0


def first_name(full_name: str) -> str:
    """Return the name a site may call a customer by: a given name, never the family name.

    Latin names give their first word; Chinese names (family name first, one character in most
    cases) give what follows the family name.
    """
    name = full_name.strip()
    if " " in name:
        return name.split()[0]
    return name[1:] if len(name) > 1 and not name.isascii() else name


def outage_view(outage: Outage) -> OutageView:
    return OutageView(id=outage.id, resource_id=outage.resource_id, start=city_time(outage.start_at),
                      end=city_time(outage.end_at), reason=outage.reason, created_at=city_time(outage.created_at))


def managed_resource(session: Session, *, principal: Principal, site_id: int, resource_id: int) -> Resource:
    """Return a resource of a site the caller manages; 404 for one of another site."""
    managed_site(session, site_id=site_id, principal=principal)
    resource = session.get(Resource, resource_id)
    if resource is None or resource.site_id != site_id:
        raise NotFound("resource_not_found", "No such resource at this site.")
    return resource


def resource_outages(session: Session, *, resource: Resource) -> list[Outage]:
    """Return a resource's outages, latest start first."""
    return list(session.exec(select(Outage).where(Outage.resource_id == resource.id)
                             .order_by(Outage.start_at.desc(), Outage.id.desc())).all())


def _check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise Invalid("end_before_start", "`to` must be after `from`.")
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid("window_too_long", "Ask for at most {days} days at a time.", params={"days": MAX_DAYS})


def site_bookings(session: Session, *, principal: Principal, site_id: int, start: datetime, end: datetime,
                  cursor: tuple | None, limit: int, language: str) -> list[SiteBooking]:
    """Return the bookings on a managed site starting in the window, by start, after the cursor."""
    managed_site(session, site_id=site_id, principal=principal)
    _check_window(start, end)
    query = (select(Booking, Resource, User.name).join(Resource, Resource.id == Booking.resource_id)
             .join(User, User.id == Booking.user_id)
             .where(Booking.site_id == site_id, Booking.start_at >= start, Booking.start_at < end))
    if cursor is not None:
        query = query.where(beyond([Booking.start_at, Booking.id], cursor, descending=False))
    rows = session.exec(query.order_by(Booking.start_at, Booking.id).limit(limit)).all()
    return [SiteBooking(id=b.id, resource_id=r.id, resource_name=pick(r.name_zh, r.name_en, language), status=b.status,
                        start=city_time(b.start_at), end=city_time(b.end_at), quantity=b.quantity,
                        first_name=first_name(name), disrupted=b.disrupted)
            for b, r, name in rows]


def _open_minutes(opening_hours: dict, day: date) -> int:
    spans = opening_hours.get(WEEKDAYS[day.weekday()], [])
    return sum(_minutes(close) - _minutes(open_) for open_, close in spans)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _local_days(start: datetime, end: datetime) -> list[date]:
    first, last = start.astimezone(CITY_TZ).date(), (end - timedelta(microseconds=1)).astimezone(CITY_TZ).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _booked_minutes_per_day(bookings) -> dict[tuple[int, date], float]:
    """Split each booking's place-minutes over the local days it spans."""
    booked: defaultdict[tuple[int, date], float] = defaultdict(float)
    for resource_id, begins, ends, quantity in bookings:
        moment = begins.astimezone(CITY_TZ)
        while moment < ends:
            midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            piece_end = min(midnight, ends.astimezone(CITY_TZ))
            booked[(resource_id, moment.date())] += (piece_end - moment).total_seconds() / 60 * quantity
            moment = piece_end
    return booked


def utilisation(session: Session, *, principal: Principal, site_id: int, start: datetime,
                end: datetime, language: str) -> list[ResourceDay]:
    """Return, per resource and local day, the place-minutes booked against those the site was open."""
    site = managed_site(session, site_id=site_id, principal=principal)
    _check_window(start, end)
    days = _local_days(start, end)
    window_start = datetime.combine(days[0], datetime.min.time(), CITY_TZ)
    window_end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), CITY_TZ)
    resources = session.exec(select(Resource).where(Resource.site_id == site.id).order_by(Resource.id)).all()
    booked = _booked_minutes_per_day(session.exec(
        select(Booking.resource_id, Booking.start_at, Booking.end_at, Booking.quantity)
        .where(Booking.site_id == site.id, Booking.status.in_(USED),
               Booking.start_at < window_end, Booking.end_at > window_start)).all())
    answer = []
    for resource in resources:
        for day in days:
            row = ResourceDay(resource_id=resource.id, resource_name=pick(resource.name_zh, resource.name_en, language),
                              day=day, open_minutes=_open_minutes(site.opening_hours, day) * resource.capacity)
            row.booked_minutes = round(booked.get((resource.id, day), 0))
            row.utilisation = round(row.booked_minutes / row.open_minutes, 4) if row.open_minutes else 0.0
            answer.append(row)
    return answer
