"""What the operator console shows: the city map, live fleet frames and the last hour's KPIs."""
import json
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import redis
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.dbtypes import utcnow
from backend.geography import BRIDGES, DISTRICT_NAMES, OUTLINES, RIVERS
from robotaxi_dispatch.dispatcher import CHARGE_BELOW_SOC
from robotaxi_dispatch.rides import fleet, positions
from robotaxi_dispatch.rides.fleet import visible_rides
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus
from robotaxi_dispatch.streams import acquire_lease, publish_console

log = logging.getLogger(__name__)
FRAME_S = 0.4       # a few fleet frames a second keep the console's map moving smoothly
METRICS_EVERY = 5   # KPIs every fifth frame: they change slowly and cost more to work out
LEASE = "console"   # the publisher's lease is keyed like a region's
LEASE_MS = 5_000

# Status order is the wire code of each status in a frame: the page maps codes to colours.
STATUSES = [s.value for s in VehicleStatus]
_CODES = {status: code for code, status in enumerate(STATUSES)}


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
    """Publishes the fleet frames and KPIs every console shows, once for all of them.

    One publisher holds the lease at a time; each frame costs one read of the vehicles' rows
    (status, ride, organisation) and of the latest positions in Redis, whatever the number of
    consoles open. Each console cuts its own organisation's vehicles out of the frame.
    """

    def __init__(self, engine, redis, *, regions: list[str], owner: str):
        self.engine, self.redis, self.regions, self.owner = engine, redis, regions, owner
        self.frames = 0

    def step(self) -> None:
        """Publish one frame, and the KPIs every few frames."""
        with Session(self.engine) as session:
            publish_console(self.redis, {"kind": "frame", **fleet_frame(session, self.redis, self.regions)})
            if self.frames % METRICS_EVERY == 0:
                publish_console(self.redis, {"kind": "metrics", "by_org": metrics_by_org(session)})
        self.frames += 1

    def run(self, stop: threading.Event) -> None:
        """Publish while holding the console lease, until stopped; outages are waited out."""
        while not stop.wait(FRAME_S):
            try:
                if acquire_lease(self.redis, LEASE, self.owner, LEASE_MS):
                    self.step()
            except (redis.RedisError, OperationalError) as exc:
                log.warning("console frames: waiting for Redis or the database: %s", exc)
            except Exception:  # a bug must not stop every console for good
                log.exception("console frame failed, retrying")


def fleet_frame(session: Session, r, regions: list[str]) -> dict:
    """Return every fleet's vehicles, at their latest positions, and the open ride requests as columns."""
    rows = session.exec(select(Vehicle.id, Vehicle.region, Vehicle.organisation_id, Vehicle.lat, Vehicle.lon,
                               Vehicle.status, Vehicle.soc, Vehicle.ride_id)
                        .where(Vehicle.region.in_(regions)).order_by(Vehicle.id)).all()
    latest = {vid: fields for region in regions for vid, fields in positions.latest_of_region(r, region).items()}
    columns = {name: [] for name in ("id", "org", "lat", "lon", "status", "soc", "ride")}
    for vid, _, org, lat, lon, status, soc, ride in rows:
        fresh = latest.get(vid)
        if fresh:
            lat, lon, soc = fresh["lat"], fresh["lon"], fresh["soc"] if fresh["soc"] is not None else soc
        if lat is None:  # never reported a position: not on the map
            continue
        for name, value in zip(columns, (vid, org, round(lat, 5), round(lon, 5), _CODES[status],
                                         None if soc is None else round(soc, 1), ride)):
            columns[name].append(value)
    # Open requests have no vehicle yet, hence no organisation: an operator sees the demand it may serve.
    requests = session.exec(select(Ride.id, Ride.pickup_lat, Ride.pickup_lon, Ride.requested_at)
                            .where(Ride.status == RideStatus.requested).order_by(Ride.id)).all()
    now = utcnow()
    return {"at": now.isoformat(), "statuses": STATUSES, "low_soc": CHARGE_BELOW_SOC, "vehicles": columns,
            "requests": [{"id": r.id, "lat": r.pickup_lat, "lon": r.pickup_lon,
                          "waiting_s": round((now - r.requested_at).total_seconds())} for r in requests]}


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
        arrays, keep = cache["arrays"], np.ones(len(frame["vehicles"]["id"]), dtype=bool)
        if self.orgs is not None:
            keep &= np.isin(arrays["org"], list(self.orgs))
        if self.box is not None:
            south, west, north, east = self.box
            keep &= (arrays["lat"] >= south) & (arrays["lat"] <= north)
            keep &= (arrays["lon"] >= west) & (arrays["lon"] <= east)
        vehicles = {name: arrays[name][keep].tolist() for name in ("id", "lat", "lon", "status", "soc", "ride")}
        return {**{k: v for k, v in frame.items() if k not in ("kind", "vehicles")}, "vehicles": vehicles}


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
