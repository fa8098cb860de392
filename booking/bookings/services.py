"""Booking rules: hold a slot, confirm on payment, cancel, check in, complete, sweep lapsed holds."""
from datetime import datetime, timedelta
from typing import NamedTuple

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
from booking.chargers.models import ChargingSession
from booking.sites import attributes
from booking.sites.models import Resource, ResourceKind, Site
from payments.gateway import PaymentGateway
from payments.models import Payment
from payments.runner import run_after_commit

CHECK_IN_OPENS = timedelta(minutes=30)
SETTLED_ON_COMPLETION = {ResourceKind.charger.value, ResourceKind.h2_dispenser.value}


class Hold(NamedTuple):
    """A booking just held, its resource and site as the hold read them, and the payment it asks for."""
    booking: Booking
    resource: Resource
    site: Site
    payment: Payment | None


class Shown(NamedTuple):
    """A booking and its public view."""
    booking: Booking
    view: BookingPublic


def lock_resource(session: Session, resource_id: int) -> tuple[Resource, Site]:
    """Return a bookable resource and its site (one query), locking the resource row on PostgreSQL."""
    found = session.exec(select(Resource, Site).join(Site, Site.id == Resource.site_id)
                         .where(Resource.id == resource_id).with_for_update(of=Resource)).first()
    if found is None or not found[1].published:
        raise NotFound("resource_not_found", "No such bookable resource.")
    resource, site = found
    # A resource whose stored attributes break its kind's schema cannot be priced.
    if not resource.active or attributes.usable(resource.kind, resource.attributes) is None:
        raise Conflict("resource_unavailable", "This resource is not taking bookings.")
    return resource, site


def check_free(session: Session, *, resource: Resource, site: Site, start: datetime,
               end: datetime, quantity: int, now: datetime, ignore: int | None = None) -> datetime:
    """Refuse a window the rules, an outage or other bookings forbid; return when it frees the resource.

    Lapsed holds in the window are released (in the caller's transaction) so the window can be taken.
    """
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
    if used.lapsed:
        slots.release_lapsed_holds(session, now=now, resource_id=resource.id)
    return blocked


def hold_slot(session: Session, *, user_id: int, data: BookingCreate, now: datetime | None = None,
              on_account: bool = False, gateway: PaymentGateway | None = None) -> Hold:
    """Hold a slot for the user; free bookings, and fleets billed on account, are confirmed at once.

    A hold to be paid records its payment with it, with `gateway`, for `wallet.send` to ask the
    provider for once both are committed.
    """
    now = now or utcnow()
    try:
        with write_transaction(session):
            resource, site = lock_resource(session, data.resource_id)
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
            payment = billing.intend_payment(session, gateway, booking=booking, resource=resource,
                                             one_tap=data.pay_with_wallet) if pay_now else None
    except IntegrityError as exc:
        # PostgreSQL's exclusion constraint caught a concurrent booking of the same slot.
        raise SlotTaken() from exc
    return Hold(booking, resource, site, payment)


def own_booking(session: Session, *, booking_id: int, user_id: int, lock: bool = False) -> Booking:
    """Return one of the user's bookings; someone else's is 404, as if it did not exist."""
    query = select(Booking).where(Booking.id == booking_id)
    return _owned(session.exec(query.with_for_update() if lock else query).first(), user_id)


def _owned(booking: Booking | None, user_id: int) -> Booking:
    if booking is None or booking.user_id != user_id:
        raise NotFound("booking_not_found", "No such booking.")
    return booking


def list_bookings(session: Session, *, user_id: int, limit: int, after: tuple[datetime, int] | None,
                  language: str) -> tuple[list[Shown], tuple[datetime, int] | None]:
    """Return a page of the user's bookings with views, latest first, and the (start, id) to continue from."""
    query = _shown(Booking.user_id == user_id)
    if after is not None:
        start, booking_id = after
        query = query.where(or_(Booking.start_at < start, and_(Booking.start_at == start, Booking.id < booking_id)))
    rows = _read_fresh(session, query.order_by(Booking.start_at.desc(), Booking.id.desc()).limit(limit + 1),
                       user_id=user_id)
    last = rows[limit - 1][0] if len(rows) > limit else None
    return _views(rows[:limit], language), (last.start_at, last.id) if last else None


def shown_booking(session: Session, *, booking_id: int, user_id: int, language: str) -> Shown:
    """Return one of the user's bookings and its view; someone else's is 404, as if it did not exist."""
    rows = _read_fresh(session, _shown(Booking.id == booking_id, Booking.user_id == user_id), user_id=user_id)
    if not rows:
        raise NotFound("booking_not_found", "No such booking.")
    return _views(rows, language)[0]


def booking_public(session: Session, booking: Booking, *, language: str) -> BookingPublic:
    """Return the public view of a booking in the language, times in Asia/Shanghai (one query)."""
    return _views(session.exec(_shown(Booking.id == booking.id)).all(), language)[0].view


def held_public(hold: Hold, payment: Payment | None, *, language: str) -> BookingPublic:
    """Return the view of a booking this request has just held and asked payment for, from what it read and wrote."""
    resource, site = hold.resource, hold.site
    # As it stood when the payment's answer committed, before any charging session: one the planner
    # opens right after (a charge starting within its lead) shows on the next read.
    return _public(hold.booking, resource.kind, resource.name_zh, resource.name_en, resource.attributes,
                   site.name_zh, site.name_en, payment, None, now=utcnow(), language=language)


def _shown(*where):
    """Select bookings with what their views show of their resource, site, payment and charge, all read afresh."""
    # sqlmodel's select() takes any number of columns but is typed for at most four.
    query = (select(Booking, Resource.kind, Resource.name_zh, Resource.name_en,  # type: ignore[call-overload]
                    Resource.attributes, Site.name_zh, Site.name_en)
             .join(Resource, Resource.id == Booking.resource_id).join(Site, Site.id == Booking.site_id)
             .where(*where))
    return chargers.with_charge(billing.with_payment(query)).execution_options(populate_existing=True)


def _read_fresh(session: Session, query, *, user_id: int) -> list:
    """Read the user's bookings to show, expiring their lapsed holds first if any is among them.

    So a lapsed hold is never seen as held; one nobody looks at is left to the sweeper.
    """
    now = utcnow()
    rows = session.exec(query).all()
    if any(_lapsed(row[0], now) for row in rows):
        with write_transaction(session):
            slots.release_lapsed_holds(session, now=now, user_id=user_id)
        rows = session.exec(query).all()
    return list(rows)


def _views(rows, language: str) -> list[Shown]:
    now = utcnow()
    return [Shown(row[0], _public(*row, now=now, language=language)) for row in rows]


def _lapsed(booking: Booking, now: datetime) -> bool:
    return (booking.status == BookingStatus.held and booking.hold_expires_at is not None
            and booking.hold_expires_at <= now)


def _public(booking: Booking, resource_kind: str, resource_zh: str, resource_en: str, attributes: dict,
            site_zh: str, site_en: str, payment: Payment | None, charge: ChargingSession | None, *,
            now: datetime, language: str) -> BookingPublic:
    final = booking.final_price_fen
    return BookingPublic(
        id=booking.id, status=booking.status, resource_id=booking.resource_id,
        resource_kind=resource_kind, resource_name=pick(resource_zh, resource_en, language),
        site_id=booking.site_id, site_name=pick(site_zh, site_en, language), start=rules.city_time(booking.start_at),
        end=rules.city_time(booking.end_at), quantity=booking.quantity,
        hold_expires_at=rules.city_time(booking.hold_expires_at),
        price=Money(amount=booking.price_fen, currency=booking.currency),
        final_price=None if final is None else Money(amount=final, currency=booking.currency),
        fee=Money(amount=booking.fee_fen, currency=booking.currency),
        settlement=booking.settlement, disrupted=booking.disrupted, payment=billing.payment_view(payment),
        charging=None if charge is None else chargers.live_session(charge, attributes, now))


def cancellation_fee(booking: Booking, now: datetime) -> int:
    """Return the fee for cancelling now: free while held, disrupted or before the cut-off."""
    if booking.status == BookingStatus.held or booking.disrupted:
        return 0
    return paid_cancellation_fee(booking, now)


def paid_cancellation_fee(booking: Booking, now: datetime) -> int:
    """Return the fee for cancelling the booking now were it paid and undisturbed: free before the cut-off."""
    rule = rules.rule_for(booking.kind)
    if now <= booking.start_at - rule.free_cancel_before:
        return 0
    return booking.price_fen * rule.late_cancel_fee_pct // 100


def cancel_booking(session: Session, gateway, *, booking_id: int, user_id: int,
                   now: datetime | None = None) -> Booking:
    """Cancel a held or confirmed booking, then refund what the policy allows."""
    now = now or utcnow()
    with write_transaction(session):
        # The payment is read with the locked booking (not locked itself): the settlement needs it.
        found, payment = session.exec(select(Booking, Payment).where(Booking.id == booking_id)
                                      .outerjoin(Payment, billing.PAYMENT_OF_BOOKING)
                                      .with_for_update(of=Booking)).first() or (None, None)
        booking = _owned(found, user_id)
        if booking.status not in (BookingStatus.held, BookingStatus.confirmed):
            raise Conflict("wrong_status", "A {status} booking cannot be cancelled.",
                           params={"status": booking.status.value})
        booking.fee_fen = cancellation_fee(booking, now)
        _finish(booking, BookingStatus.cancelled, now)
        owed = billing.settle_payment(session, payment, booking=booking, keep_fen=booking.fee_fen)
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

