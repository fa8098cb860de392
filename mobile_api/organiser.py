"""Organisers: events and tiers, publishing and cancelling, sales, and check-in at the gate."""
from flask import Response, current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, Field

from backend.db import get_session
from booking.events import catalogue, organiser, tickets
from booking.events.models import EventCreate, EventPublic, EventUpdate, TierCreate, TierUpdate
from mobile_api.http import BEARER, QueryParams, json_response, payment_gateway, require_principal

bp = APIBlueprint("organiser", __name__, url_prefix="/api/v1/organiser", abp_tags=[Tag(name="organiser")])
ROLES = ("organiser", "admin")


class EventPath(BaseModel):
    event_id: int


class TierPath(BaseModel):
    event_id: int
    tier_id: int


class SalesQuery(QueryParams):
    format: str = Field(default="json", pattern="^(json|csv)$")


class CheckInBody(BaseModel):
    code: str = Field(min_length=1, max_length=200)


class CheckInResult(BaseModel):
    result: str = Field(description="admitted | already_checked_in | invalid | wrong_event")


class Scan(BaseModel):
    code: str = Field(min_length=1, max_length=200)
    scanned_at: AwareDatetime


class ScanBatch(BaseModel):
    scans: list[Scan] = Field(min_length=1, max_length=5000)


class ScanResults(BaseModel):
    results: list[CheckInResult]


class CancelResult(BaseModel):
    event: EventPublic
    orders_cancelled: int


def _event_answer(event, status: int = 200):
    return json_response(catalogue.event_public(get_session(), event), status)


@bp.post("/events", responses={201: EventPublic}, security=BEARER)
def create_event(body: EventCreate):
    """Create a draft event for the caller's organisation."""
    principal = require_principal(*ROLES)
    return _event_answer(organiser.create_event(get_session(), principal=principal, data=body), 201)


@bp.patch("/events/<int:event_id>", responses={200: EventPublic}, security=BEARER)
def update_event(path: EventPath, body: EventUpdate):
    """Edit one of the organisation's events."""
    principal = require_principal(*ROLES)
    return _event_answer(organiser.update_event(get_session(), principal=principal,
                                                event_id=path.event_id, patch=body))


@bp.post("/events/<int:event_id>/tiers", responses={201: EventPublic}, security=BEARER)
def add_tier(path: EventPath, body: TierCreate):
    """Add a ticket tier (price, quota, sales window, per-order limit)."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.add_tier(session, principal=principal, event_id=path.event_id, data=body)
    return _event_answer(organiser.own_event(session, event_id=path.event_id, principal=principal), 201)


@bp.patch("/events/<int:event_id>/tiers/<int:tier_id>", responses={200: EventPublic}, security=BEARER)
def update_tier(path: TierPath, body: TierUpdate):
    """Edit a tier; the quota never drops below the seats taken."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.update_tier(session, principal=principal, event_id=path.event_id, tier_id=path.tier_id,
                          patch=body)
    return _event_answer(organiser.own_event(session, event_id=path.event_id, principal=principal))


@bp.post("/events/<int:event_id>/publish", responses={200: EventPublic}, security=BEARER)
def publish(path: EventPath):
    """Put the event on sale."""
    principal = require_principal(*ROLES)
    return _event_answer(organiser.publish_event(get_session(), principal=principal, event_id=path.event_id))


@bp.post("/events/<int:event_id>/cancel", responses={200: CancelResult}, security=BEARER)
def cancel(path: EventPath):
    """Cancel the event: every paid order is refunded in full."""
    principal = require_principal(*ROLES)
    event, count = organiser.cancel_event(get_session(), payment_gateway(), principal=principal,
                                          event_id=path.event_id)
    return json_response(CancelResult(event=catalogue.event_public(get_session(), event),
                                      orders_cancelled=count))


@bp.get("/events/<int:event_id>/sales", security=BEARER)
def sales(path: EventPath, query: SalesQuery):
    """Per tier: sold, held, checked in and revenue (fen); `?format=csv` for a spreadsheet."""
    principal = require_principal(*ROLES)
    rows = organiser.sales(get_session(), principal=principal, event_id=path.event_id)
    if query.format == "csv":
        return Response(organiser.sales_csv(rows), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="event-{path.event_id}-sales.csv"'})
    return json_response({"event_id": path.event_id, "tiers": rows})


@bp.post("/events/<int:event_id>/check-ins", responses={200: CheckInResult}, security=BEARER)
def check_in(path: EventPath, body: CheckInBody):
    """Scan a ticket at the gate: admitted once, then already_checked_in."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.own_event(session, event_id=path.event_id, principal=principal)
    result = tickets.check_in(session, event_id=path.event_id, code=body.code,
                              secret=current_app.config["SECRET_KEY"])
    return json_response(CheckInResult(result=result))


@bp.post("/events/<int:event_id>/check-ins/batch", responses={200: ScanResults}, security=BEARER)
def check_in_batch(path: EventPath, body: ScanBatch):
    """Upload scans made offline; applied in scan order, duplicates resolved."""
    principal, session = require_principal(*ROLES), get_session()
    organiser.own_event(session, event_id=path.event_id, principal=principal)
    results = tickets.check_in_batch(session, event_id=path.event_id,
                                     scans=[(s.code, s.scanned_at) for s in body.scans],
                                     secret=current_app.config["SECRET_KEY"])
    return json_response(ScanResults(results=[CheckInResult(result=r) for r in results]))
