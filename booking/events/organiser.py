"""Organisers' side: events and tiers of their own organisation, publishing, cancelling, sales."""
import csv
import io

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Forbidden, Invalid, NotFound
from backend.keys import KeyRing
from backend.patches import apply_patch
from booking.events import notices, rules, tickets
from booking.events.models import (
    Event,
    EventCreate,
    EventStatus,
    EventUpdate,
    Order,
    OrderItem,
    OrderStatus,
    Ticket,
    TicketTier,
    TierCreate,
    TierUpdate,
)
from booking.events.orders import cancel_event_orders
from booking.sites.models import Site
from payments.runner import run_after_commit


def own_event(session: Session, *, event_id: int, principal: Principal, lock: bool = False) -> Event:
    """Return an event of the caller's organisation (admins: any); others get 404 or 403."""
    query = select(Event).where(Event.id == event_id)
    event = session.exec(query.with_for_update() if lock else query).first()
    _check_owner(principal, event.organisation_id if event else None)
    assert event is not None  # refused above
    return event


def check_own_event(session: Session, *, event_id: int, principal: Principal) -> None:
    """Refuse, as own_event does, an event not of the caller's organisation, reading only whose it is."""
    _check_owner(principal, session.exec(select(Event.organisation_id).where(Event.id == event_id)).first())


# Built once: whose the event is and the ticket a scanned code names (none for a mangled code, whose id binds NULL).
_EVENT_OWNER_AND_TICKET = select(Event.organisation_id, Ticket).outerjoin(
    Ticket, Ticket.id == bindparam("ticket_id")).where(Event.id == bindparam("event_id"))


def scan(session: Session, *, principal: Principal, event_id: int, code: str, keys: KeyRing,
         gate: str | None = None) -> str:
    """Admit a ticket at a gate of the caller's event (refused as own_event refuses); one query reads both."""
    found = session.exec(_EVENT_OWNER_AND_TICKET, params={
        "event_id": event_id, "ticket_id": tickets.scanned_ticket_id(code)}).first()
    _check_owner(principal, found[0] if found else None)
    assert found is not None  # refused above
    return tickets.admit(session, tickets.genuine(found[1], code, keys=keys), event_id=event_id, gate=gate)


def _check_owner(principal: Principal, organisation_id: int | None) -> None:
    if organisation_id is None:
        raise NotFound("event_not_found", "No such event.")
    if not principal.has_role("admin") and organisation_id not in principal.organisation_ids:
        raise Forbidden("forbidden", "This event belongs to another organisation.")


def create_event(session: Session, *, principal: Principal, data: EventCreate) -> Event:
    """Create a draft event at a venue for the caller's organisation."""
    if not principal.organisation_ids:
        raise Forbidden("no_organisation", "Join an organisation before creating events.")
    rules.check_schedule(data.starts_at, data.ends_at, utcnow())
    venue = session.get(Site, data.venue_site_id)
    if venue is None or not venue.published:
        raise Invalid("unknown_venue", "venue_site_id is not a published site.")
    event = Event(**data.model_dump(), organisation_id=min(principal.organisation_ids))
    with write_transaction(session):
        session.add(event)
    return event


def update_event(session: Session, *, principal: Principal, event_id: int, patch: EventUpdate) -> Event:
    """Edit an event that is not cancelled."""
    with write_transaction(session):
        event = own_event(session, event_id=event_id, principal=principal, lock=True)
        if event.status == EventStatus.cancelled:
            raise Conflict("wrong_status", "A cancelled event cannot change.")
        old_start, now = event.starts_at, utcnow()
        apply_patch(event, patch)
        if event.starts_at != old_start or patch.ends_at is not None:
            rules.check_schedule(event.starts_at, event.ends_at, now)
            rules.check_move(event, old_start=old_start, tiers=_tiers(session, event.id))
            rules.record_move(event, old_start=old_start, now=now)
        notices.event_moved(session, event, old_start)
    return event


def _tiers(session: Session, event_id: int) -> list[TicketTier]:
    return list(session.exec(select(TicketTier).where(TicketTier.event_id == event_id)).all())


def add_tier(session: Session, *, principal: Principal, event_id: int, data: TierCreate) -> TicketTier:
    """Add a ticket tier with its price, quota, sales window and per-order limit."""
    with write_transaction(session):
        # The event row lock orders this against a move of the event's start.
        event = own_event(session, event_id=event_id, principal=principal, lock=True)
        tier = TicketTier(**data.model_dump(), event_id=event_id)
        rules.check_sales_window(tier, event)
        session.add(tier)
    return tier


def update_tier(session: Session, *, principal: Principal, event_id: int, tier_id: int,
                patch: TierUpdate) -> TicketTier:
    """Edit a tier; its quota never drops below the seats already taken."""
    with write_transaction(session):
        event = own_event(session, event_id=event_id, principal=principal, lock=True)
        tier = session.exec(select(TicketTier).where(TicketTier.id == tier_id).with_for_update()).first()
        if tier is None or tier.event_id != event_id:
            raise NotFound("tier_not_found", "No such tier in this event.")
        apply_patch(tier, patch)
        rules.check_sales_window(tier, event)
        if tier.quota < tier.sold:
            raise Conflict("quota_below_sold", "{sold} seats are already taken.", params={"sold": tier.sold})
    return tier


def publish_event(session: Session, *, principal: Principal, event_id: int) -> Event:
    """Put a draft event with at least one tier on sale."""
    with write_transaction(session):
        event = own_event(session, event_id=event_id, principal=principal, lock=True)
        if event.status != EventStatus.draft:
            raise Conflict("wrong_status", "A {status} event cannot be published.",
                           params={"status": event.status.value})
        if event.starts_at <= utcnow():
            raise Conflict("event_in_past", "An event that has started cannot go on sale.")
        if not session.exec(select(TicketTier.id).where(TicketTier.event_id == event.id)).first():
            raise Conflict("no_tiers", "Add a ticket tier before publishing.")
        event.status = EventStatus.published
    return event


def sales(session: Session, *, principal: Principal, event_id: int) -> list[dict]:
    """Return per tier: seats sold (paid), held (pending), checked in, and revenue in fen."""
    check_own_event(session, event_id=event_id, principal=principal)
    tiers = session.exec(select(TicketTier).where(TicketTier.event_id == event_id)
                         .order_by(TicketTier.id)).all()
    totals = session.exec(
        select(OrderItem.tier_id, Order.status, func.sum(OrderItem.quantity),
               func.sum(OrderItem.quantity * OrderItem.unit_price_fen))
        .join(Order, Order.id == OrderItem.order_id).where(Order.event_id == event_id)
        .group_by(OrderItem.tier_id, Order.status)).all()
    seats = {(tier_id, OrderStatus(status)): (int(q or 0), int(r or 0))
             for tier_id, status, q, r in totals}
    checked = dict(session.exec(select(Ticket.tier_id, func.count()).where(
        Ticket.event_id == event_id, Ticket.checked_in_at.is_not(None)).group_by(Ticket.tier_id)).all())
    rows = []
    for tier in tiers:
        paid = seats.get((tier.id, OrderStatus.paid), (0, 0))
        rows.append({"tier_id": tier.id, "tier": tier.name_en, "quota": tier.quota, "sold": paid[0],
                     "held": seats.get((tier.id, OrderStatus.pending), (0, 0))[0],
                     "checked_in": int(checked.get(tier.id, 0)), "revenue_fen": paid[1]})
    return rows


def sales_csv(rows: list[dict]) -> str:
    """Return the sales table as CSV."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["tier_id", "tier", "quota", "sold", "held",
                                             "checked_in", "revenue_fen"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def cancel_event(session: Session, gateway, *, principal: Principal, event_id: int) -> tuple[Event, int]:
    """Cancel an event: every live order is cancelled and every paid one refunded in full.

    The event, its orders and the refunds owed change in one transaction; the refunds are
    carried out after it, so the answer does not wait on the provider's timing.
    """
    with write_transaction(session):
        event = own_event(session, event_id=event_id, principal=principal, lock=True)
        if event.status == EventStatus.cancelled:
            raise Conflict("wrong_status", "The event is already cancelled.")
        event.status = EventStatus.cancelled
        notices.event_cancelled(session, event)
        owed = cancel_event_orders(session, event=event)
    run_after_commit(session, gateway, *owed)
    return event, len(owed)
