"""Outages: site operators take a resource out of service; bookings hit are disrupted and may move."""
from datetime import datetime

from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.errors import ApiError
from booking.bookings import services
from booking.bookings.models import Booking, BookingStatus, Outage, OutageCreate, Rebook
from booking.bookings.slots import occupies
from booking.sites.models import Resource
from booking.sites.services import managed_site


def add_outage(session: Session, *, principal: Principal, site_id: int, resource_id: int,
               data: OutageCreate) -> tuple[Outage, list[int]]:
    """Record an outage and mark every live booking it touches as disrupted."""
    if data.end <= data.start:
        raise ApiError(422, "end_before_start", "The outage must end after it starts.")
    with write_transaction(session):
        site = managed_site(session, site_id=site_id, principal=principal)
        resource = session.get(Resource, resource_id)
        if resource is None or resource.site_id != site.id:
            raise ApiError(404, "resource_not_found", "No such resource at this site.")
        outage = Outage(resource_id=resource.id, start_at=data.start, end_at=data.end,
                        reason=data.reason)
        session.add(outage)
        hit = session.exec(select(Booking).where(
            Booking.resource_id == resource.id, occupies(utcnow()),
            Booking.start_at < data.end, Booking.blocked_until > data.start)).all()
        for booking in hit:
            booking.disrupted = True
        session.flush()
        disrupted = [b.id for b in hit]
    return outage, disrupted


def rebook(session: Session, *, booking_id: int, user_id: int, data: Rebook,
           now: datetime | None = None) -> Booking:
    """Move a disrupted booking to another free slot at the same site, at no charge."""
    now = now or utcnow()
    with write_transaction(session):
        booking = services.own_booking(session, booking_id=booking_id, user_id=user_id, lock=True)
        if not booking.disrupted or booking.status not in (BookingStatus.held, BookingStatus.confirmed):
            raise ApiError(409, "wrong_status", "Only a live booking hit by an outage can be moved.")
        resource, site = services.lock_resource(session, data.resource_id or booking.resource_id)
        if resource.site_id != booking.site_id or resource.kind != booking.kind:
            raise ApiError(422, "wrong_resource", "Move to a resource of the same kind at the same site.")
        blocked = services.check_free(session, resource=resource, site=site, start=data.start,
                                      end=data.end, quantity=booking.quantity, now=now,
                                      ignore=booking.id)
        booking.resource_id, booking.start_at, booking.end_at = resource.id, data.start, data.end
        booking.blocked_until, booking.exclusive = blocked, resource.capacity == 1
        booking.disrupted, booking.updated_at = False, now
    return booking
