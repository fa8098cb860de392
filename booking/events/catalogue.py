"""What citizens see: published events near a point, tiers with what is left, orders, tickets."""
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Float, Integer, and_, bindparam, or_
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.exceptions import NotFound
from backend.geo import bound_box, box_values, distance_m, within_box
from backend.i18n import pick
from backend.keys import KeyRing
from backend.money import Money
from booking.bookings.rules import city_time
from booking.events import orders, rules
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

    Distance filter, ordering and paging happen in the database, through its spatial index; the
    page's venues come in the same query, its tiers in one more (joined, each tier's row would
    carry its event's and venue's columns again).
    """
    dialect = session.get_bind().dialect.name
    statement = _search_statement(dialect, near=search.near is not None, category=search.category is not None,
                                  paged=after is not None)
    params: dict = {"start_from": search.start_from or utcnow(), "category": search.category, "limit": limit + 1}
    if search.near:
        lat, lon, params["radius_m"] = search.near
        params |= {"lat": lat, "lon": lon} | box_values(lat, lon, params["radius_m"])
    if after is not None:
        params |= {"after_key": after[0], "after_id": after[1]}
    rows = session.exec(statement, params=params).all()
    tiers: dict[int, list[TicketTier]] = {event.id: [] for event, _, _ in rows}
    for tier in session.exec(_TIERS_OF, params={"event_ids": list(tiers)}).all() if rows else ():
        tiers[tier.event_id].append(tier)
    items = [event_public(session, e, language=language, distance=key if search.near else None, venue=site,
                          tiers=tiers[e.id])
             for e, site, key in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return items, last and (last[2], last[0].id)


@lru_cache
def _search_statement(dialect: str, *, near: bool, category: bool, paged: bool):
    """Build, once per kind of search, the query of a page of events with their venues and sort keys.

    Every value a search brings is a bound parameter: building the statement and its cache key
    anew cost as much as running it.
    """
    key = distance_m(Site.location, bindparam("lat", type_=Float), bindparam("lon", type_=Float),
                     dialect) if near else Event.starts_at
    page = (select(Event, Site, key).join(Site, Site.id == Event.venue_site_id)
            .where(Event.status == EventStatus.published, Event.ends_at >= bindparam("start_from")))
    if category:
        page = page.where(Event.category == bindparam("category"))
    if near:
        page = page.where(within_box(Site.__table__, Site.__table__.c.location, bound_box(), dialect),
                          key <= bindparam("radius_m", type_=Float))
    if paged:
        after = bindparam("after_key", type_=key.type)
        page = page.where(or_(key > after, and_(key == after, Event.id > bindparam("after_id", type_=Integer))))
    return page.order_by(key, Event.id).limit(bindparam("limit", type_=Integer))


_TIERS_OF = (select(TicketTier).where(TicketTier.event_id.in_(bindparam("event_ids", expanding=True)))
             .order_by(TicketTier.price_fen, TicketTier.id))


def public_event(session: Session, event_id: int, *, language: str) -> EventPublic:
    """Describe a published (or cancelled) event with the seats left now; 404 for none or a draft.

    One query reads the event, its venue, its tiers and whether an order of it lapsed; only
    when one did are the lapsed orders' seats given back and the tiers read again.
    """
    now = utcnow()
    event, venue, tiers, lapsed = _event_with_tiers(session, event_id, now)
    if lapsed:
        orders.expire_lapsed(session, event_id=event_id, now=now)
        event, venue, tiers, _ = _event_with_tiers(session, event_id, now)
    return event_public(session, event, language=language, venue=venue, tiers=tiers)


# Built once, its values bound at each read: building it anew cost a tenth of the request.
_EVENT_WITH_TIERS = (select(Event, Site, TicketTier, orders.has_lapsed(Event.id, bindparam("now")))
                     .join(Site, Site.id == Event.venue_site_id)
                     .outerjoin(TicketTier, TicketTier.event_id == Event.id).where(Event.id == bindparam("event_id"))
                     .order_by(TicketTier.price_fen, TicketTier.id).execution_options(populate_existing=True))


def _event_with_tiers(session: Session, event_id: int, now: datetime) -> tuple[Event, Site, list[TicketTier], bool]:
    rows = session.exec(_EVENT_WITH_TIERS, params={"event_id": event_id, "now": now}).all()
    if not rows or rows[0][0].status == EventStatus.draft:
        raise NotFound("event_not_found", "No such event.")
    event, venue, _, lapsed = rows[0]
    return event, venue, [tier for _, _, tier, _ in rows if tier is not None], bool(lapsed)


def ticket_public(ticket: Ticket, *, keys: KeyRing) -> TicketPublic:
    return TicketPublic(id=ticket.id, event_id=ticket.event_id, tier_id=ticket.tier_id,
                        order_id=ticket.order_id, code=ticket_code(ticket, keys=keys),
                        valid=ticket.valid, checked_in_at=city_time(ticket.checked_in_at))


# Tickets are issued when an order is paid: an order still pending, or expired unpaid, has none.
UNTICKETED = (OrderStatus.pending, OrderStatus.expired)


def order_public(session: Session, order_id: int, *, keys: KeyRing, payment: dict | None) -> OrderPublic:
    """Describe an order as stored now: its lines in the same query, its tickets if it may have some."""
    rows = session.exec(select(Order, OrderItem).join(OrderItem, OrderItem.order_id == Order.id)
                        .where(Order.id == order_id).execution_options(populate_existing=True)).all()
    order, items = rows[0][0], [item for _, item in rows]
    tickets = [] if order.status in UNTICKETED else session.exec(
        select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.id)).all()
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
