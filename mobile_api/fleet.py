"""Fleet operators: vehicles, telemetry, vehicle events, live fleet, KPIs, commands, console feeds."""
from typing import Literal

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, model_validator

from backend.db import get_session
from backend.exceptions import Conflict, Forbidden, IllegalTransition, Invalid, NotFound, TooManyRequests, Unavailable
from backend.geo import Point
from backend.i18n import CityTime
from booking.bookings import fleet as fleet_billing
from mobile_api.http import BEARER, QueryParams, json_response, payment_gateway, require_principal, token_expires_at
from mobile_api.live import LiveStream, open_stream, stream_deadline
from mobile_api.openapi import operation, stream
from mobile_api.schemas import FeatureCollection
from robotaxi_dispatch.console import live
from robotaxi_dispatch.rides import fleet, positions
from robotaxi_dispatch.rides.models import TelemetryRow, VehicleCreate, VehiclePublic
from robotaxi_dispatch.rides.states import COMMANDS, VEHICLE_EVENTS
from robotaxi_dispatch.streams import CONSOLE_CHANNEL

bp = APIBlueprint("fleet", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="fleet and operations",
    description="Fleet operators: vehicles, telemetry, vehicle events and commands, the live fleet, KPIs, "
                "and the console's feeds.")])
ROLES = ("operator", "admin")
BBOX = r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?,-?\d+(\.\d+)?,-?\d+(\.\d+)?$"


class VehiclePath(BaseModel):
    vehicle_id: int


class TelemetryBatch(BaseModel):
    """Positions, speed and battery of many vehicles."""

    rows: list[TelemetryRow] = Field(min_length=1, max_length=10_000)


class VehicleEventBody(BaseModel):
    """Something that happened to a vehicle."""

    # A Literal of the tuple's values: pydantic and the spec read them; mypy cannot, statically.
    event: Literal[VEHICLE_EVENTS]  # type: ignore[valid-type]
    energy_kwh: float | None = Field(default=None, ge=0, le=200,
                                     description="`charged`: energy the charger delivered (needed on a booked slot)")


class CommandBody(BaseModel):
    """An operator's command to a vehicle."""

    command: Literal[COMMANDS]  # type: ignore[valid-type]  # see VehicleEventBody


class BoxQuery(QueryParams):
    bbox: str = Field(description="south,west,north,east", pattern=BBOX)


class StreamQuery(QueryParams):
    bbox: str | None = Field(default=None, description="south,west,north,east", pattern=BBOX)


class StatementQuery(QueryParams):
    month: str = Field(pattern=r"^(20\d\d|2100)-(0[1-9]|1[0-2])$", description="YYYY-MM, Asia/Shanghai")
    organisation_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                        description="the fleet; default: the caller's first organisation")


class VehicleList(BaseModel):
    """The operator's vehicles in a bounding box."""

    items: list[VehiclePublic]


class ServedRide(BaseModel):
    """The ride a vehicle serves, without who the rider is."""

    id: int
    status: str
    passengers: int
    pickup: Point
    dropoff: Point
    requested_at: CityTime


class VehicleDetail(VehiclePublic):
    """A vehicle with the ride it serves."""

    ride: ServedRide | None = Field(description="the ride it serves, if any")


class TelemetryAccepted(BaseModel):
    """How much of a telemetry batch was taken."""

    accepted: int = Field(description="rows received")
    vehicles: int = Field(description="vehicles whose latest position was taken")


class OpsMetrics(BaseModel):
    """Fleet KPIs over the last hour."""

    open_requests: int
    mean_pickup_wait_s: float | None
    p95_pickup_wait_s: float | None
    utilisation: float | None = Field(description="busy vehicles / vehicles in service")
    served_share: float | None = Field(description="completed / ended rides")
    booked_on_time_share: float | None = Field(
        default=None, description="booked pickups due in the window (not cancelled) a car reached by their time "
                                  "(2 minutes' grace); null when none were due")
    vehicles_by_status: dict[str, int]
    window_s: int


class MetricsBucket(BaseModel):
    """Requests, completed rides and mean pickup wait in one bucket."""

    start: CityTime
    requests: int
    completed: int
    mean_pickup_wait_s: float | None


class MetricsHistory(BaseModel):
    """Fleet KPIs per time bucket."""

    buckets: list[MetricsBucket]


class HistoryQuery(QueryParams):
    minutes: int = Field(default=60, ge=5, le=24 * 60)
    bucket_minutes: int = Field(default=5, ge=1, le=60)

    @model_validator(mode="after")
    def _bucket_fits(self):
        if self.bucket_minutes > self.minutes:
            raise ValueError("bucket_minutes may not exceed minutes")
        return self


def _redis():
    return current_app.extensions["redis"]


def _box(bbox: str) -> tuple[float, float, float, float]:
    south, west, north, east = (float(v) for v in bbox.split(","))
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise Invalid("invalid_bbox", "bbox is south,west,north,east in degrees: latitudes within -90..90, "
                                      "longitudes within -180..180, south < north, west < east.")
    return south, west, north, east


def _apply(path: VehiclePath, action: str, energy_kwh: float | None = None):
    principal = require_principal(*ROLES)
    vehicle = fleet.vehicle_event(get_session(), payment_gateway(), _redis(),
                                  principal=principal, vehicle_id=path.vehicle_id, event=action,
                                  charging=current_app.extensions.get("charging_desk"), energy_kwh=energy_kwh)
    positions.overlay(_redis(), [vehicle])
    return json_response(fleet.vehicle_public(vehicle))


@bp.post("/fleet/vehicles", security=BEARER, **operation(
    "registerVehicle", {201: VehiclePublic}, raises=(Forbidden, Conflict),
    example={"plate": "渝A·D12345", "model": "apollo-rt6", "seats": 4, "region": "liangjiang"}))
def register_vehicle(body: VehicleCreate):
    """Register a vehicle (plate, model, seats, region) for the operator's fleet."""
    principal = require_principal(*ROLES)
    return json_response(fleet.vehicle_public(fleet.register_vehicle(get_session(), principal=principal,
                                                                     data=body)), 201)


@bp.post("/fleet/telemetry", security=BEARER, **operation(
    "sendTelemetry", {202: TelemetryAccepted}, raises=(Forbidden, NotFound),
    example={"rows": [{"vehicle_id": 3, "lat": 29.7162, "lon": 106.6305, "heading": 90, "speed_mps": 8.3,
                       "soc": 76.5, "ts": "2026-12-01T14:00:01+08:00"}]}))
def telemetry(body: TelemetryBatch):
    """Positions, speed and battery of many vehicles in one call (up to 10,000 rows)."""
    principal = require_principal(*ROLES)
    count = fleet.ingest_telemetry(get_session(), _redis(), principal=principal,
                                   rows=body.rows)
    return json_response(TelemetryAccepted(accepted=len(body.rows), vehicles=count), 202)


@bp.post("/fleet/vehicles/<int:vehicle_id>/events", security=BEARER, **operation(
    "reportVehicleEvent", {200: VehiclePublic}, raises=(Forbidden, NotFound, IllegalTransition, Conflict, Invalid),
    example={"event": "arrived_pickup"}))
def vehicle_event(path: VehiclePath, body: VehicleEventBody):
    """arrived_pickup, picked_up, dropped_off, fault, ...; an illegal transition is 409."""
    return _apply(path, body.event, body.energy_kwh)


@bp.post("/ops/vehicles/<int:vehicle_id>/commands", security=BEARER, **operation(
    "commandVehicle", {200: VehiclePublic}, raises=(Forbidden, NotFound, IllegalTransition, Conflict),
    example={"command": "return_to_depot"}))
def command(path: VehiclePath, body: CommandBody):
    """return_to_depot, go_charge (books a nearby charger), pull_over, resume; a ride not yet
    picked up is re-dispatched."""
    return _apply(path, body.command)


@bp.get("/ops/fleet", security=BEARER, **operation("listLiveFleet", {200: VehicleList}, raises=(Forbidden,)))
def live_fleet(query: BoxQuery):
    """The operator's vehicles inside a bounding box, with status and battery."""
    principal = require_principal(*ROLES)
    rows = fleet.fleet_in_box(get_session(), _redis(), principal=principal, box=_box(query.bbox))
    return json_response(VehicleList(items=[fleet.vehicle_public(v) for v in rows]))


@bp.get("/ops/metrics", security=BEARER, **operation("getOpsMetrics", {200: OpsMetrics}, raises=(Forbidden,)))
def ops_metrics():
    """Open requests, mean and p95 pickup wait, utilisation and served share (last hour)."""
    return json_response(OpsMetrics(**fleet.metrics(get_session(), principal=require_principal(*ROLES))))


@bp.get("/ops/map", **operation("getCityMap", {200: FeatureCollection}))
def city_map():
    """District outlines, rivers and bridges of Chongqing as GeoJSON, for the console's base map."""
    return json_response(live.city_map())


@bp.get("/ops/vehicles/<int:vehicle_id>", security=BEARER,
        **operation("getVehicle", {200: VehicleDetail}, raises=(Forbidden, NotFound)))
def vehicle_detail(path: VehiclePath):
    """One vehicle of the operator's fleet with the ride it is serving."""
    principal, session = require_principal(*ROLES), get_session()
    vehicle = fleet.own_vehicle(session, principal=principal, vehicle_id=path.vehicle_id)
    positions.overlay(_redis(), [vehicle])
    return json_response(VehicleDetail(**fleet.vehicle_public(vehicle).model_dump(),
                                       **live.vehicle_detail(session, vehicle=vehicle)))


@bp.get("/ops/metrics/history", security=BEARER,
        **operation("getMetricsHistory", {200: MetricsHistory}, raises=(Forbidden,)))
def metrics_history(query: HistoryQuery):
    """Requests, completed rides and mean pickup wait per bucket over the last hour (or `minutes`)."""
    return json_response(MetricsHistory(buckets=live.metrics_history(
        get_session(), principal=require_principal(*ROLES), minutes=query.minutes,
        bucket_minutes=query.bucket_minutes)))


@bp.get("/ops/stream", security=BEARER, **operation(
    "streamFleet", {200: stream("`fleet` frames, one per region a few times a second: `region`, vehicles as "
                                "columns (id, lat, lon, heading, status code, soc, ride, rebalancing or "
                                "charging target), open requests, `unserved` requests, the demand `heat` "
                                "cells and `alerts` (fault, stuck_ride, charger_down); only the caller's "
                                "organisation's vehicles and alerts, inside `bbox` if given. `metrics` (as "
                                "getOpsMetrics) every two seconds")},
    raises=(Forbidden, Invalid, TooManyRequests, Unavailable)))
def ops_stream(query: StreamQuery):
    """Server-Sent Events: each region's `fleet` frames of the caller's vehicles and alerts (inside
    `bbox` if given) a few times a second, and `metrics` every two seconds."""
    principal = require_principal(*ROLES)
    view = live.ConsoleView.of(principal, _box(query.bbox) if query.bbox else None)
    return open_stream(LiveStream(kind="console", channel=CONSOLE_CHANNEL, user_id=principal.user_id,
                                  ends_at=stream_deadline(token_expires_at()), opening=lambda session: ([], False),
                                  render=view.render, announced=True))


@bp.get("/fleet/statement", security=BEARER, **operation(
    "getFleetStatement", {200: fleet_billing.Statement}, raises=(Invalid, Forbidden)))
def fleet_statement(query: StatementQuery):
    """What the fleet owes for a month: its charging slots settled on account (operator or admin)."""
    principal = require_principal(*ROLES)
    organisation_id = query.organisation_id or min(principal.organisation_ids, default=None)
    if organisation_id is None:
        raise Invalid("organisation_required", "Say which fleet: organisation_id.")
    if not principal.has_role("admin") and organisation_id not in principal.organisation_ids:
        raise Forbidden("forbidden", "This fleet belongs to another organisation.")
    return json_response(fleet_billing.statement(get_session(), organisation_id=organisation_id,
                                                 month=query.month))
