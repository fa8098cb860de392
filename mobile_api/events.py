"""Citizens and events: browse, order tickets, pay, cancel, join waiting lists, show QR codes."""
from flask import Response, current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sqlmodel import select

from backend.db import get_session
from backend.errors import ApiError
from booking.events import catalogue, orders
from booking.events.models import (
    EventCategory, EventPublic, Order, OrderCreate, OrderPublic, Ticket, TicketPublic, WaitlistJoin,
)
from booking.events.tickets import qr_svg, ticket_code
from mobile_api.http import BEARER, QueryParams, decode_cursor, json_response, page, payment_gateway, require_principal
from mobile_api.idempotency import idempotent
from payments import services as payments

bp = APIBlueprint("events", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="events")])


class EventQuery(QueryParams):
    model_config = ConfigDict(populate_by_name=True)
    start_from: AwareDatetime | None = Field(default=None, alias="from")
    category: EventCategory | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_m: float = Field(default=100_000, gt=0, le=500_000)
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=64)


class EventPath(BaseModel):
    event_id: int


class OrderPath(BaseModel):
    order_id: int


class TicketPath(BaseModel):
    ticket_id: int


class EventPage(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None = None


class TicketList(BaseModel):
    items: list[TicketPublic]


class WaitlistPublic(BaseModel):
    id: int
    tier_id: int
    quantity: int
    position: int


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def order_answer(order, status: int = 200):
    """Answer an order with its tickets and payment."""
    session = get_session()
    payment = payments.payment_for(session, orders.PAYABLE_TYPE, order.id)
    view = catalogue.order_public(session, order, secret=_secret(),
                                  payment=payments.payment_public(payment).model_dump(mode="json") if payment else None)
    return json_response(view, status)


@bp.get("/events", responses={200: EventPage})
def list_events(query: EventQuery):
    """Published events from a date, by category, near a point (nearest first) or by date."""
    offset = decode_cursor(query.cursor)
    rows = catalogue.list_events(get_session(), start_from=query.start_from, category=query.category,
                                 lat=query.lat, lon=query.lon, radius_m=query.radius_m,
                                 limit=query.limit + 1, offset=offset)
    items, cursor = page(rows, limit=query.limit, offset=offset)
    return json_response(EventPage(items=items, next_cursor=cursor))


@bp.get("/events/<int:event_id>", responses={200: EventPublic})
def get_event(path: EventPath):
    """An event with its tiers and the seats left in each."""
    session = get_session()
    return json_response(catalogue.event_public(session, catalogue.published_event(session, path.event_id)))


@bp.post("/events/<int:event_id>/orders", responses={201: OrderPublic}, security=BEARER)
@idempotent
def place_order(path: EventPath, body: OrderCreate):
    """Hold seats as a `pending` order with `expires_at` and a payment; 409 `sold_out`."""
    principal, session = require_principal(), get_session()
    order = orders.place_order(session, user_id=principal.user_id, event_id=path.event_id, data=body)
    orders.request_payment(session, payment_gateway(), order=order)
    return order_answer(session.get(Order, order.id, populate_existing=True), 201)


@bp.get("/orders/<int:order_id>", responses={200: OrderPublic}, security=BEARER)
def get_order(path: OrderPath):
    """One of the caller's orders, with its tickets once paid."""
    principal = require_principal()
    return order_answer(orders.own_order(get_session(), order_id=path.order_id, user_id=principal.user_id))


@bp.post("/orders/<int:order_id>/cancel", responses={200: OrderPublic}, security=BEARER)
def cancel_order(path: OrderPath):
    """Cancel; a paid order is refunded in full until the event's cut-off."""
    principal = require_principal()
    return order_answer(orders.cancel_order(get_session(), payment_gateway(), order_id=path.order_id,
                                            user_id=principal.user_id))


@bp.get("/tickets", responses={200: TicketList}, security=BEARER)
def list_tickets():
    """The caller's tickets, each with its signed code for the QR."""
    principal, session = require_principal(), get_session()
    rows = session.exec(select(Ticket).where(Ticket.user_id == principal.user_id).order_by(Ticket.id)).all()
    return json_response(TicketList(items=[catalogue.ticket_public(t, secret=_secret()) for t in rows]))


@bp.get("/tickets/<int:ticket_id>/qr.svg", security=BEARER)
def ticket_qr(path: TicketPath):
    """The ticket's code as an SVG QR image."""
    principal = require_principal()
    ticket = get_session().get(Ticket, path.ticket_id)
    if ticket is None or ticket.user_id != principal.user_id:
        raise ApiError(404, "ticket_not_found", "No such ticket.")
    return Response(qr_svg(ticket_code(ticket, secret=_secret())), mimetype="image/svg+xml")


@bp.post("/events/<int:event_id>/waitlist", responses={201: WaitlistPublic}, security=BEARER)
def join_waitlist(path: EventPath, body: WaitlistJoin):
    """Queue for a sold-out tier; returned seats are offered in order as a held pending order."""
    principal = require_principal()
    entry = orders.join_waitlist(get_session(), user_id=principal.user_id, event_id=path.event_id, data=body)
    return json_response(WaitlistPublic(id=entry.id, tier_id=entry.tier_id, quantity=entry.quantity,
                                        position=orders.waitlist_position(get_session(), entry)), 201)
