"""Citizens and events: browse, order tickets, pay, cancel, join waiting lists, show QR codes."""
from flask import Response, current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from backend import keys
from backend.db import get_session
from backend.exceptions import Conflict, Invalid, NotFound
from backend.i18n import current_language, pick
from backend.keys import KeyRing
from booking.calendar import calendar_file
from booking.events import catalogue, listing, orders
from booking.events.models import (
    EventCategory,
    EventPublic,
    EventStatus,
    OrderCreate,
    OrderPublic,
    Ticket,
    WaitlistJoin,
)
from booking.events.tickets import qr_svg, ticket_code
from mobile_api.http import (
    BEARER,
    QueryParams,
    QueryTime,
    calendar_response,
    decode_keyset,
    encode_keyset,
    json_response,
    keyset_page,
    payment_gateway,
    require_principal,
)
from mobile_api.idempotency import idempotent
from mobile_api.openapi import operation
from payments import services as payments
from payments import wallet
from payments.exceptions import PaymentMethodRequired
from payments.models import Payment

bp = APIBlueprint("events", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="events", description="Motorsport and car-culture events: tickets, orders, waiting lists, QR codes.")])


class EventQuery(QueryParams):
    model_config = ConfigDict(populate_by_name=True)
    start_from: QueryTime | None = Field(default=None, alias="from")
    category: EventCategory | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float = Field(default=100_000, gt=0, le=500_000)
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class EventPath(BaseModel):
    event_id: int


class OrderPath(BaseModel):
    order_id: int


class TicketPath(BaseModel):
    ticket_id: int


class EventPage(BaseModel):
    """Published events, with the cursor of the next page."""

    items: list[EventPublic]
    next_cursor: str | None = None


class PageQuery(QueryParams):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class TicketPage(BaseModel):
    """The caller's tickets, newest first, with the cursor of the next page."""

    items: list[listing.TicketDetail]
    next_cursor: str | None = None


class WaitlistPublic(BaseModel):
    """A place on a tier's waiting list."""

    id: int
    tier_id: int
    quantity: int
    position: int


def _ticket_keys() -> KeyRing:
    return keys.ring(current_app.config, keys.TICKET_CODE)


def order_answer(order_id: int, status: int = 200, *, payment: Payment | None = None):
    """Answer an order as stored now, with its tickets and payment (read here unless the caller has it)."""
    session = get_session()
    payment = payment or payments.payment_for(session, orders.PAYABLE_TYPE, order_id)
    view = catalogue.order_public(session, order_id, keys=_ticket_keys(),
                                  payment=payments.payment_public(payment).model_dump(mode="json") if payment else None)
    return json_response(view, status)


@bp.get("/events", **operation("listEvents", {200: EventPage}))
def list_events(query: EventQuery):
    """Published events from a date, by category, near a point (nearest first) or by date."""
    near = (query.lat, query.lon, query.radius_m) if query.lat is not None and query.lon is not None else None
    search = catalogue.EventSearch(start_from=query.start_from, category=query.category, near=near)
    items, last = catalogue.list_events(get_session(), search=search, limit=query.limit,
                                        after=decode_keyset(query.cursor, *search.key_types),
                                        language=current_language())
    return json_response(EventPage(items=items, next_cursor=last and encode_keyset(last)))


@bp.get("/events/<int:event_id>", **operation("getEvent", {200: EventPublic}, raises=(NotFound,)))
def get_event(path: EventPath):
    """An event with its tiers and the seats left in each."""
    return json_response(catalogue.public_event(get_session(), path.event_id, language=current_language()))


@bp.post("/events/<int:event_id>/orders", security=BEARER, **operation(
    "placeOrder", {201: OrderPublic}, raises=(NotFound, Conflict, Invalid, PaymentMethodRequired), idempotent=True,
    example={"items": [{"tier_id": 7, "quantity": 2}]}))
@idempotent
def place_order(path: EventPath, body: OrderCreate):
    """Hold seats as a `pending` order with `expires_at` and a payment; 409 `sold_out`."""
    principal, session, gateway = require_principal(), get_session(), payment_gateway()
    placed = orders.place_order(session, gateway, user_id=principal.user_id, event_id=path.event_id, data=body)
    return order_answer(placed.order.id, 201, payment=placed.payment and wallet.send(session, gateway, placed.payment))


@bp.get("/orders/<int:order_id>", security=BEARER, **operation("getOrder", {200: OrderPublic}, raises=(NotFound,)))
def get_order(path: OrderPath):
    """One of the caller's orders, with its tickets once paid."""
    principal, session = require_principal(), get_session()
    order = orders.own_order(session, order_id=path.order_id, user_id=principal.user_id)
    orders.expire_on_read(session, event_id=order.event_id)
    return order_answer(order.id)


@bp.post("/orders/<int:order_id>/cancel", security=BEARER,
         **operation("cancelOrder", {200: OrderPublic}, raises=(NotFound, Conflict)))
def cancel_order(path: OrderPath):
    """Cancel; a paid order is refunded per the event's policy; 409 `ticket_used` once admitted."""
    principal = require_principal()
    orders.cancel_order(get_session(), payment_gateway(), order_id=path.order_id, user_id=principal.user_id)
    return order_answer(path.order_id)


@bp.get("/tickets", **operation("listTickets", {200: TicketPage}), security=BEARER)
def list_tickets(query: PageQuery):
    """The caller's tickets, newest first, each with its signed QR code, event, time and venue."""
    principal = require_principal()
    rows = listing.user_tickets(get_session(), user_id=principal.user_id, limit=query.limit + 1,
                                cursor=decode_keyset(query.cursor, int), keys=_ticket_keys(),
                                language=current_language())
    items, cursor = keyset_page(rows, limit=query.limit, key=lambda t: (t.id,))
    return json_response(TicketPage(items=items, next_cursor=cursor))


@bp.get("/tickets/<int:ticket_id>/qr.svg", security=BEARER, **operation(
    "getTicketQr", {200: {"description": "The QR code as SVG",
                          "content": {"image/svg+xml": {"schema": {"type": "string"}}}}}, raises=(NotFound,)))
def ticket_qr(path: TicketPath):
    """The ticket's code as an SVG QR image."""
    principal = require_principal()
    ticket = get_session().get(Ticket, path.ticket_id)
    if ticket is None or ticket.user_id != principal.user_id:
        raise NotFound("ticket_not_found", "No such ticket.")
    return Response(qr_svg(ticket_code(ticket, keys=_ticket_keys())), mimetype="image/svg+xml")


@bp.get("/tickets/<int:ticket_id>.ics", security=BEARER, **operation(
    "getTicketCalendar", {200: {"description": "The event as an iCalendar file",
                                "content": {"text/calendar": {"schema": {"type": "string"}}}}}, raises=(NotFound,)))
def ticket_calendar(path: TicketPath):
    """The ticket's event as a calendar file, with the venue's address and location."""
    principal, language = require_principal(), current_language()
    found = listing.user_ticket(get_session(), user_id=principal.user_id, ticket_id=path.ticket_id)
    if found is None:
        raise NotFound("ticket_not_found", "No such ticket.")
    ticket, event, venue = found
    body = calendar_file(uid=f"ticket-{ticket.id}", summary=pick(event.title_zh, event.title_en, language),
                         start=event.starts_at, end=event.ends_at, venue=venue, language=language,
                         description=pick(event.description_zh, event.description_en, language),
                         cancelled=not ticket.valid or event.status == EventStatus.cancelled)
    return calendar_response(body, f"ticket-{ticket.id}.ics")


@bp.post("/events/<int:event_id>/waitlist", security=BEARER, **operation(
    "joinWaitlist", {201: WaitlistPublic}, raises=(NotFound, Conflict, Invalid),
    example={"tier_id": 7, "quantity": 2}))
def join_waitlist(path: EventPath, body: WaitlistJoin):
    """Queue for a sold-out tier; returned seats are offered in order as a held pending order."""
    principal = require_principal()
    entry = orders.join_waitlist(get_session(), user_id=principal.user_id, event_id=path.event_id, data=body)
    return json_response(WaitlistPublic(id=entry.id, tier_id=entry.tier_id, quantity=entry.quantity,
                                        position=orders.waitlist_position(get_session(), entry)), 201)
