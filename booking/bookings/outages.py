"""Outages: site operators take a resource out of service; bookings hit are disrupted and may move."""
from datetime import datetime

from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Invalid, NotFound
from booking.bookings import notices, services
from booking.bookings.manage import managed_resource
from booking.bookings.models import Booking, BookingStatus, Outage, OutageCreate, Rebook
from booking.bookings.slots import occupies
from booking.chargers import live as chargers
from booking.sites.models import Resource
from booking.sites.services import managed_site


def _disrupt(session: Session, outage: Outage) -> list[Booking]:
    """Mark every live booking the outage touches as disrupted, telling those newly hit; return them all."""
    hit = session.exec(select(Booking).where(
        Booking.resource_id == outage.resource_id, occupies(utcnow()),
        Booking.start_at < outage.end_at, Booking.blocked_until > outage.start_at)).all()
    for booking in hit:
        if not booking.disrupted:
            booking.disrupted = True
            notices.booking_disrupted(session, booking, outage)
    return list(hit)


def add_outage(session: Session, *, principal: Principal, site_id: int, resource_id: int,
               data: OutageCreate) -> tuple[Outage, list[int]]:
    """Record an outage and mark every live booking it touches as disrupted."""
    if data.end <= data.start:
        raise Invalid("end_before_start", "The outage must end after it starts.")
    with write_transaction(session):
        site = managed_site(session, site_id=site_id, principal=principal)
        resource = session.get(Resource, resource_id)
        if resource is None or resource.site_id != site.id:
            raise NotFound("resource_not_found", "No such resource at this site.")
        return take_out_of_service(session, resource_id=resource.id, start=data.start,
                                   end=data.end, reason=data.reason)


def take_out_of_service(session: Session, *, resource_id: int, start: datetime, end: datetime,
                        reason: str) -> tuple[Outage, list[int]]:
    """Record an outage in the caller's transaction and mark the live bookings it touches as disrupted."""
    outage = Outage(resource_id=resource_id, start_at=start, end_at=end, reason=reason)
    session.add(outage)
    hit = _disrupt(session, outage)
    session.flush()
    return outage, [b.id for b in hit]


def _managed_outage(session: Session, *, principal: Principal, site_id: int, resource_id: int,
                    outage_id: int) -> Outage:
    resource = managed_resource(session, principal=principal, site_id=site_id, resource_id=resource_id)
    outage = session.exec(select(Outage).where(Outage.id == outage_id).with_for_update()).first()
    if outage is None or outage.resource_id != resource.id:
        raise NotFound("outage_not_found", "No such outage on this resource.")
    return outage


def end_outage(session: Session, *, principal: Principal, site_id: int, resource_id: int, outage_id: int,
               end: datetime) -> tuple[Outage, list[int]]:
    """Move an outage's end (back in service sooner, or later); bookings a longer outage hits are disrupted.

    Bookings an earlier end no longer touches keep their disruption: they may still move for free.
    """
    with write_transaction(session):
        outage = _managed_outage(session, principal=principal, site_id=site_id, resource_id=resource_id,
                                 outage_id=outage_id)
        if end <= outage.start_at:
            raise Invalid("end_before_start", "The outage must end after it starts.")
        outage.end_at = end
        disrupted = [b.id for b in _disrupt(session, outage)]
    return outage, disrupted


def delete_outage(session: Session, *, principal: Principal, site_id: int, resource_id: int,
                  outage_id: int) -> None:
    """Remove an outage recorded by mistake; bookings it disrupted may still move for free."""
    with write_transaction(session):
        session.delete(_managed_outage(session, principal=principal, site_id=site_id,
                                       resource_id=resource_id, outage_id=outage_id))


def rebook(session: Session, *, booking_id: int, user_id: int, data: Rebook,
           now: datetime | None = None) -> Booking:
    """Move a disrupted booking to another free slot at the same site, at no charge."""
    now = now or utcnow()
    with write_transaction(session):
        booking = services.own_booking(session, booking_id=booking_id, user_id=user_id, lock=True)
        if not booking.disrupted or booking.status not in (BookingStatus.held, BookingStatus.confirmed):
            raise Conflict("wrong_status", "Only a live booking hit by an outage can be moved.")
        resource, site = services.lock_resource(session, data.resource_id or booking.resource_id)
        if resource.site_id != booking.site_id or resource.kind != booking.kind:
            raise Invalid("wrong_resource", "Move to a resource of the same kind at the same site.")
        blocked = services.check_free(session, resource=resource, site=site, start=data.start,
                                      end=data.end, quantity=booking.quantity, now=now,
                                      ignore=booking.id)
        booking.resource_id, booking.start_at, booking.end_at = resource.id, data.start, data.end
        booking.blocked_until, booking.exclusive = blocked, resource.capacity == 1
        booking.disrupted, booking.updated_at = False, now
        chargers.move_reservation(session, booking)
    return booking
