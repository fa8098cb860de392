"""What the operator console shows: the city map, live fleet frames and the last hour's KPIs."""
from datetime import timedelta

import numpy as np
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.dbtypes import utcnow
from backend.seed.geography import DISTRICT_NAMES, OUTLINES
from robotaxi_dispatch.dispatcher import CHARGE_BELOW_SOC
from robotaxi_dispatch.engine.chongqing import BRIDGES, RIVERS
from robotaxi_dispatch.rides.fleet import own_fleet, visible_rides
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus

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


def live_frame(session: Session, *, principal: Principal) -> dict:
    """Return the caller's fleet and the open ride requests as compact columns."""
    rows = session.exec(own_fleet(select(Vehicle.id, Vehicle.lat, Vehicle.lon, Vehicle.status, Vehicle.soc,
                                         Vehicle.ride_id).where(Vehicle.lat.is_not(None)), principal)
                        .order_by(Vehicle.id)).all()
    ids, lat, lon, status, soc, ride = zip(*rows) if rows else ((),) * 6
    # Open requests have no vehicle yet, hence no organisation: an operator sees the demand it may serve.
    requests = session.exec(select(Ride.id, Ride.pickup_lat, Ride.pickup_lon, Ride.requested_at)
                            .where(Ride.status == RideStatus.requested.value).order_by(Ride.id)).all()
    now = utcnow()
    return {"at": now.isoformat(), "statuses": STATUSES, "low_soc": CHARGE_BELOW_SOC,
            "vehicles": {"id": list(ids), "lat": [round(v, 5) for v in lat], "lon": [round(v, 5) for v in lon],
                         "status": [_CODES[s] for s in status],
                         "soc": [None if s is None else round(s, 1) for s in soc], "ride": list(ride)},
            "requests": [{"id": r.id, "lat": r.pickup_lat, "lon": r.pickup_lon,
                          "waiting_s": round((now - r.requested_at).total_seconds())} for r in requests]}


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
                        "completed": sum(r.status == RideStatus.completed.value for r in inside),
                        "mean_pickup_wait_s": float(np.mean(waits)) if waits else None})
    return buckets
