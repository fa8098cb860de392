"""Operators' fleet: vehicles, telemetry, vehicle events and commands, live view and KPIs."""
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from redis import RedisError
from sqlalchemy import ARRAY, BigInteger, any_, bindparam, func, update
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.db import unique_or, write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, DomainError, Forbidden, Invalid, NotFound
from backend.geo import Point
from backend.i18n import CITY_TZ
from payments.runner import run_after_commit
from robotaxi_dispatch import charging as charging_desk
from robotaxi_dispatch.charging import ChargingDesk
from robotaxi_dispatch.engine import booked
from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.rides import fares, notices, positions
from robotaxi_dispatch.rides.models import (
    Ride,
    RideEvent,
    RideStatus,
    TelemetryRow,
    Vehicle,
    VehicleCreate,
    VehiclePublic,
    VehicleStatus,
)
from robotaxi_dispatch.rides.services import ETA, hour_of, record, settle
from robotaxi_dispatch.rides.states import VEHICLE_MOVES, check_ride_move, vehicle_move
from robotaxi_dispatch.streams import (
    notify_ride,
    publish_positions,
    publish_request,
    publish_ride_positions,
    publish_status,
)

NOT_PICKED_UP = (RideStatus.assigned, RideStatus.arriving)
# The platform's own processes (dispatcher, demo fleet) act on every fleet.
PLATFORM = Principal(user_id=0, roles=frozenset({"admin"}), organisation_ids=frozenset())


def register_vehicle(session: Session, *, principal: Principal, data: VehicleCreate) -> Vehicle:
    """Register an autonomous vehicle for the operator's organisation."""
    if not principal.organisation_ids:
        raise Forbidden("no_organisation", "Join a fleet organisation first.")
    taken = Conflict("plate_taken", "A vehicle with this plate is registered.")
    if session.exec(select(Vehicle.id).where(Vehicle.plate == data.plate)).first():
        raise taken
    vehicle = Vehicle(**data.model_dump(), organisation_id=min(principal.organisation_ids))
    with unique_or(taken), write_transaction(session):
        session.add(vehicle)
    return vehicle


def _among(session: Session, column, ids: list[int]):
    """`column IN ids` for a telemetry batch: on PostgreSQL one array parameter, since thousands of
    separate parameters cost a second to send and plan."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _fleet_ids(session: Session, principal: Principal, ids: list[int], *columns) -> dict[int, tuple]:
    """Return the region (and any further columns) of each listed vehicle, refusing other fleets'."""
    rows = session.exec(select(Vehicle.id, Vehicle.organisation_id, Vehicle.region, *columns)
                        .where(_among(session, Vehicle.id, ids))).all()
    found = {vid: (org, *rest) for vid, org, *rest in rows}
    unknown = sorted(set(ids) - set(found))
    if unknown:
        raise NotFound("vehicle_not_found", "Unknown vehicles: {ids}", params={"ids": unknown[:10]})
    foreign = any(org not in principal.organisation_ids for org, *_ in found.values())
    if foreign and not principal.has_role("admin"):
        raise Forbidden("forbidden", "Some vehicles belong to another fleet.")
    return {vid: tuple(rest) for vid, (_, *rest) in found.items()}


def ingest_telemetry(session: Session, redis, *, principal: Principal, rows: list[TelemetryRow]) -> int:
    """Keep the latest position of each vehicle, pass the batch to each region's dispatcher and
    each rider watching one of these vehicles come."""
    known = _fleet_ids(session, principal, sorted({r.vehicle_id for r in rows}), Vehicle.ride_id)
    latest = {}
    for row in sorted(rows, key=lambda r: r.ts):
        latest[row.vehicle_id] = row
    by_region: dict[str, list[TelemetryRow]] = {}
    for row in latest.values():
        by_region.setdefault(known[row.vehicle_id][0], []).append(row)
    for region, batch in by_region.items():
        try:
            positions.remember(redis, region, batch)
        except RedisError:  # no write-behind without Redis: the rows take the positions at once
            positions.write(session, [(r.vehicle_id, positions.fields_of(r)) for r in batch])
        publish_positions(redis, region, {"id": [r.vehicle_id for r in batch], "lat": [r.lat for r in batch],
                                          "lon": [r.lon for r in batch], "soc": [r.soc for r in batch],
                                          "ts": [r.ts.timestamp() for r in batch]})
    _tell_riders(session, redis, [(row, known[row.vehicle_id][1]) for row in latest.values()
                                  if known[row.vehicle_id][1] is not None])
    return len(latest)


def _tell_riders(session: Session, redis, moving: list[tuple[TelemetryRow, int]]) -> None:
    """Publish each served ride's vehicle position, with the pickup ETA until the rider is aboard."""
    if not moving:
        return
    # sqlmodel's select() is typed for up to four columns; it takes any number.
    found: Sequence[Any] = session.exec(select(Ride.id, Ride.region, Ride.status, Ride.pickup_lat,  # type: ignore[call-overload]
                                               Ride.pickup_lon)
                                        .where(_among(session, Ride.id, [r for _, r in moving]))).all()
    rides = {ride.id: ride for ride in found}
    watched = [(row, rides[ride_id]) for row, ride_id in moving if ride_id in rides]
    if not watched:
        return
    lat, lon, plat, plon = np.array([(row.lat, row.lon, ride.pickup_lat, ride.pickup_lon)
                                     for row, ride in watched]).T
    etas = ETA.seconds(*to_xy(lat, lon), *to_xy(plat, plon), hour=hour_of(watched[0][0].ts))
    by_region: dict[str, list[tuple[int, dict]]] = {}
    for (row, ride), eta in zip(watched, etas.tolist()):
        by_region.setdefault(ride.region, []).append((ride.id, {
            "vehicle_id": row.vehicle_id, "lat": row.lat, "lon": row.lon, "heading": row.heading,
            "at": row.ts.astimezone(CITY_TZ).isoformat(), "pickup_eta_s": _pickup_eta(ride.status, eta)}))
    for region, updates in by_region.items():
        publish_ride_positions(redis, region, updates)


def _pickup_eta(status: str, seconds: float) -> int | None:
    """Seconds until pickup: none once the rider is aboard, none left once the vehicle waits there."""
    if status == RideStatus.arriving:
        return 0
    return round(seconds) if status == RideStatus.assigned else None


def own_vehicle(session: Session, *, principal: Principal, vehicle_id: int) -> Vehicle:
    """Return one vehicle of the caller's fleet (404 unknown, 403 another fleet's)."""
    _fleet_ids(session, principal, [vehicle_id])
    return session.get_one(Vehicle, vehicle_id)


def locked_vehicle(session: Session, vehicle_id: int) -> Vehicle:
    """Lock the vehicle's row and read it afresh: an earlier read in this session may be stale."""
    return session.exec(select(Vehicle).where(Vehicle.id == vehicle_id).with_for_update()).one()


def vehicle_event(session: Session, gateway, redis, *, principal: Principal, vehicle_id: int,
                  event: str, now: datetime | None = None, charging: ChargingDesk | None = None,
                  energy_kwh: float | None = None) -> Vehicle:
    """Apply a vehicle's event or an operator's command to the vehicle, its ride and its charging slot."""
    now = now or utcnow()
    current = own_vehicle(session, principal=principal, vehicle_id=vehicle_id)
    if event == "charged" and current.charge_booking_id and energy_kwh is None:
        raise Invalid("energy_required", "A vehicle charging on a booked slot reports energy_kwh.")
    slot = charging_desk.book_near(session, charging, current, now) if event == "go_charge" else None
    if event == "charging_started" and current.charge_booking_id and charging:
        charging.plug_in(session, booking_id=current.charge_booking_id, now=now)
    requeue = owed = None
    try:
        with write_transaction(session):
            vehicle = locked_vehicle(session, vehicle_id)  # the caller's, as own_vehicle checked
            ride = session.get(Ride, vehicle.ride_id) if vehicle.ride_id else None
            before, vehicle.status = vehicle.status, vehicle_move(event, vehicle.status)
            left = charging_desk.aim_at(vehicle, slot)
            if before == VehicleStatus.rebalancing and slot is None:
                vehicle.target_lat = vehicle.target_lon = None  # arrived, or sent elsewhere
            if ride is not None:
                requeue = _ride_follows(session, vehicle, ride, event, now)
                if ride.status == RideStatus.completed:
                    assert ride.fare_fen is not None  # a completed ride has its fare
                    owed = settle(session, ride=ride, keep_fen=ride.fare_fen)
    except DomainError:
        if slot is not None and charging is not None:  # the move was refused: give the slot back
            charging.release(session, booking_id=slot.booking_id, now=now)
        raise
    if left:
        charging_desk.settle_slot(session, charging, booking_id=left, energy_kwh=energy_kwh, now=now,
                                  plugged_in=before == VehicleStatus.charging)
    publish_status(redis, vehicle.region, vehicle.id, vehicle.status)
    run_after_commit(session, gateway, owed)
    if ride is not None:
        notify_ride(redis, ride.region, ride.id)
    if requeue:
        publish_request(redis, requeue.region, requeue.id)
    return vehicle


def rebalance(session: Session, *, moves: list[tuple[int, float, float]]) -> list[int]:
    """Send free vehicles toward (lat, lon) targets to meet forecast demand; return those sent.

    One transaction for the whole batch; a vehicle no longer free is left out. Only the
    dispatcher sends vehicles rebalancing, and it knows: no status note.
    """
    allowed = list(VEHICLE_MOVES["rebalance"][0])
    with write_transaction(session):
        free = set(session.exec(select(Vehicle.id).where(
            Vehicle.id.in_([vid for vid, _, _ in moves]), Vehicle.status.in_(allowed)).with_for_update()).all())
        sent = [(vid, lat, lon) for vid, lat, lon in moves if vid in free]
        if sent:
            session.connection().execute(update(Vehicle.__table__).where(
                Vehicle.__table__.c.id == bindparam("vid")), [
                {"vid": vid, "status": VehicleStatus.rebalancing, "target_lat": lat, "target_lon": lon}
                for vid, lat, lon in sent])
    return [vid for vid, _, _ in sent]


def _ride_follows(session: Session, vehicle: Vehicle, ride: Ride, event: str, now: datetime) -> Ride | None:
    """Move the vehicle's ride along; return it if it needs another vehicle."""
    if event == "arrived_pickup":
        check_ride_move(ride.status, RideStatus.arriving)
        ride.status, ride.pickup_eta_s = RideStatus.arriving, 0
        notices.car_arrived(session, ride, vehicle)
    elif event == "picked_up":
        check_ride_move(ride.status, RideStatus.in_progress)
        ride.status, ride.picked_up_at = RideStatus.in_progress, now
    elif event == "dropped_off":
        check_ride_move(ride.status, RideStatus.completed)
        seconds = (now - (ride.picked_up_at or now)).total_seconds() or ride.trip_s
        fare = fares.fare_for(distance_m=ride.distance_m, trip_s=seconds, at=ride.picked_up_at or now)
        ride.status, ride.ended_at = RideStatus.completed, now
        ride.fare_fen = min(fare.total_fen, ride.authorised_fen)
        vehicle.ride_id = None
    elif ride.status in NOT_PICKED_UP:
        # A fault or a command takes the vehicle away before pickup: the ride needs another one.
        ride.status, ride.vehicle_id, ride.pickup_eta_s = RideStatus.requested, None, None
        vehicle.ride_id = None
        record(session, ride, f"vehicle_{event}")
        return ride
    else:
        return None
    record(session, ride, event, vehicle_id=vehicle.id)
    return None


def vehicle_public(vehicle: Vehicle) -> VehiclePublic:
    return VehiclePublic(id=vehicle.id, plate=vehicle.plate, model=vehicle.model, seats=vehicle.seats,
                         region=vehicle.region, status=vehicle.status, ride_id=vehicle.ride_id,
                         position=None if vehicle.lat is None or vehicle.lon is None
                         else Point(lat=vehicle.lat, lon=vehicle.lon),
                         soc=vehicle.soc, position_at=vehicle.position_at)


def own_fleet(query, principal: Principal):
    """Limit a query on vehicles to the caller's organisations, unless the caller is an admin."""
    if principal.has_role("admin"):
        return query
    return query.where(Vehicle.organisation_id.in_(principal.organisation_ids))


def visible_rides(principal: Principal, *columns):
    """Select rides an operator answers for: their fleet's, and those no vehicle serves yet."""
    query = select(*columns).join(Vehicle, Vehicle.id == Ride.vehicle_id, isouter=True)
    if principal.has_role("admin"):
        return query
    return query.where(Vehicle.organisation_id.in_(principal.organisation_ids) | Ride.vehicle_id.is_(None))


# How far a vehicle can have moved since its row was last flushed: the box is widened by this
# for the query, then cut exactly on the latest positions.
FLUSH_MARGIN_DEG = 0.01


def fleet_in_box(session: Session, redis, *, principal: Principal,
                 box: tuple[float, float, float, float]) -> list[Vehicle]:
    """Return the caller's fleet inside (south, west, north, east), at their latest positions."""
    south, west, north, east = box
    m = FLUSH_MARGIN_DEG
    query = select(Vehicle).where(Vehicle.lat.between(south - m, north + m), Vehicle.lon.between(west - m, east + m))
    vehicles = list(session.exec(own_fleet(query, principal).order_by(Vehicle.id)).all())
    positions.overlay(redis, vehicles)
    return [v for v in vehicles if south <= v.lat <= north and west <= v.lon <= east]


def metrics(session: Session, *, principal: Principal, since: timedelta = timedelta(hours=1)) -> dict:
    """Return open requests, mean and p95 pickup wait (rides on demand), utilisation, served share and the
    on-time share of booked pickups."""
    now = utcnow()
    rides = session.exec(visible_rides(principal, Ride).where(Ride.requested_at >= now - since)).all()
    waits = np.array([(r.picked_up_at - r.requested_at).total_seconds() for r in rides
                      if r.picked_up_at and r.pickup_at is None])  # a booked rider waits for their time
    ended = [r for r in rides if r.status in (RideStatus.completed, RideStatus.no_vehicle,
                                              RideStatus.cancelled)]
    statuses = dict(session.exec(own_fleet(select(Vehicle.status, func.count()), principal)
                                 .group_by(Vehicle.status)).all())
    busy = statuses.get(VehicleStatus.dispatched, 0) + statuses.get(VehicleStatus.on_trip, 0)
    in_service = busy + statuses.get(VehicleStatus.available, 0)
    served = [r for r in ended if r.status == RideStatus.completed]
    return {"open_requests": sum(r.status == RideStatus.requested for r in rides),
            "mean_pickup_wait_s": float(waits.mean()) if len(waits) else None,
            "p95_pickup_wait_s": float(np.percentile(waits, 95)) if len(waits) else None,
            "utilisation": busy / in_service if in_service else None,
            "served_share": len(served) / len(ended) if ended else None,
            "booked_on_time_share": _booked_on_time(session, principal, now - since, now),
            "vehicles_by_status": statuses, "window_s": int(since.total_seconds())}


def _booked_on_time(session: Session, principal: Principal, start: datetime, end: datetime) -> float | None:
    """Return the share of booked pickups due in [start, end] (not cancelled) a car reached in time."""
    due = session.exec(visible_rides(principal, Ride.id, Ride.pickup_at).where(
        Ride.pickup_at >= start, Ride.pickup_at <= end, Ride.status != RideStatus.cancelled)).all()
    arrived = dict(session.exec(select(RideEvent.ride_id, func.min(RideEvent.at)).where(
        RideEvent.ride_id.in_([ride_id for ride_id, _ in due]), RideEvent.status == RideStatus.arriving)
        .group_by(RideEvent.ride_id)).all()) if due else {}
    return booked.on_time_share(np.array([at.timestamp() for _, at in due]),
                                np.array([arrived[i].timestamp() if i in arrived else np.nan for i, _ in due]))
