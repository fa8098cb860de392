"""Organisers: events and tiers, publishing and cancelling, sales, and check-in at the gate."""
from datetime import datetime

from flask import Response, current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from backend import keys
from backend.db import get_session
from backend.dbtypes import Moment, utcnow
from backend.exceptions import Conflict, Forbidden, Invalid, NotFound
from backend.i18n import current_language
from booking.events import catalogue, listing, organiser, tickets
from booking.events.models import (
    EventCreate,
    EventPublic,
    EventStatus,
    EventUpdate,
    TierCreate,
    TierPublic,
    TierUpdate,
)
from mobile_api.http import (
    BEARER,
    QueryParams,
    decode_keyset,
    json_response,
    keyset_page,
    payment_gateway,
    require_principal,
)
from mobile_api.openapi import operation

bp = APIBlueprint("organiser", __name__, url_prefix="/api/v1/organiser", abp_tags=[Tag(
    name="organiser", description="Event organisers: events and tiers, publishing, cancelling, sales, gate check-in.")])
ROLES = ("organiser", "admin")


class EventPath(BaseModel):
    event_id: int


class TierPath(BaseModel):
    event_id: int
    tier_id: int


class SalesQuery(QueryParams):
    format: str = Field(default="json", pattern="^(json|csv)$")


class OwnEventsQuery(QueryParams):
    model_config = ConfigDict(populate_by_name=True)
    status: EventStatus | None = None
    start_from: Moment | None = Field(default=None, alias="from", description="still running at or after")
    until: Moment | None = Field(default=None, alias="to", description="starting before")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class EventPage(BaseModel):
    """The organisation's events by start, with the cursor of the next page."""

    items: list[EventPublic]
    next_cursor: str | None = None


GATE = Field(default=None, min_length=1, max_length=40, description="the gate or scanner that scanned")


class CheckInBody(BaseModel):
    """A scanned ticket code, and the gate that scanned it."""

    code: str = Field(min_length=1, max_length=200)
    gate: str | None = GATE


class CheckInResult(BaseModel):
    """What a gate scan found."""

    result: str = Field(description="admitted | already_checked_in | invalid | wrong_event")


class Scan(BaseModel):
    """A ticket code and when it was scanned."""

    code: str = Field(min_length=1, max_length=200)
    scanned_at: Moment
    gate: str | None = GATE


class ScanBatch(BaseModel):
    """Scans made offline."""

    scans: list[Scan] = Field(min_length=1, max_length=5000)


class ScanResults(BaseModel):
    """The result of each uploaded scan, in upload order."""

    results: list[CheckInResult]


class TierSales(BaseModel):
    """Seats sold, held and checked in, and revenue, of one tier."""

    tier_id: int
    tier: str = Field(description="the tier's English name")
    quota: int
    sold: int = Field(description="seats in paid orders")
    held: int = Field(description="seats in pending orders")
    checked_in: int
    revenue_fen: int


class SalesReport(BaseModel):
    """Sales per tier; `?format=csv` answers the same table as text/csv."""

    # flask-openapi3 reads openapi_extra from the model's config, a key pydantic's ConfigDict does not list.
    model_config = ConfigDict(openapi_extra={  # type: ignore[typeddict-unknown-key]
        "content": {"text/csv": {"schema": {"type": "string"}}}})
    event_id: int
    tiers: list[TierSales]


class GateMinute(BaseModel):
    """Tickets one gate admitted in one minute."""

    gate: str = Field(description="empty for scans that named no gate")
    minute: datetime
    admitted: int


class GateCounts(BaseModel):
    """Admissions per gate, and per gate and minute (Asia/Shanghai)."""

    event_id: int
    total: int
    per_gate: dict[str, int]
    per_minute: list[GateMinute]


class CancelResult(BaseModel):
    """A cancelled event and how many orders were refunded."""

    event: EventPublic
    orders_cancelled: int


def _event_answer(event, status: int = 200):
    return json_response(catalogue.event_public(get_session(), event, language=current_language()), status)


@bp.get("/events", security=BEARER, **operation("listOwnEvents", {200: EventPage}, raises=(Forbidden,)))
def list_events(query: OwnEventsQuery):
    """The organisation's events by start, any status; `status`, `from` and `to` filter them."""
    principal, session = require_principal(*ROLES), get_session()
    rows = listing.organiser_events(session, principal=principal, status=query.status,
                                    start_from=query.start_from, until=query.until, limit=query.limit + 1,
                                    cursor=decode_keyset(query.cursor, datetime, int))
    events, cursor = keyset_page(rows, limit=query.limit, key=lambda e: (e.starts_at, e.id))
    language = current_language()
    return json_response(EventPage(items=[catalogue.event_public(session, e, language=language) for e in events],
                                   next_cursor=cursor))


@bp.post("/events", security=BEARER, **operation(
    "createEvent", {201: EventPublic}, raises=(Forbidden, Invalid),
    example={"category": "motorsport", "title_zh": "重庆国际赛车节", "title_en": "Chongqing Racing Festival",
             "venue_site_id": 12, "starts_at": "2027-05-01T09:00:00+08:00", "ends_at": "2027-05-01T18:00:00+08:00"}))
def create_event(body: EventCreate):
    """Create a draft event for the caller's organisation."""
    principal = require_principal(*ROLES)
    return _event_answer(organiser.create_event(get_session(), principal=principal, data=body), 201)


@bp.patch("/events/<int:event_id>", security=BEARER, **operation(
    "updateEvent", {200: EventPublic}, raises=(Forbidden, NotFound, Conflict, Invalid),
    example={"description_en": "Two days of racing at the Chongqing circuit."}))
def update_event(path: EventPath, body: EventUpdate):
    """Edit an event; a published one moves only later, and its holders may then cancel in full."""
    principal = require_principal(*ROLES)
    return _event_answer(organiser.update_event(get_session(), principal=principal,
                                                event_id=path.event_id, patch=body))


@bp.post("/events/<int:event_id>/tiers", security=BEARER, **operation(
    "addTier", {201: TierPublic}, raises=(Forbidden, NotFound, Conflict, Invalid),
    example={"name_zh": "看台票", "name_en": "Grandstand", "price_fen": 28000, "quota": 2000,
             "sales_start": "2027-03-01T10:00:00+08:00", "sales_end": "2027-04-30T23:59:00+08:00"}))
def add_tier(path: EventPath, body: TierCreate):
    """Add a ticket tier (price, quota, sales window, per-order limit); answers the tier with its id."""
    principal = require_principal(*ROLES)
    tier = organiser.add_tier(get_session(), principal=principal, event_id=path.event_id, data=body)
    return json_response(catalogue.tier_public(tier, utcnow(), language=current_language()), 201)


@bp.patch("/events/<int:event_id>/tiers/<int:tier_id>", security=BEARER, **operation(
    "updateTier", {200: EventPublic}, raises=(Forbidden, NotFound, Conflict, Invalid), example={"quota": 2500}))
def update_tier(path: TierPath, body: TierUpdate):
    """Edit a tier; the quota never drops below the seats taken."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.update_tier(session, principal=principal, event_id=path.event_id, tier_id=path.tier_id,
                          patch=body)
    return _event_answer(organiser.own_event(session, event_id=path.event_id, principal=principal))


@bp.post("/events/<int:event_id>/publish", security=BEARER,
         **operation("publishEvent", {200: EventPublic}, raises=(Forbidden, NotFound, Conflict)))
def publish(path: EventPath):
    """Put the event on sale."""
    principal = require_principal(*ROLES)
    return _event_answer(organiser.publish_event(get_session(), principal=principal, event_id=path.event_id))


@bp.post("/events/<int:event_id>/cancel", security=BEARER,
         **operation("cancelEvent", {200: CancelResult}, raises=(Forbidden, NotFound, Conflict)))
def cancel(path: EventPath):
    """Cancel the event: every paid order is refunded in full."""
    principal = require_principal(*ROLES)
    event, count = organiser.cancel_event(get_session(), payment_gateway(), principal=principal,
                                          event_id=path.event_id)
    return json_response(CancelResult(event=catalogue.event_public(get_session(), event, language=current_language()),
                                      orders_cancelled=count))


@bp.get("/events/<int:event_id>/sales", security=BEARER,
        **operation("getEventSales", {200: SalesReport}, raises=(Forbidden, NotFound)))
def sales(path: EventPath, query: SalesQuery):
    """Per tier: sold, held, checked in and revenue (fen); `?format=csv` for a spreadsheet."""
    principal = require_principal(*ROLES)
    rows = organiser.sales(get_session(), principal=principal, event_id=path.event_id)
    if query.format == "csv":
        return Response(organiser.sales_csv(rows), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="event-{path.event_id}-sales.csv"'})
    return json_response(SalesReport(event_id=path.event_id, tiers=rows))


@bp.post("/events/<int:event_id>/check-ins", security=BEARER, **operation(
    "checkInTicket", {200: CheckInResult}, raises=(Forbidden, NotFound), example={"code": "1842.Xf3kq9T2sVb0"}))
def check_in(path: EventPath, body: CheckInBody):
    """Scan a ticket at the gate: admitted once, then already_checked_in."""
    principal, session = require_principal(*ROLES), get_session()
    result = organiser.scan(session, principal=principal, event_id=path.event_id, code=body.code, gate=body.gate,
                            keys=keys.ring(current_app.config, keys.TICKET_CODE))
    return json_response(CheckInResult(result=result))


@bp.post("/events/<int:event_id>/check-ins/batch", security=BEARER, **operation(
    "checkInTicketBatch", {200: ScanResults}, raises=(Forbidden, NotFound),
    example={"scans": [{"code": "1842.Xf3kq9T2sVb0", "scanned_at": "2027-05-01T08:41:07+08:00"}]}))
def check_in_batch(path: EventPath, body: ScanBatch):
    """Upload scans made offline; applied in scan order, duplicates resolved."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.check_own_event(session, event_id=path.event_id, principal=principal)
    results = tickets.check_in_batch(session, event_id=path.event_id,
                                     scans=[(s.code, s.scanned_at, s.gate) for s in body.scans],
                                     keys=keys.ring(current_app.config, keys.TICKET_CODE))
    return json_response(ScanResults(results=[CheckInResult(result=r) for r in results]))


@bp.get("/events/<int:event_id>/check-ins", security=BEARER,
        **operation("countCheckIns", {200: GateCounts}, raises=(Forbidden, NotFound)))
def check_ins(path: EventPath):
    """Admissions per gate, and per gate and minute (Asia/Shanghai), for the gate supervisors."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.check_own_event(session, event_id=path.event_id, principal=principal)
    minutes = listing.check_ins_per_gate(session, event_id=path.event_id)
    per_gate: dict[str, int] = {}
    for row in minutes:
        per_gate[row["gate"]] = per_gate.get(row["gate"], 0) + row["admitted"]
    return json_response(GateCounts(event_id=path.event_id, total=sum(per_gate.values()), per_gate=per_gate,
                                    per_minute=[GateMinute(**row) for row in minutes]))
