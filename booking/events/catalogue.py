"""What citizens see: published events near a point, tiers with what is left, orders, tickets."""
from datetime import datetime

from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.errors import ApiError
from backend.geo import haversine_m, lat_lon
from backend.i18n import pick
from backend.money import Money
from backend.timeline import TimelineEntry
from booking.bookings.rules import city_time
from booking.events.models import (
    Event, EventCategory, EventPublic, EventStatus, Order, OrderItem, OrderLine, OrderPublic, Ticket,
    TicketPublic, TicketTier, TierPublic,
)
from booking.events.tickets import ticket_code
from booking.sites.models import Site


def tier_public(tier: TicketTier, now: datetime) -> TierPublic:
    return TierPublic(id=tier.id, name=pick(tier.name_zh, tier.name_en),
                      price=Money(amount=tier.price_fen), quota=tier.quota,
                      remaining=tier.quota - tier.sold, per_order_limit=tier.per_order_limit,
                      sales_start=city_time(tier.sales_start), sales_end=city_time(tier.sales_end),
                      on_sale=tier.sales_start <= now < tier.sales_end)


def event_public(session: Session, event: Event, *, distance: float | None = None,
                 with_tiers: bool = True) -> EventPublic:
    venue = session.get(Site, event.venue_site_id)
    tiers = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)
                         .order_by(TicketTier.price_fen, TicketTier.id)).all() if with_tiers else []
    now = utcnow()
    return EventPublic(id=event.id, category=event.category, status=event.status,
                       title=pick(event.title_zh, event.title_en), title_zh=event.title_zh,
                       title_en=event.title_en, description=pick(event.description_zh, event.description_en),
                       venue_site_id=venue.id, venue_name=pick(venue.name_zh, venue.name_en),
                       starts_at=city_time(event.starts_at), ends_at=city_time(event.ends_at),
                       refund_until_hours=event.refund_until_hours, distance_m=distance,
                       tiers=[tier_public(t, now) for t in tiers])


def list_events(session: Session, *, start_from: datetime | None, category: EventCategory | None,
                lat: float | None, lon: float | None, radius_m: float, limit: int,
                offset: int) -> list[EventPublic]:
    """Return published events from a date, of a category, near a point (nearest first) or by date."""
    query = (select(Event, Site).join(Site, Site.id == Event.venue_site_id)
             .where(Event.status == EventStatus.published, Event.ends_at >= (start_from or utcnow())))
    if category:
        query = query.where(Event.category == category)
    rows = session.exec(query.order_by(Event.starts_at, Event.id)).all()
    found = [(event, None) for event, _ in rows]
    if lat is not None and lon is not None:
        found = sorted(((e, haversine_m(lat, lon, *lat_lon(s.location))) for e, s in rows),
                       key=lambda pair: pair[1])
        found = [(e, d) for e, d in found if d <= radius_m]
    return [event_public(session, e, distance=d) for e, d in found[offset: offset + limit]]


def published_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None or event.status == EventStatus.draft:
        raise ApiError(404, "event_not_found", "No such event.")
    return event


def ticket_public(ticket: Ticket, *, secret: str) -> TicketPublic:
    return TicketPublic(id=ticket.id, event_id=ticket.event_id, tier_id=ticket.tier_id,
                        order_id=ticket.order_id, code=ticket_code(ticket, secret=secret),
                        valid=ticket.valid, checked_in_at=city_time(ticket.checked_in_at))


def order_public(session: Session, order: Order, *, secret: str, payment: dict | None) -> OrderPublic:
    items = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    tickets = session.exec(select(Ticket).where(Ticket.order_id == order.id).order_by(Ticket.id)).all()
    return OrderPublic(id=order.id, event_id=order.event_id, status=order.status,
                       total=Money(amount=order.total_fen, currency=order.currency),
                       refunded=Money(amount=order.refunded_fen, currency=order.currency),
                       expires_at=city_time(order.expires_at),
                       items=[OrderLine(tier_id=i.tier_id, quantity=i.quantity) for i in items],
                       tickets=[ticket_public(t, secret=secret) for t in tickets], payment=payment)


def timeline_entries(session: Session, *, user_id: int) -> list[TimelineEntry]:
    """Return the user's ticket orders as timeline entries, at their event's start."""
    rows = session.exec(select(Order, Event).join(Event, Event.id == Order.event_id)
                        .where(Order.user_id == user_id)).all()
    return [TimelineEntry(type="order", id=o.id, status=o.status.value, at=city_time(e.starts_at),
                          title=pick(e.title_zh, e.title_en),
                          detail={"event_id": e.id, "total": o.total_fen})
            for o, e in rows]
