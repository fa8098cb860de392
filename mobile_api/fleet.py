"""Fleet operators: vehicles, telemetry, vehicle events, live fleet, KPIs, commands, console feeds."""
import time
from typing import Literal

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, model_validator
from sqlmodel import Session

from backend.db import get_session
from backend.errors import ApiError
from mobile_api.http import (
    BEARER, QueryParams, json_response, payment_gateway, require_principal, sse_event, sse_response,
)
from robotaxi_dispatch.console import live
from robotaxi_dispatch.rides import fleet
from robotaxi_dispatch.rides.models import TelemetryRow, VehicleCreate, VehiclePublic
from robotaxi_dispatch.rides.states import COMMANDS, VEHICLE_EVENTS

bp = APIBlueprint("fleet", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="fleet and operations")])
ROLES = ("operator", "admin")
FRAME_S = 0.4        # a few fleet frames a second keep the console's map moving smoothly
METRICS_EVERY = 5    # KPIs every fifth frame: they change slowly and cost more to work out
STREAM_MAX_S = 15 * 60  # then the page reconnects, with a fresh token if it needs one


class VehiclePath(BaseModel):
    vehicle_id: int


class TelemetryBatch(BaseModel):
    rows: list[TelemetryRow] = Field(min_length=1, max_length=10_000)


class VehicleEventBody(BaseModel):
    event: Literal[VEHICLE_EVENTS]
    energy_kwh: float | None = Field(default=None, ge=0, le=200,
                                     description="`charged`: energy the charger delivered (needed on a booked slot)")


class CommandBody(BaseModel):
    command: Literal[COMMANDS]


class BoxQuery(QueryParams):
    bbox: str = Field(description="south,west,north,east",
                      pattern=r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?,-?\d+(\.\d+)?,-?\d+(\.\d+)?$")


class VehicleList(BaseModel):
    items: list[VehiclePublic]


class VehicleDetail(VehiclePublic):
    ride: dict | None = Field(description="the ride it serves: status, passengers, pickup, drop-off")


class HistoryQuery(QueryParams):
    minutes: int = Field(default=60, ge=5, le=24 * 60)
    bucket_minutes: int = Field(default=5, ge=1, le=60)

    @model_validator(mode="after")
    def _bucket_fits(self):
        if self.bucket_minutes > self.minutes:
            raise ValueError("bucket_minutes may not exceed minutes")
        return self


def _apply(path: VehiclePath, action: str, energy_kwh: float | None = None):
    principal = require_principal(*ROLES)
    vehicle = fleet.vehicle_event(get_session(), payment_gateway(), current_app.extensions["redis"],
                                  principal=principal, vehicle_id=path.vehicle_id, event=action,
                                  charging=current_app.extensions.get("charging_desk"), energy_kwh=energy_kwh)
    return json_response(fleet.vehicle_public(vehicle))


@bp.post("/fleet/vehicles", responses={201: VehiclePublic}, security=BEARER)
def register_vehicle(body: VehicleCreate):
    """Register a vehicle (plate, model, seats, region) for the operator's fleet."""
    principal = require_principal(*ROLES)
    return json_response(fleet.vehicle_public(fleet.register_vehicle(get_session(), principal=principal,
                                                                     data=body)), 201)


@bp.post("/fleet/telemetry", security=BEARER)
def telemetry(body: TelemetryBatch):
    """Positions, speed and battery of many vehicles in one call (up to 10,000 rows)."""
    principal = require_principal(*ROLES)
    count = fleet.ingest_telemetry(get_session(), current_app.extensions["redis"], principal=principal,
                                   rows=body.rows)
    return json_response({"accepted": len(body.rows), "vehicles": count}, 202)


@bp.post("/fleet/vehicles/<int:vehicle_id>/events", responses={200: VehiclePublic}, security=BEARER)
def vehicle_event(path: VehiclePath, body: VehicleEventBody):
    """arrived_pickup, picked_up, dropped_off, fault, ...; an illegal transition is 409."""
    return _apply(path, body.event, body.energy_kwh)


@bp.post("/ops/vehicles/<int:vehicle_id>/commands", responses={200: VehiclePublic}, security=BEARER)
def command(path: VehiclePath, body: CommandBody):
    """return_to_depot, go_charge (books a nearby charger), pull_over, resume; a ride not yet
    picked up is re-dispatched."""
    return _apply(path, body.command)


@bp.get("/ops/fleet", responses={200: VehicleList}, security=BEARER)
def live_fleet(query: BoxQuery):
    """The operator's vehicles inside a bounding box, with status and battery."""
    principal = require_principal(*ROLES)
    south, west, north, east = (float(v) for v in query.bbox.split(","))
    if south >= north or west >= east:
        raise ApiError(422, "invalid_bbox", "bbox is south,west,north,east with south < north, west < east.")
    rows = fleet.fleet_in_box(get_session(), principal=principal, box=(south, west, north, east))
    return json_response(VehicleList(items=[fleet.vehicle_public(v) for v in rows]))


@bp.get("/ops/metrics", security=BEARER)
def ops_metrics():
    """Open requests, mean and p95 pickup wait, utilisation and served share (last hour)."""
    return json_response(fleet.metrics(get_session(), principal=require_principal(*ROLES)))


@bp.get("/ops/map")
def city_map():
    """District outlines, rivers and bridges of Chongqing as GeoJSON, for the console's base map."""
    return json_response(live.city_map())


@bp.get("/ops/vehicles/<int:vehicle_id>", responses={200: VehicleDetail}, security=BEARER)
def vehicle_detail(path: VehiclePath):
    """One vehicle of the operator's fleet with the ride it is serving."""
    principal, session = require_principal(*ROLES), get_session()
    vehicle = fleet.own_vehicle(session, principal=principal, vehicle_id=path.vehicle_id)
    return json_response({**fleet.vehicle_public(vehicle).model_dump(mode="json"),
                          **live.vehicle_detail(session, vehicle=vehicle)})


@bp.get("/ops/metrics/history", security=BEARER)
def metrics_history(query: HistoryQuery):
    """Requests, completed rides and mean pickup wait per bucket over the last hour (or `minutes`)."""
    return json_response({"buckets": live.metrics_history(get_session(), principal=require_principal(*ROLES),
                                                          minutes=query.minutes,
                                                          bucket_minutes=query.bucket_minutes)})


@bp.get("/ops/stream", security=BEARER)
def ops_stream():
    """Server-Sent Events: `fleet` frames a few times a second and `metrics` every two seconds."""
    principal = require_principal(*ROLES)
    engine = current_app.extensions["db_engine"]

    def stream():
        deadline, n = time.monotonic() + STREAM_MAX_S, 0
        while time.monotonic() < deadline:
            with Session(engine) as session:
                yield sse_event("fleet", live.live_frame(session, principal=principal))
                if n % METRICS_EVERY == 0:
                    yield sse_event("metrics", fleet.metrics(session, principal=principal))
            n += 1
            time.sleep(FRAME_S)

    return sse_response(stream())
