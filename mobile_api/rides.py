"""Robotaxi rides for citizens: quote, request, watch (Server-Sent Events), cancel."""
import time

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel
from sqlmodel import Session, select

from backend.db import get_session
from mobile_api.http import BEARER, json_response, payment_gateway, require_principal, sse_event, sse_response
from mobile_api.idempotency import idempotent
from robotaxi_dispatch.rides import services
from robotaxi_dispatch.rides.models import TERMINAL, RideEvent, RidePublic, RideQuote, RideRequest, RideStatus

bp = APIBlueprint("rides", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="rides")])
SSE_POLL_S = 1.0
SSE_MAX_S = 15 * 60


class RidePath(BaseModel):
    ride_id: int


def _redis():
    return current_app.extensions["redis"]


@bp.post("/rides/quote", responses={200: RideQuote})
def quote(body: RideRequest):
    """Fare, pickup ETA, trip time and distance; 422 `outside_service_area`."""
    offer, _ = services.quote(get_session(), request=body)
    return json_response(offer)


@bp.post("/rides", responses={201: RidePublic}, security=BEARER)
@idempotent
def request_ride(body: RideRequest):
    """Request a ride: the quoted fare plus a margin is authorised, the final fare captured at drop-off."""
    principal, session = require_principal(), get_session()
    ride = services.request_ride(session, payment_gateway(), _redis(), user_id=principal.user_id, request=body)
    return json_response(services.ride_public(session, ride), 201)


@bp.get("/rides/<int:ride_id>", responses={200: RidePublic}, security=BEARER)
def get_ride(path: RidePath):
    """Status, vehicle with its position, pickup ETA and fare."""
    principal, session = require_principal(), get_session()
    return json_response(services.ride_public(session, services.own_ride(session, ride_id=path.ride_id,
                                                                         user_id=principal.user_id)))


@bp.post("/rides/<int:ride_id>/cancel", responses={200: RidePublic}, security=BEARER)
def cancel_ride(path: RidePath):
    """Cancel before pickup; a fee once the vehicle is about to arrive."""
    principal, session = require_principal(), get_session()
    ride = services.cancel_ride(session, payment_gateway(), _redis(), ride_id=path.ride_id,
                                user_id=principal.user_id)
    return json_response(services.ride_public(session, ride))


@bp.get("/rides/<int:ride_id>/events", security=BEARER)
def ride_events(path: RidePath):
    """Server-Sent Events: each status change, and the vehicle's position while it moves."""
    principal = require_principal()
    services.own_ride(get_session(), ride_id=path.ride_id, user_id=principal.user_id)
    engine = current_app.extensions["db_engine"]

    def stream():
        seen, last_position, deadline = 0, None, time.monotonic() + SSE_MAX_S
        while time.monotonic() < deadline:
            with Session(engine) as session:
                ride = session.get(services.Ride, path.ride_id)
                for event in session.exec(select(RideEvent).where(RideEvent.ride_id == ride.id,
                                                                  RideEvent.id > seen).order_by(RideEvent.id)):
                    seen = event.id
                    yield sse_event("status", {"status": event.status, "reason": event.reason,
                                                    "at": event.at.isoformat(), **event.data}, event_id=event.id)
                view = services.ride_public(session, ride)
                position = view.vehicle and view.vehicle.position
                if position and position != last_position:
                    last_position = position
                    yield sse_event("position", {"vehicle_id": view.vehicle.id, **position.model_dump(),
                                                  "pickup_eta_s": view.pickup_eta_s})
                if RideStatus(ride.status) in TERMINAL:
                    return
            time.sleep(SSE_POLL_S)

    return sse_response(stream())
