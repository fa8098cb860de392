"""Robotaxi rides for citizens: quote, request now or book ahead, the ride home from an event, watch
(Server-Sent Events), cancel."""
from datetime import datetime

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.exceptions import Conflict, Invalid, NotFound, TooManyRequests, Unavailable
from backend.i18n import current_language
from booking.events.listing import way_home
from mobile_api.http import (
    BEARER,
    QueryParams,
    decode_keyset,
    json_response,
    keyset_page,
    payment_gateway,
    require_principal,
    token_expires_at,
)
from mobile_api.idempotency import idempotent
from mobile_api.live import LiveStream, StreamHeaders, open_stream, stream_deadline
from mobile_api.openapi import operation, stream
from payments.exceptions import PaymentDeclined, PaymentMethodRequired
from robotaxi_dispatch.rides import listing, scheduled, services, watching
from robotaxi_dispatch.rides.models import RideHome, RidePublic, RideQuote, RideRequest
from robotaxi_dispatch.streams import ride_channel

bp = APIBlueprint("rides", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="rides", description="Robotaxi rides: service areas, quotes, requests, live status, cancellation.")])
# From Liangjiang New Area's Yuelai to Lijia, inside one service area.
TRIP_EXAMPLE = {"pickup": {"lat": 29.72, "lon": 106.57}, "dropoff": {"lat": 29.6479, "lon": 106.5617},
                "passengers": 1}
HOME_EXAMPLE = {"dropoff": {"lat": 29.6479, "lon": 106.5617}, "passengers": 2}


class RidePath(BaseModel):
    ride_id: int


class TicketPath(BaseModel):
    ticket_id: int


class RideHistoryQuery(QueryParams):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class RidePage(BaseModel):
    """The caller's rides, latest request first."""

    items: list[RidePublic]
    next_cursor: str | None = None


def _redis():
    return current_app.extensions["redis"]


@bp.post("/rides/quote", **operation("quoteRide", {200: RideQuote}, raises=(Invalid,), example=TRIP_EXAMPLE))
def quote(body: RideRequest):
    """Fare, pickup ETA, trip time and distance; 422 `outside_service_area`."""
    offer, _ = services.quote(get_session(), _redis(), request=body, language=current_language())
    return json_response(offer)


@bp.post("/rides", security=BEARER, **operation(
    "requestRide", {201: RidePublic},
    raises=(Invalid, Conflict, PaymentMethodRequired, PaymentDeclined, Unavailable),
    idempotent=True, example=TRIP_EXAMPLE))
@idempotent
def request_ride(body: RideRequest):
    """Request a ride: the fare plus a margin is authorised against the wallet, the final fare captured at drop-off.

    With `pickup_at` (30 minutes to 7 days ahead, pickups 06:00-23:00) the ride is booked: `scheduled`,
    free to cancel until 30 minutes before, authorised two hours before, and dispatched to arrive
    on time; 409 `booked_rides_full` when the booked rides near that time already take their share
    of the fleet.
    """
    principal, session = require_principal(), get_session()
    if body.pickup_at:
        ride = scheduled.book_ride(session, payment_gateway(), _redis(), user_id=principal.user_id, request=body)
        return json_response(services.ride_public(session, ride, _redis(), language=current_language()), 201)
    ride, payment = services.request_ride(session, payment_gateway(), _redis(), user_id=principal.user_id,
                                          request=body)
    return json_response(services.ride_public(session, ride, _redis(), language=current_language(),
                                              payment=payment), 201)


@bp.post("/tickets/<int:ticket_id>/ride-home", security=BEARER, **operation(
    "bookRideHome", {201: RidePublic},
    raises=(NotFound, Invalid, Conflict, PaymentMethodRequired, PaymentDeclined, Unavailable),
    idempotent=True, example=HOME_EXAMPLE))
@idempotent
def book_ride_home(path: TicketPath, body: RideHome):
    """Book the ride home from an event: picked up at its venue when it ends (the ticket's holder only;
    the end must be 30 minutes to 7 days ahead). Otherwise a booked ride like any other."""
    principal, session = require_principal(), get_session()
    pickup, ends_at = way_home(session, user_id=principal.user_id, ticket_id=path.ticket_id)
    request = RideRequest(pickup=pickup, dropoff=body.dropoff, passengers=body.passengers, pickup_at=ends_at)
    ride = scheduled.book_ride(session, payment_gateway(), _redis(), user_id=principal.user_id, request=request)
    return json_response(services.ride_public(session, ride, _redis(), language=current_language()), 201)


@bp.get("/rides", security=BEARER, **operation("listRides", {200: RidePage}))
def list_rides(query: RideHistoryQuery):
    """The caller's rides, latest request first."""
    principal, session = require_principal(), get_session()
    rows = listing.ride_history(session, user_id=principal.user_id, limit=query.limit + 1,
                                cursor=decode_keyset(query.cursor, datetime, int))
    rides, cursor = keyset_page(rows, limit=query.limit, key=lambda r: (r.requested_at, r.id))
    return json_response(RidePage(items=[services.ride_public(session, r, language=current_language()) for r in rides],
                                  next_cursor=cursor))


@bp.get("/rides/<int:ride_id>", security=BEARER, **operation("getRide", {200: RidePublic}, raises=(NotFound,)))
def get_ride(path: RidePath):
    """Status, vehicle with its position, pickup ETA and fare."""
    principal, session = require_principal(), get_session()
    ride, payment, vehicle = services.own_ride(session, ride_id=path.ride_id, user_id=principal.user_id)
    return json_response(services.ride_public(session, ride, _redis(), language=current_language(),
                                              payment=payment, vehicle=vehicle))


@bp.post("/rides/<int:ride_id>/cancel", security=BEARER,
         **operation("cancelRide", {200: RidePublic}, raises=(NotFound, Conflict)))
def cancel_ride(path: RidePath):
    """Cancel before pickup; a fee once the vehicle is about to arrive."""
    principal, session = require_principal(), get_session()
    ride, payment, vehicle = services.cancel_ride(session, payment_gateway(), _redis(), ride_id=path.ride_id,
                                                  user_id=principal.user_id)
    return json_response(services.ride_public(session, ride, _redis(), language=current_language(),
                                              payment=payment, vehicle=vehicle))


@bp.get("/rides/<int:ride_id>/events", security=BEARER, **operation(
    "streamRideEvents", {200: stream("`status` events (status, reason, at) with `id:`, replayed after "
                                     "`Last-Event-ID`, and `position` events (vehicle_id, lat, lon, heading, at, "
                                     "pickup_eta_s, t: when published)")},
    raises=(NotFound, TooManyRequests, Unavailable)))
def ride_events(path: RidePath, header: StreamHeaders):
    """Server-Sent Events: every status change (with `id:`, replayed after `Last-Event-ID`) and,
    while a vehicle comes and carries the rider, its position with `pickup_eta_s`."""
    principal = require_principal()
    watch = watching.RideWatch(current_app.extensions["db_engine"], _redis(), ride_id=path.ride_id,
                               user_id=principal.user_id, seen=header.last_event_id or 0)
    return open_stream(LiveStream(kind="ride", channel=ride_channel(path.ride_id), user_id=principal.user_id,
                                  ends_at=stream_deadline(token_expires_at()), opening=watch.opening,
                                  render=watch.render))
