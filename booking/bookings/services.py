"""Booking rules: hold a slot, confirm on payment, cancel, check in, complete, sweep lapsed holds."""
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Invalid, NotFound, SlotTaken
from backend.i18n import pick
from backend.money import Money
from booking.bookings import billing, pricing, rules, slots
from booking.bookings.models import (
    Booking,
    BookingCreate,
    BookingPublic,
    BookingStatus,
)
from booking.chargers import live as chargers
from booking.chargers.models import LiveSession
from booking.sites import attributes
from booking.sites.models import Resource, ResourceKind, Site
from payments.models import PaymentPublic
from payments.runner import run_after_commit

CHECK_IN_OPENS = timedelta(minutes=30)
SETTLED_ON_COMPLETION = {ResourceKind.charger.value, ResourceKind.h2_dispenser.value}


def lock_resource(session: Session, resource_id: int) -> tuple[Resource, Site]:
    """Return a bookable resource and its site, locking the resource row on PostgreSQL."""
    resource = session.exec(select(Resource).where(Resource.id == resource_id)
                            .with_for_update()).first()
    site = session.get(Site, resource.site_id) if resource is not None else None
    if resource is None or site is None or not site.published:
        raise NotFound("resource_not_found", "No such bookable resource.")
    # A resource whose stored attributes break its kind's schema cannot be priced.
    if not resource.active or attributes.usable(resource.kind, resource.attributes) is None:
        raise Conflict("resource_unavailable", "This resource is not taking bookings.")
    return resource, site


def check_free(session: Session, *, resource: Resource, site: Site, start: datetime,
               end: datetime, quantity: int, now: datetime, ignore: int | None = None) -> datetime:
    """Refuse a window the rules, an outage or other bookings forbid; return when it frees the resource."""
    rules.check_window(kind=resource.kind, opening_hours=site.opening_hours, start=start, end=end,
                       now=now)
    if quantity > resource.capacity or (resource.capacity == 1 and quantity != 1):
        raise Invalid("quantity_exceeds_capacity",
                       "This resource takes at most {capacity} place(s).",
                       params={"capacity": resource.capacity})
    blocked = rules.blocked_until(resource.kind, end)
    used = slots.occupancy(session, resource_ids=[resource.id], start=start, end=blocked, now=now,
                           exclude=ignore).get(resource.id, slots.Occupancy())
    if slots.overlaps_outage(used.outages, start, blocked):
        raise Conflict("resource_unavailable", "The resource is out of service then.")
    if slots.peak_usage(used.bookings, start, blocked) + quantity > resource.capacity:
        raise SlotTaken()
    return blocked


def hold_slot(session: Session, *, user_id: int, data: BookingCreate,
              now: datetime | None = None, on_account: bool = False) -> Booking:
    """Hold a slot for the user; free bookings, and fleets billed on account, are confirmed at once."""
    now = now or utcnow()
    try:
        with write_transaction(session):
            resource, site = lock_resource(session, data.resource_id)
            slots.release_lapsed_holds(session, now=now, resource_id=resource.id)
            blocked = check_free(session, resource=resource, site=site, start=data.start,
                                 end=data.end, quantity=data.quantity, now=now)
            price = pricing.estimate_price(resource.kind, resource.attributes, data.start,
                                           data.end, data.quantity)
            pay_now = price > 0 and not on_account
            booking = Booking(user_id=user_id, resource_id=resource.id, site_id=site.id,
                              kind=resource.kind, start_at=data.start, end_at=data.end,
                              blocked_until=blocked, quantity=data.quantity,
                              exclusive=resource.capacity == 1, price_fen=price,
                              status=BookingStatus.held if pay_now else BookingStatus.confirmed,
                              hold_expires_at=now + rules.HOLD_TTL if pay_now else None,
                              settlement={"billing": "account"} if on_account else {})
            session.add(booking)
            session.flush()
    except IntegrityError as exc:
        # PostgreSQL's exclusion constraint caught a concurrent booking of the same slot.
        raise SlotTaken() from exc
    return booking


def own_booking(session: Session, *, booking_id: int, user_id: int, lock: bool = False) -> Booking:
    """Return one of the user's bookings; someone else's is 404, as if it did not exist."""
    query = select(Booking).where(Booking.id == booking_id)
    booking = session.exec(query.with_for_update() if lock else query).first()
    if booking is None or booking.user_id != user_id:
        raise NotFound("booking_not_found", "No such booking.")
    return booking


def expire_on_read(session: Session, *, user_id: int, now: datetime | None = None) -> None:
    """Expire the user's lapsed holds before they are shown, so none is ever seen as held."""
    now = now or utcnow()
    lapsed = session.exec(select(Booking.id).where(Booking.user_id == user_id, Booking.status == BookingStatus.held,
                                                   Booking.hold_expires_at <= now).limit(1)).first()
    if lapsed is not None:
        with write_transaction(session):
            slots.release_lapsed_holds(session, now=now, user_id=user_id)


def list_bookings(session: Session, *, user_id: int, limit: int,
                  after: tuple[datetime, int] | None) -> list[Booking]:
    """Return the user's bookings, latest start first, from after the (start, id) a page ended on."""
    query = select(Booking).where(Booking.user_id == user_id)
    if after is not None:
        start, booking_id = after
        query = query.where(or_(Booking.start_at < start, and_(Booking.start_at == start, Booking.id < booking_id)))
    return list(session.exec(query.order_by(Booking.start_at.desc(), Booking.id.desc()).limit(limit)).all())


def booking_public(session: Session, booking: Booking, *, language: str) -> BookingPublic:
    """Return the public view of a booking in the language, times in Asia/Shanghai."""
    return _public(booking, session.get_one(Resource, booking.resource_id), session.get_one(Site, booking.site_id),
                   billing.payment_view(session, booking),
                   chargers.booking_charging(session, booking, utcnow()), language=language)


def bookings_public(session: Session, bookings: list[Booking], *, language: str) -> list[BookingPublic]:
    """Return the public views of a page of bookings, reading each kind of related row in one query."""
    if not bookings:
        return []
    resources = _by_id(session, Resource, {b.resource_id for b in bookings})
    sites = _by_id(session, Site, {b.site_id for b in bookings})
    paid = billing.payment_views(session, bookings)
    charging = chargers.bookings_charging(session, bookings, utcnow())
    return [_public(b, resources[b.resource_id], sites[b.site_id], paid.get(b.id), charging.get(b.id),
                    language=language) for b in bookings]


def _by_id(session: Session, model, ids: set[int]) -> dict:
    return {row.id: row for row in session.exec(select(model).where(model.id.in_(ids))).all()}


def _public(booking: Booking, resource: Resource, site: Site, payment: PaymentPublic | None,
            charging: LiveSession | None, *, language: str) -> BookingPublic:
    final = booking.final_price_fen
    return BookingPublic(
        id=booking.id, status=booking.status, resource_id=resource.id,
        resource_kind=resource.kind, resource_name=pick(resource.name_zh, resource.name_en, language),
        site_id=site.id, site_name=pick(site.name_zh, site.name_en, language), start=rules.city_time(booking.start_at),
        end=rules.city_time(booking.end_at), quantity=booking.quantity,
        hold_expires_at=rules.city_time(booking.hold_expires_at),
        price=Money(amount=booking.price_fen, currency=booking.currency),
        final_price=None if final is None else Money(amount=final, currency=booking.currency),
        fee=Money(amount=booking.fee_fen, currency=booking.currency),
        settlement=booking.settlement, disrupted=booking.disrupted,
        payment=payment, charging=charging)


def cancellation_fee(booking: Booking, now: datetime) -> int:
    """Return the fee for cancelling now: free while held, disrupted or before the cut-off."""
    rule = rules.rule_for(booking.kind)
    if booking.status == BookingStatus.held or booking.disrupted or now <= booking.start_at - rule.free_cancel_before:
        return 0
    return booking.price_fen * rule.late_cancel_fee_pct // 100


def cancel_booking(session: Session, gateway, *, booking_id: int, user_id: int,
                   now: datetime | None = None) -> Booking:
    """Cancel a held or confirmed booking, then refund what the policy allows."""
    now = now or utcnow()
    with write_transaction(session):
        booking = own_booking(session, booking_id=booking_id, user_id=user_id, lock=True)
        if booking.status not in (BookingStatus.held, BookingStatus.confirmed):
            raise Conflict("wrong_status", "A {status} booking cannot be cancelled.",
                           params={"status": booking.status.value})
        booking.fee_fen = cancellation_fee(booking, now)
        _finish(booking, BookingStatus.cancelled, now)
        owed = billing.settle(session, booking=booking, keep_fen=booking.fee_fen)
    run_after_commit(session, gateway, owed)
    return booking


def check_in(session: Session, *, booking_id: int, user_id: int,
             now: datetime | None = None) -> Booking:
    """Check in at the site, from half an hour before the start until the end."""
    now = now or utcnow()
    with write_transaction(session):
        booking = own_booking(session, booking_id=booking_id, user_id=user_id, lock=True)
        if booking.status != BookingStatus.confirmed:
            raise Conflict("wrong_status", "A {status} booking cannot check in.",
                           params={"status": booking.status.value})
        if not booking.start_at - CHECK_IN_OPENS <= now < booking.end_at:
            raise Conflict("outside_check_in_window",
                           "Check-in opens 30 minutes before the start and closes at the end.")
        booking.status, booking.updated_at = BookingStatus.checked_in, now
        chargers.request_start(session, booking)  # a metered charger is started remotely
    return booking


def complete_booking(session: Session, gateway, *, booking_id: int, user_id: int,
                     energy_kwh: float | None, hydrogen_kg: float | None,
                     unplugged_at: datetime | None, now: datetime | None = None) -> Booking:
    """Complete a checked-in booking; charging and hydrogen are priced from what was delivered."""
    now = now or utcnow()
    with write_transaction(session):
        booking = own_booking(session, booking_id=booking_id, user_id=user_id, lock=True)
        if booking.status != BookingStatus.checked_in:
            raise Conflict("wrong_status", "A {status} booking cannot complete.",
                           params={"status": booking.status.value})
        if booking.kind == ResourceKind.charger.value:
            chargers.check_typed_energy(session, booking, energy_kwh or 0, now)
        booking.settlement = {**booking.settlement, **_settlement(session, booking, energy_kwh, hydrogen_kg,
                                                                  unplugged_at or now)}
        booking.final_price_fen = booking.settlement["total_fen"]
        _finish(booking, BookingStatus.completed, now)
        owed = billing.settle(session, booking=booking, keep_fen=booking.final_price_fen)
    run_after_commit(session, gateway, owed)
    return booking


def _settlement(session: Session, booking: Booking, energy_kwh, hydrogen_kg, unplugged_at) -> dict:
    attributes = session.get_one(Resource, booking.resource_id).attributes
    if booking.kind == ResourceKind.charger.value:
        if energy_kwh is None:
            raise Invalid("energy_required", "Send energy_kwh delivered to complete a charge.")
        return pricing.charging_price(attributes, booking.start_at, booking.end_at, energy_kwh,
                                      unplugged_at)
    if booking.kind == ResourceKind.h2_dispenser.value:
        if hydrogen_kg is None:
            raise Invalid("hydrogen_required", "Send hydrogen_kg dispensed to complete.")
        return pricing.hydrogen_price(attributes, hydrogen_kg)
    return {"total_fen": booking.price_fen}


def _finish(booking: Booking, status: BookingStatus, now: datetime) -> None:
    booking.status, booking.active, booking.updated_at = status, False, now


def sweep(session: Session, gateway, *, now: datetime | None = None) -> dict[str, int]:
    """Expire lapsed holds and mark confirmed bookings that ended unattended as no-shows."""
    now = now or utcnow()
    with write_transaction(session):
        expired = slots.release_lapsed_holds(session, now=now)
        missed = list(session.exec(select(Booking).where(
            Booking.status == BookingStatus.confirmed, Booking.end_at <= now)).all())
        owed = []
        for booking in missed:
            booking.fee_fen = booking.price_fen * rules.rule_for(booking.kind).no_show_fee_pct // 100
            _finish(booking, BookingStatus.no_show, now)
            owed.append(billing.settle(session, booking=booking, keep_fen=booking.fee_fen))
    run_after_commit(session, gateway, *owed)
    return {"expired": expired, "no_show": len(missed)}

