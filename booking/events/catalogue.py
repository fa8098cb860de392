"""What citizens see: published events near a point, tiers with what is left, orders, tickets."""
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.exceptions import NotFound
from backend.geo import bounding_box, distance_m, within_box
from backend.i18n import pick
from backend.keys import KeyRing
from backend.money import Money
from booking.bookings.rules import city_time
from booking.events import rules
from booking.events.models import (
    Event,
    EventCategory,
    EventPublic,
    EventStatus,
    Order,
    OrderItem,
    OrderLine,
    OrderPublic,
    OrderStatus,
    Ticket,
    TicketPublic,
    TicketTier,
    TierPublic,
)
from booking.events.tickets import ticket_code
from booking.sites.models import Site
from payments.models import PaymentPublic


def tier_public(tier: TicketTier, now: datetime, *, language: str) -> TierPublic:
    return TierPublic(id=tier.id, name=pick(tier.name_zh, tier.name_en, language),
                      price=Money(amount=tier.price_fen), quota=tier.quota,
                      remaining=tier.quota - tier.sold, per_order_limit=tier.per_order_limit,
                      sales_start=city_time(tier.sales_start), sales_end=city_time(tier.sales_end),
                      on_sale=tier.sales_start <= now < tier.sales_end)


def event_public(session: Session, event: Event, *, language: str, distance: float | None = None,
                 venue: Site | None = None, tiers: list[TicketTier] | None = None) -> EventPublic:
    """Describe an event with its tiers; lists pass the venue and tiers they read for the whole page."""
    venue = venue or session.get_one(Site, event.venue_site_id)
    if tiers is None:
        tiers = list(session.exec(select(TicketTier).where(TicketTier.event_id == event.id)
                                  .order_by(TicketTier.price_fen, TicketTier.id)).all())
    now = utcnow()
    return EventPublic(id=event.id, category=event.category, status=event.status,
                       title=pick(event.title_zh, event.title_en, language), title_zh=event.title_zh,
                       title_en=event.title_en, description=pick(event.description_zh, event.description_en, language),
                       venue_site_id=venue.id, venue_name=pick(venue.name_zh, venue.name_en, language),
                       starts_at=city_time(event.starts_at), ends_at=city_time(event.ends_at),
                       refund_policy=event.refund_policy, previous_starts_at=city_time(event.previous_starts_at),
                       distance_m=None if distance is None else round(distance, 1),
                       tiers=[tier_public(t, now, language=language) for t in tiers])


@dataclass(frozen=True)
class EventSearch:
    """Which published events a citizen asks for: from a date, of a category, near a point."""
    start_from: datetime | None = None
    category: EventCategory | None = None
    near: tuple[float, float, float] | None = None  # lat, lon, radius in metres

    @property
    def key_types(self) -> tuple[type, type]:
        """Return the types of the sort key a page ends on: distance or start time, then id."""
        return (float, int) if self.near else (datetime, int)


def list_events(session: Session, *, search: EventSearch, after: tuple | None, limit: int,
                language: str) -> tuple[list[EventPublic], tuple | None]:
    """Return a page of published events, nearest or soonest first, after a sort key; and the key to go on from.

    Distance filter, ordering and paging happen in the database, through its spatial index.
    """
    query = (select(Event, Site).join(Site, Site.id == Event.venue_site_id)
             .where(Event.status == EventStatus.published, Event.ends_at >= (search.start_from or utcnow())))
    if search.category:
        query = query.where(Event.category == search.category)
    if search.near:
        lat, lon, radius_m = search.near
        dialect = session.get_bind().dialect.name
        order = distance_m(Site.location, lat, lon, dialect)
        query = query.where(within_box(Site.__table__, Site.__table__.c.location,
                                       bounding_box(lat, lon, radius_m), dialect), order <= radius_m)
    else:
        order = Event.starts_at
    if after is not None:
        query = query.where(or_(order > after[0], and_(order == after[0], Event.id > after[1])))
    # add_columns() makes a Core select, which sqlmodel's exec() runs but is not typed for.
    rows = session.exec(query.add_columns(order).order_by(order, Event.id).limit(limit + 1)).all()  # type: ignore[call-overload]
    tiers = defaultdict(list)
    for tier in session.exec(select(TicketTier).where(TicketTier.event_id.in_([e.id for e, _, _ in rows]))
                             .order_by(TicketTier.price_fen, TicketTier.id)).all() if rows else []:
        tiers[tier.event_id].append(tier)
    items = [event_public(session, e, language=language, distance=key if search.near else None, venue=site,
                          tiers=tiers[e.id])
             for e, site, key in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return items, last and (last[2], last[0].id)


def published_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None or event.status == EventStatus.draft:
        raise NotFound("event_not_found", "No such event.")
    return event


def ticket_public(ticket: Ticket, *, keys: KeyRing) -> TicketPublic:
    return TicketPublic(id=ticket.id, event_id=ticket.event_id, tier_id=ticket.tier_id,
                        order_id=ticket.order_id, code=ticket_code(ticket, keys=keys),
                        valid=ticket.valid, checked_in_at=city_time(ticket.checked_in_at))


def order_public(session: Session, order: Order, *, keys: KeyRing, payment: dict | None) -> OrderPublic:
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    tickets = session.exec(select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.id)).all()
    return OrderPublic(id=order.id, event_id=order.event_id, status=order.status,
                       total=Money(amount=order.total_fen, currency=order.currency),
                       refunded=Money(amount=order.refunded_fen, currency=order.currency),
                       expires_at=city_time(order.expires_at),
                       items=[OrderLine(tier_id=i.tier_id, quantity=i.quantity) for i in items],
                       tickets=[ticket_public(t, keys=keys) for t in tickets],
                       payment=PaymentPublic.model_validate(payment) if payment else None)


def move_notice(order: Order, event: Event) -> dict:
    """Tell a holder the event moved after they bought, and that cancelling refunds all of it."""
    if order.status != OrderStatus.paid or not rules.moved_since_bought(event, order):
        return {}
    assert event.previous_starts_at is not None  # a moved event keeps its previous start
    return {"rescheduled_from": city_time(event.previous_starts_at).isoformat(),
            "full_refund_on_cancel": True}
