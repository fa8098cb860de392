"""Buying tickets: orders that hold seats, payment, tickets, cancellation and waiting lists.

A tier's `sold` counts the seats of pending and paid orders. Seats are taken only by the
conditional update `sold = sold + n WHERE sold + n <= quota`, inside the transaction that
creates the order, so no rush can oversell on either database.
"""
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import and_, bindparam, update
from sqlmodel import Session, select

from backend.db import unique_or, write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Invalid, NotFound
from booking.events import notices, rules
from booking.events.models import (
    Event,
    EventStatus,
    Order,
    OrderCreate,
    OrderItem,
    OrderStatus,
    Ticket,
    TicketTier,
    WaitlistEntry,
    WaitlistJoin,
)
from booking.events.tickets import lock_unused_tickets
from payments import services as payments
from payments import wallet
from payments.effects import register_payable
from payments.models import Payment, PaymentInstruction
from payments.runner import run_after_commit

PAYABLE_TYPE = "order"
ORDER_TTL = timedelta(minutes=15)
OFFER_TTL = timedelta(minutes=30)


def _take_seats(session: Session, tier: TicketTier, quantity: int) -> bool:
    """Take seats if the quota allows; tell whether it did."""
    taken = session.exec(update(TicketTier).where(TicketTier.id == tier.id,
                                                  TicketTier.sold + quantity <= TicketTier.quota)
                         .values(sold=TicketTier.sold + quantity))
    return taken.rowcount == 1


def _give_back(session: Session, order: Order) -> list[int]:
    """Return an order's seats to its tiers; return the tiers that got seats back."""
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    for item in items:
        session.exec(update(TicketTier).where(TicketTier.id == item.tier_id)
                     .values(sold=TicketTier.sold - item.quantity))
    return [item.tier_id for item in items]


def _check_line(event: Event, tier: TicketTier | None, quantity: int, now: datetime) -> TicketTier:
    if tier is None or tier.event_id != event.id:
        raise Invalid("tier_not_in_event", "That tier does not belong to this event.")
    if quantity > tier.per_order_limit:
        raise Invalid("limit_exceeded", "At most {limit} per order for this tier.",
                      params={"limit": tier.per_order_limit})
    if not tier.sales_start <= now < tier.sales_end:
        raise Conflict("sales_closed", "This tier is not on sale now.")
    return tier


def _on_sale(event: Event | None) -> Event:
    """Return a published event; 404 for none or a draft, 409 for a cancelled one."""
    if event is None or event.status == EventStatus.draft:
        raise NotFound("event_not_found", "No such event.")
    if event.status != EventStatus.published:
        raise Conflict("event_cancelled", "This event was cancelled.")
    return event


def _published(session: Session, event_id: int) -> Event:
    return _on_sale(session.get(Event, event_id))


def has_lapsed(event_id, now):
    """Return an SQL test of whether a pending order of the event is past its time (values or SQL expressions)."""
    return select(Order.id).where(Order.event_id == event_id, Order.status == OrderStatus.pending,
                                  Order.expires_at <= now).exists()


class Placed(NamedTuple):
    """An order just placed, and the payment it asks for (none for a free order, paid at once)."""
    order: Order
    payment: Payment | None


def place_order(session: Session, gateway, *, user_id: int, event_id: int, data: OrderCreate,
                now: datetime | None = None) -> Placed:
    """Hold seats in one or more tiers as a pending order with its payment, or refuse with 409 sold_out.

    One tap charges the wallet's default (402 payment_method_required without one, and no seat is
    held); `wallet.send` asks the provider for the payment once it is committed with the order.
    """
    now = now or utcnow()
    with write_transaction(session):
        event, tiers, lapsed = _event_for_order(session, event_id, [line.tier_id for line in data.items], now)
        if lapsed:  # their seats go back first, under the lapsed orders' row locks
            expire_orders(session, now=now, event_id=event.id)
        order = _new_order(session, event=event, tiers=tiers, user_id=user_id, lines=data.items, now=now,
                           expires_at=now + ORDER_TTL)
        payment = _intend_payment(session, gateway, order, one_tap=data.pay_with_wallet)
    return Placed(order, payment)


# Built once, its values bound at each order: building it anew cost about as much as running it.
_EVENT_FOR_ORDER = select(Event, TicketTier, has_lapsed(Event.id, bindparam("now"))).outerjoin(TicketTier, and_(
    TicketTier.event_id == Event.id, TicketTier.id.in_(bindparam("tier_ids", expanding=True)))).where(
    Event.id == bindparam("event_id"))


def _event_for_order(session: Session, event_id: int, tier_ids: list[int],
                     now: datetime) -> tuple[Event, dict[int, TicketTier], bool]:
    """Return the event on sale, those of the tiers that are its own, and whether an order of it lapsed: one query."""
    rows = session.exec(_EVENT_FOR_ORDER, params={"event_id": event_id, "tier_ids": tier_ids, "now": now}).all()
    event = _on_sale(rows[0][0] if rows else None)
    return event, {tier.id: tier for _, tier, _ in rows if tier is not None}, bool(rows[0][2])


def _new_order(session: Session, *, event: Event, tiers: dict[int, TicketTier], user_id: int, lines,
               now: datetime, expires_at: datetime) -> Order:
    total = 0
    for line in lines:
        tier = _check_line(event, tiers.get(line.tier_id), line.quantity, now)
        if not _take_seats(session, tier, line.quantity):
            raise Conflict("sold_out", "Not enough seats left in {tier}.", params={"tier": tier.name_en})
        total += tier.price_fen * line.quantity
    order = Order(user_id=user_id, event_id=event.id, status=OrderStatus.pending, total_fen=total,
                  expires_at=expires_at)
    session.add(order)
    session.flush()
    session.add_all(OrderItem(order_id=order.id, tier_id=line.tier_id, quantity=line.quantity,
                              unit_price_fen=tiers[line.tier_id].price_fen) for line in lines)
    return order


def _intend_payment(session: Session, gateway, order: Order, *, one_tap: bool) -> Payment | None:
    """Record, in the order's transaction, its payment; a free order is paid at once instead."""
    if order.total_fen == 0:
        _mark_paid(session, order)
        return None
    method = wallet.default_method(session, gateway, user_id=order.user_id) if one_tap else None
    return payments.intend_payment(session, gateway, payable_type=PAYABLE_TYPE, payable_id=order.id,
                                   user_id=order.user_id, amount=order.total_fen, currency=order.currency,
                                   description=f"order {order.id}", off_session=method)


def _mark_paid(session: Session, order: Order) -> None:
    """Mark an order paid and issue one ticket per seat."""
    order.status = OrderStatus.paid
    for item in session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all():
        session.add_all(Ticket(order_id=order.id, event_id=order.event_id, tier_id=item.tier_id,
                               user_id=order.user_id, serial=secrets.token_hex(16))
                        for _ in range(item.quantity))


def expire_orders(session: Session, *, now: datetime, event_id: int | None = None) -> int:
    """Expire pending orders past their time and give their seats back; return how many."""
    query = select(Order).where(Order.status == OrderStatus.pending, Order.expires_at <= now)
    if event_id is not None:
        query = query.where(Order.event_id == event_id)
    lapsed = session.exec(query.with_for_update()).all()
    for order in lapsed:
        order.status = OrderStatus.expired
        notices.offer_expired(session, order)
        for tier_id in _give_back(session, order):
            offer_seats(session, tier_id=tier_id, now=now)
    return len(lapsed)


def expire_on_read(session: Session, *, event_id: int, now: datetime | None = None) -> None:
    """Expire the event's lapsed orders before its seats or orders are shown (the seats go back)."""
    now = now or utcnow()
    if session.exec(select(has_lapsed(event_id, now))).one():
        expire_lapsed(session, event_id=event_id, now=now)


def expire_lapsed(session: Session, *, event_id: int, now: datetime) -> None:
    """Expire the event's lapsed orders in a transaction of their own, for a reader that found some."""
    with write_transaction(session):
        expire_orders(session, now=now, event_id=event_id)


def own_order(session: Session, *, order_id: int, user_id: int, lock: bool = False) -> Order:
    """Return one of the user's orders; someone else's is 404."""
    query = select(Order).where(Order.id == order_id)
    order = session.exec(query.with_for_update() if lock else query).first()
    if order is None or order.user_id != user_id:
        raise NotFound("order_not_found", "No such order.")
    return order


def cancel_order(session: Session, gateway, *, order_id: int, user_id: int,
                 now: datetime | None = None) -> Order:
    """Cancel a pending or paid order, void its tickets, refund per policy, offer the seats."""
    now = now or utcnow()
    with write_transaction(session):
        order = own_order(session, order_id=order_id, user_id=user_id, lock=True)
        if order.status not in (OrderStatus.pending, OrderStatus.paid):
            raise Conflict("wrong_status", "A {status} order cannot be cancelled.",
                           params={"status": order.status.value})
        refund = rules.refund_due(order, session.get_one(Event, order.event_id), now)
        if order.status == OrderStatus.paid and refund == 0:
            raise Conflict("refund_window_closed", "Tickets can no longer be cancelled.")
        lock_unused_tickets(session, order_id=order.id)
        was_paid = order.status == OrderStatus.paid
        _void(session, order, now)
        owed = _settle(session, order, refund if was_paid else 0)
    run_after_commit(session, gateway, owed)
    return order


def _void(session: Session, order: Order, now: datetime) -> None:
    """Cancel an order and its tickets, and pass its seats to the waiting list."""
    order.status = OrderStatus.cancelled
    session.exec(update(Ticket).where(Ticket.order_id == order.id).values(valid=False))
    for tier_id in _give_back(session, order):
        offer_seats(session, tier_id=tier_id, now=now)


def _settle(session: Session, order: Order, refund: int) -> PaymentInstruction | None:
    """Record, in the cancelling transaction, the refund of `refund` fen (or the cancel of an unpaid payment)."""
    order.refunded_fen += refund
    return payments.settle_payable(session, payable_type=PAYABLE_TYPE, payable_id=order.id,
                                   keep_fen=order.total_fen - refund, reason=f"order {order.id} cancelled")


def cancel_event_orders(session: Session, *, event: Event) -> list[PaymentInstruction | None]:
    """Cancel every live order of a cancelling event, in the caller's transaction; return the refunds owed.

    Each paid order's full refund (or an unpaid order's cancel) is recorded with the cancellation
    and carried out after it, one by one: one the provider refuses or fails is retried by the
    runner and never stops the others.
    """
    now = utcnow()
    orders = session.exec(select(Order).where(
        Order.event_id == event.id, Order.status.in_([OrderStatus.pending, OrderStatus.paid]))
        .with_for_update()).all()
    owed = []
    for order in orders:
        paid = order.status == OrderStatus.paid
        _void(session, order, now)
        owed.append(_settle(session, order, order.total_fen if paid else 0))
    return owed


def join_waitlist(session: Session, *, user_id: int, event_id: int, data: WaitlistJoin) -> WaitlistEntry:
    """Queue for a sold-out tier; the first in line is offered returned seats."""
    waiting = Conflict("already_waiting", "You are already on this waiting list.")
    with unique_or(waiting), write_transaction(session):
        event = _published(session, event_id)
        tier = _check_line(event, session.get(TicketTier, data.tier_id), data.quantity, utcnow())
        if tier.sold + data.quantity <= tier.quota:
            raise Conflict("not_sold_out", "Seats are still on sale: order them directly.")
        if session.exec(select(WaitlistEntry).where(WaitlistEntry.tier_id == tier.id,
                                                    WaitlistEntry.user_id == user_id)).first():
            raise waiting
        entry = WaitlistEntry(tier_id=tier.id, user_id=user_id, quantity=data.quantity)
        session.add(entry)
    return entry


def offer_seats(session: Session, *, tier_id: int, now: datetime) -> None:
    """Offer returned seats to the waiting list in order, each offer a pending order that holds them."""
    tier = session.get_one(TicketTier, tier_id)
    event = session.get_one(Event, tier.event_id)
    if event.status != EventStatus.published:  # a cancelled event's seats go to nobody
        return
    waiting = session.exec(select(WaitlistEntry).where(
        WaitlistEntry.tier_id == tier_id, WaitlistEntry.offer_order_id.is_(None))
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)).all()
    for entry in waiting:
        if not _take_seats(session, tier, entry.quantity):
            return
        order = Order(user_id=entry.user_id, event_id=event.id, status=OrderStatus.pending,
                      total_fen=tier.price_fen * entry.quantity, expires_at=now + OFFER_TTL)
        session.add(order)
        session.flush()
        session.add(OrderItem(order_id=order.id, tier_id=tier.id, quantity=entry.quantity,
                              unit_price_fen=tier.price_fen))
        entry.offer_order_id = order.id
        notices.offer_made(session, entry=entry, order=order, event=event)
        session.refresh(tier)


class OrderPayable:
    """Marks orders paid (issuing tickets) and gives unpaid orders' seats back."""

    def on_succeeded(self, session: Session, payable_id: int) -> bool:
        order = session.exec(select(Order).where(Order.id == payable_id).with_for_update()).first()
        if order is None:
            return False
        if order.status == OrderStatus.paid:
            return True
        if order.status != OrderStatus.pending or order.expires_at <= utcnow():
            if order.status == OrderStatus.pending:
                order.status = OrderStatus.expired
                _give_back(session, order)
            return False
        _mark_paid(session, order)
        return True

    on_authorised = on_succeeded

    def on_failed(self, session: Session, payable_id: int) -> None:
        order = session.exec(select(Order).where(Order.id == payable_id).with_for_update()).first()
        if order is not None and order.status == OrderStatus.pending:
            order.status = OrderStatus.expired
            _give_back(session, order)


def register() -> None:
    """Tell payments how to apply payment outcomes to ticket orders."""
    register_payable(PAYABLE_TYPE, OrderPayable())


def waitlist_position(session: Session, entry: WaitlistEntry) -> int:
    """Return the entry's place in its tier's queue, 1 for the next offer."""
    ahead = session.exec(select(WaitlistEntry.id).where(
        WaitlistEntry.tier_id == entry.tier_id, WaitlistEntry.offer_order_id.is_(None),
        WaitlistEntry.id < entry.id)).all()
    return len(ahead) + 1
