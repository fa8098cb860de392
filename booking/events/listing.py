"""Lists of events, orders and tickets, one keyset page at a time, and the gates' check-in counts."""
from collections import Counter
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.exceptions import Conflict, NotFound
from backend.geo import Point, lat_lon
from backend.i18n import pick
from backend.keys import KeyRing
from backend.keyset import beyond
from backend.timeline import TimelineEntry, TimelineKey, after
from booking.bookings.rules import city_time
from booking.events.catalogue import move_notice, ticket_public
from booking.events.models import Event, EventStatus, Order, Ticket, TicketPublic
from booking.sites.models import Site

KIND = "order"


class TicketDetail(TicketPublic):
    """A ticket with what its holder needs on the day: the event, its time and its venue."""

    event_title: str
    starts_at: datetime
    ends_at: datetime
    venue_name: str
    venue_address: str
    venue_location: Point


def timeline_entries(session: Session, *, user_id: int, cursor: TimelineKey | None, limit: int,
                     language: str) -> list[TimelineEntry]:
    """Return up to `limit` of the user's ticket orders after the cursor, at their event's start."""
    rows = session.exec(
        select(Order, Event).join(Event, Event.id == Order.event_id)
        .where(Order.user_id == user_id, after(cursor, kind=KIND, at_column=Event.starts_at,
                                               id_column=Order.id))
        .order_by(Event.starts_at.desc(), Order.id.desc()).limit(limit)).all()
    return [TimelineEntry(type=KIND, id=o.id, status=o.status.value, at=city_time(e.starts_at),
                          title=pick(e.title_zh, e.title_en, language),
                          detail={"event_id": e.id, "total": o.total_fen, **move_notice(o, e)})
            for o, e in rows]


def ticket_detail(ticket: Ticket, event: Event, venue: Site, *, keys: KeyRing, language: str) -> TicketDetail:
    lat, lon = lat_lon(venue.location)
    return TicketDetail(**ticket_public(ticket, keys=keys).model_dump(),
                        event_title=pick(event.title_zh, event.title_en, language),
                        starts_at=city_time(event.starts_at), ends_at=city_time(event.ends_at),
                        venue_name=pick(venue.name_zh, venue.name_en, language),
                        venue_address=pick(venue.address_zh, venue.address_en, language),
                        venue_location=Point(lat=lat, lon=lon))


def _tickets_with_events(user_id: int):
    return (select(Ticket, Event, Site).join(Event, Event.id == Ticket.event_id)
            .join(Site, Site.id == Event.venue_site_id).where(Ticket.user_id == user_id))


def user_tickets(session: Session, *, user_id: int, cursor: tuple | None, limit: int, keys: KeyRing,
                 language: str) -> list[TicketDetail]:
    """Return up to `limit` of the user's tickets after the cursor (ticket id), newest first."""
    query = _tickets_with_events(user_id)
    if cursor is not None:
        query = query.where(beyond([Ticket.id], cursor, descending=True))
    rows = session.exec(query.order_by(Ticket.id.desc()).limit(limit)).all()
    return [ticket_detail(t, e, v, keys=keys, language=language) for t, e, v in rows]


def user_ticket(session: Session, *, user_id: int, ticket_id: int) -> tuple[Ticket, Event, Site] | None:
    """Return one of the user's tickets with its event and venue; None for anyone else's."""
    return session.exec(_tickets_with_events(user_id).where(Ticket.id == ticket_id)).first()


def organiser_events(session: Session, *, principal: Principal, status: EventStatus | None,
                     start_from: datetime | None, until: datetime | None, cursor: tuple | None,
                     limit: int) -> list[Event]:
    """Return the organisation's events (admins: all) by start, filtered, after the cursor."""
    query = select(Event)
    if not principal.has_role("admin"):
        query = query.where(Event.organisation_id.in_(sorted(principal.organisation_ids)))
    if status is not None:
        query = query.where(Event.status == status)
    if start_from is not None:
        query = query.where(Event.ends_at >= start_from)
    if until is not None:
        query = query.where(Event.starts_at < until)
    if cursor is not None:
        query = query.where(beyond([Event.starts_at, Event.id], cursor, descending=False))
    return list(session.exec(query.order_by(Event.starts_at, Event.id).limit(limit)).all())


def check_ins_per_gate(session: Session, *, event_id: int) -> list[dict]:
    """Return how many tickets each gate admitted in each minute (Asia/Shanghai), in time order."""
    scans = session.exec(select(Ticket.checked_in_gate, Ticket.checked_in_at).where(
        Ticket.event_id == event_id, Ticket.checked_in_at.is_not(None))).all()
    counts = Counter((gate or "", city_time(at).replace(second=0, microsecond=0))
                     for gate, at in scans if at is not None)
    return [{"gate": gate, "minute": minute, "admitted": n}
            for (gate, minute), n in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0]))]


def way_home(session: Session, *, user_id: int, ticket_id: int) -> tuple[Point, datetime]:
    """Return where and when a ticket's holder leaves its event (venue, end); 404 not theirs, 409 not valid."""
    found = user_ticket(session, user_id=user_id, ticket_id=ticket_id)
    if found is None:
        raise NotFound("ticket_not_found", "No such ticket.")
    ticket, event, venue = found
    if not ticket.valid or event.status != EventStatus.published:
        raise Conflict("ticket_not_valid", "This ticket is no longer valid.")
    lat, lon = lat_lon(venue.location)
    return Point(lat=lat, lon=lon), event.ends_at


def leaving(session: Session, *, start: datetime, end: datetime) -> list[tuple[float, float, int]]:
    """Return the venues (lat, lon) of published events ending in [start, end], with their valid tickets."""
    rows = session.exec(select(Site.location, func.count(Ticket.id)).join(Event, Event.venue_site_id == Site.id)
                        .join(Ticket, Ticket.event_id == Event.id)
                        .where(Event.status == EventStatus.published, Event.ends_at >= start, Event.ends_at <= end,
                               Ticket.valid).group_by(Event.id, Site.id)).all()
    return [(*lat_lon(location), sold) for location, sold in rows]
