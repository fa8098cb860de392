"""What the operator console shows: the city map, each region's live fleet frames and alerts, the KPIs."""
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import redis
from sqlalchemy import select as sa_select
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from backend import leases, realtime
from backend.accounts.tokens import Principal
from backend.dbtypes import utcnow
from backend.geography import BRIDGES, DISTRICT_NAMES, OUTLINES, RIVERS
from robotaxi_dispatch.charging import ChargingDesk
from robotaxi_dispatch.dispatcher import CHARGE_BELOW_SOC
from robotaxi_dispatch.rides import fleet, positions
from robotaxi_dispatch.rides.fleet import visible_rides
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus
from robotaxi_dispatch.streams import CONSOLE_CHANNEL, publish_console

log = logging.getLogger(__name__)
FRAME_S = 0.4       # a few fleet frames a second keep the console's map moving smoothly
METRICS_EVERY = 5   # KPIs every fifth frame: they change slowly and cost more to work out
LEASE_MS = 5_000
HEAT_WINDOW = timedelta(minutes=15)  # the demand heatmap: requests of the last quarter hour
HEAT_CELL = 0.01                     # degrees, about 1 km north-south in Chongqing
STUCK_AFTER = timedelta(minutes=5)   # a ride assigned this long and not picked up needs a look
WAITING = (RideStatus.assigned, RideStatus.arriving)

# Status order is the wire code of each status in a frame: the page maps codes to colours.
STATUSES = [s.value for s in VehicleStatus]
_CODES = {status: code for code, status in enumerate(VehicleStatus)}
COLUMNS = ("id", "org", "lat", "lon", "heading", "status", "soc", "ride", "to_lat", "to_lon")


def city_map() -> dict:
    """Return district outlines, river centrelines and bridges as one GeoJSON collection."""
    districts = [{"type": "Feature", "id": slug,
                  "geometry": {"type": "MultiPolygon", "coordinates": [[list(map(list, ring))] for ring in rings]},
                  "properties": {"kind": "district", "name_zh": DISTRICT_NAMES[slug][0],
                                 "name_en": DISTRICT_NAMES[slug][1]}}
                 for slug, rings in OUTLINES.items()]
    rivers = [{"type": "Feature", "id": name,
               "geometry": {"type": "LineString", "coordinates": [list(p) for p in line]},
               "properties": {"kind": "river", "half_width_m": half}}
              for name, (half, line) in RIVERS.items()]
    bridges = [{"type": "Feature", "id": label,
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"kind": "bridge", "river": river, "name": label}}
               for river, rows in BRIDGES.items() for label, lon, lat in rows]
    return {"type": "FeatureCollection", "features": districts + rivers + bridges}


class ConsolePublisher:
    """Publishes one region's fleet frames, once for every console open.

    One publisher per region holds that region's lease; each frame costs a few reads of the
    region's rows and of the latest positions in Redis, whatever the number of consoles open.
    Each console cuts its own organisation's vehicles and alerts out of the frame. The KPIs are
    city-wide: whichever region's publisher holds the KPI lease sends them.
    """

    def __init__(self, engine, redis, *, region: str, owner: str, charging: ChargingDesk | None = None):
        self.engine, self.redis, self.region, self.owner = engine, redis, region, owner
        self.charging = charging
        self.frames = 0

    def step(self) -> None:
        """Publish one frame, and the KPIs every few frames."""
        with Session(self.engine) as session:
            frame = fleet_frame(session, self.redis, self.region, charging=self.charging)
            publish_console(self.redis, {"kind": "frame", **frame})
            if self.frames % METRICS_EVERY == 0 and leases.acquire(self.redis, "console:metrics", self.owner,
                                                                   LEASE_MS):
                publish_console(self.redis, {"kind": "metrics", "by_org": metrics_by_org(session)})
        self.frames += 1

    def run(self, stop: threading.Event) -> None:
        """Publish while a console is open and this publisher holds the region's lease, until stopped;
        outages are waited out."""
        lease = f"console:{{{self.region}}}:publisher"
        while not stop.wait(FRAME_S):
            try:
                # A frame reads every vehicle of the region: with nobody watching, it is CPU for nothing.
                watched = realtime.watched(self.redis, CONSOLE_CHANNEL)
                if watched and leases.acquire(self.redis, lease, self.owner, LEASE_MS):
                    self.step()
            except (redis.RedisError, OperationalError) as exc:
                log.warning("console frames: waiting for Redis or the database: %s", exc)
            except Exception:  # a bug must not stop every console for good
                log.exception("console frame failed, retrying")


def fleet_frame(session: Session, r, region: str, *, charging: ChargingDesk | None = None) -> dict:
    """Return a region's vehicles as columns, its demand and unserved requests, and its alerts."""
    now = utcnow()
    vehicles = _vehicles(session, r, region)
    # sqlmodel's select() is typed for up to four columns; it takes any number.
    requests: Sequence[Any] = session.exec(select(  # type: ignore[call-overload]
        Ride.id, Ride.pickup_lat, Ride.pickup_lon, Ride.requested_at, Ride.status)
        .where(Ride.region == region, Ride.requested_at >= now - HEAT_WINDOW)
        .order_by(Ride.id)).all()
    # Open requests have no vehicle yet, hence no organisation: an operator sees the demand it may serve.
    waiting: Sequence[Any] = session.exec(select(Ride.id, Ride.pickup_lat, Ride.pickup_lon, Ride.requested_at)
                                          .where(Ride.region == region, Ride.status == RideStatus.requested)
                                          .order_by(Ride.id)).all()
    return {"region": region, "at": now.isoformat(), "statuses": STATUSES, "low_soc": CHARGE_BELOW_SOC,
            "vehicles": vehicles,
            "requests": [{"id": ride.id, "lat": ride.pickup_lat, "lon": ride.pickup_lon,
                          "waiting_s": round((now - ride.requested_at).total_seconds())} for ride in waiting],
            "unserved": [{"id": ride.id, "lat": ride.pickup_lat, "lon": ride.pickup_lon}
                         for ride in requests if ride.status == RideStatus.no_vehicle],
            "heat": {"cell": HEAT_CELL, "window_s": int(HEAT_WINDOW.total_seconds()),
                     "cells": heat_cells([(ride.pickup_lat, ride.pickup_lon) for ride in requests])},
            "alerts": _faults(vehicles) + _stuck_rides(session, region, now)
            + _chargers_down(session, charging, vehicles, now)}


def _vehicles(session: Session, r, region: str) -> dict[str, list]:
    """Return the region's vehicles at their latest positions as columns; unplaced ones are left out."""
    # Plain rows (no ORM loading) and only the map's fields of each position: a frame reads the
    # whole fleet a few times a second, for as long as a console is open.
    rows = session.connection().execute(sa_select(
        Vehicle.id, Vehicle.organisation_id, Vehicle.lat, Vehicle.lon, Vehicle.heading, Vehicle.status, Vehicle.soc,
        Vehicle.ride_id, Vehicle.target_lat, Vehicle.target_lon, Vehicle.charge_booking_id)
        .where(Vehicle.region == region).order_by(Vehicle.id)).all()
    latest = positions.latest_of_region(r, region, decode=positions.on_map)
    columns: dict[str, list] = {name: [] for name in COLUMNS + ("booking",)}
    for vid, org, lat, lon, heading, status, soc, ride, to_lat, to_lon, booking in rows:
        fresh = latest.get(vid)
        if fresh:
            lat, lon, fresh_soc, fresh_heading = fresh
            heading = fresh_heading if fresh_heading is not None else heading
            soc = fresh_soc if fresh_soc is not None else soc
        if lat is None or lon is None:  # never reported a position: not on the map
            continue
        for name, value in zip(columns, (vid, org, round(lat, 5), round(lon, 5), _rounded(heading, 0),
                                         _CODES[status], _rounded(soc, 1), ride, _rounded(to_lat, 5),
                                         _rounded(to_lon, 5), booking)):
            columns[name].append(value)
    return columns


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def heat_cells(points: list[tuple[float, float]]) -> list[list]:
    """Count points per HEAT_CELL square: [[south-west lat, lon, count], ...], busiest first."""
    if not points:
        return []
    cells, counts = np.unique(np.floor(np.array(points) / HEAT_CELL).astype(np.int64), axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return [[round(float(lat) * HEAT_CELL, 5), round(float(lon) * HEAT_CELL, 5), int(n)]
            for (lat, lon), n in zip(cells[order], counts[order])]


def _faults(vehicles: dict[str, list]) -> list[dict]:
    fault = _CODES[VehicleStatus.fault]
    return [{"kind": "fault", "org": org, "vehicle": vid, "lat": lat, "lon": lon}
            for vid, org, lat, lon, status in zip(*(vehicles[c] for c in ("id", "org", "lat", "lon", "status")))
            if status == fault]


def _stuck_rides(session: Session, region: str, now) -> list[dict]:
    """Return rides assigned longer than STUCK_AFTER and still not picked up, oldest first."""
    # sqlmodel's select() is typed for up to four columns; it takes any number.
    rows = session.exec(select(Ride.id, Ride.status, Ride.assigned_at, Ride.pickup_lat, Ride.pickup_lon,  # type: ignore[call-overload]
                               Vehicle.id, Vehicle.organisation_id)
                        .join(Vehicle, Vehicle.id == Ride.vehicle_id)
                        .where(Ride.region == region, Ride.status.in_(WAITING),
                               Ride.assigned_at < now - STUCK_AFTER)
                        .order_by(Ride.assigned_at)).all()
    return [{"kind": "stuck_ride", "org": org, "vehicle": vid, "ride": ride, "status": status.value,
             "since_s": round((now - assigned_at).total_seconds()), "lat": lat, "lon": lon}
            for ride, status, assigned_at, lat, lon, vid, org in rows]


def _chargers_down(session: Session, desk: ChargingDesk | None, vehicles: dict[str, list], now) -> list[dict]:
    """Return the faulted or offline chargers the region's vehicles hold a slot at, one per vehicle."""
    held = {booking: i for i, booking in enumerate(vehicles["booking"]) if booking is not None}
    if desk is None or not held:
        return []
    down = desk.chargers_down(session, booking_ids=list(held), now=now)
    return [{"kind": "charger_down", "org": vehicles["org"][i], "vehicle": vehicles["id"][i],
             "booking": booking, "status": down[booking],
             "lat": vehicles["to_lat"][i], "lon": vehicles["to_lon"][i]}
            for booking, i in held.items() if booking in down]


def metrics_by_org(session: Session) -> dict[str, dict]:
    """Return the KPIs of each fleet organisation, and of all of them for admins."""
    orgs = session.exec(select(Vehicle.organisation_id).distinct()).all()
    return {"all": fleet.metrics(session, principal=fleet.PLATFORM),
            **{str(org): fleet.metrics(session, principal=Principal(user_id=0, roles=frozenset({"operator"}),
                                                                  organisation_ids=frozenset({org})))
               for org in orgs}}


@dataclass(frozen=True)
class ConsoleView:
    """What one console shows: its organisations' vehicles (all for admins), optionally inside a box."""

    orgs: frozenset[int] | None
    box: tuple[float, float, float, float] | None = None

    @classmethod
    def of(cls, principal: Principal, box=None) -> "ConsoleView":
        return cls(None if principal.has_role("admin") else principal.organisation_ids, box)

    def render(self, message) -> tuple[list, bool]:
        """Return the console's event for a published frame or KPIs, serialised once per view."""
        data = message.data
        if data["kind"] == "metrics":
            key = "all" if self.orgs is None else str(min(self.orgs, default=0))
            return ([("metrics", data["by_org"][key], None)] if key in data["by_org"] else []), False
        if self not in message.cache:
            message.cache[self] = json.dumps(self._cut(data, message.cache), ensure_ascii=False)
        return [("fleet", message.cache[self], None)], False

    def _cut(self, frame: dict, cache: dict) -> dict:
        if "arrays" not in cache:  # once per frame, shared by every view
            cache["arrays"] = {name: np.array(values) for name, values in frame["vehicles"].items()}
        arrays = cache["arrays"]
        keep = self._keeps(arrays["org"], arrays["lat"], arrays["lon"])
        vehicles = {name: arrays[name][keep].tolist() for name in COLUMNS if name != "org"}
        alerts = frame["alerts"]
        if alerts:
            shown = self._keeps(*(np.array([a[name] for a in alerts], dtype=float) for name in ("org", "lat", "lon")))
            alerts = [{k: v for k, v in alert.items() if k != "org"} for alert, on in zip(alerts, shown) if on]
        return {**{k: v for k, v in frame.items() if k not in ("kind", "vehicles", "alerts")},
                "vehicles": vehicles, "alerts": alerts}

    def _keeps(self, orgs: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Return which rows belong to the viewer's organisations and lie inside its box."""
        keep = np.ones(len(orgs), dtype=bool)
        if self.orgs is not None:
            keep &= np.isin(orgs, list(self.orgs))
        if self.box is not None:
            south, west, north, east = self.box
            keep &= (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
        return keep


def vehicle_detail(session: Session, *, vehicle: Vehicle) -> dict:
    """Return the ride a vehicle is serving, without who the rider is."""
    ride = session.get(Ride, vehicle.ride_id) if vehicle.ride_id else None
    if ride is None:
        return {"ride": None}
    return {"ride": {"id": ride.id, "status": ride.status, "passengers": ride.passengers,
                     "pickup": {"lat": ride.pickup_lat, "lon": ride.pickup_lon},
                     "dropoff": {"lat": ride.dropoff_lat, "lon": ride.dropoff_lon},
                     "requested_at": ride.requested_at.isoformat()}}


def metrics_history(session: Session, *, principal: Principal, minutes: int = 60, bucket_minutes: int = 5) -> list:
    """Return requests, completed rides and mean pickup wait per bucket over the last `minutes`."""
    start = utcnow() - timedelta(minutes=minutes)
    rides = session.exec(visible_rides(principal, Ride.requested_at, Ride.picked_up_at, Ride.status)
                         .where(Ride.requested_at >= start)).all()
    buckets = []
    for n in range(minutes // bucket_minutes):
        lo, hi = start + timedelta(minutes=n * bucket_minutes), start + timedelta(minutes=(n + 1) * bucket_minutes)
        inside = [r for r in rides if lo <= r.requested_at < hi]
        waits = [(r.picked_up_at - r.requested_at).total_seconds() for r in inside if r.picked_up_at]
        buckets.append({"start": lo.isoformat(), "requests": len(inside),
                        "completed": sum(r.status == RideStatus.completed for r in inside),
                        "mean_pickup_wait_s": float(np.mean(waits)) if waits else None})
    return buckets
