"""A rider's ride history and its timeline entries, one keyset page at a time."""
from sqlalchemy import func
from sqlmodel import Session, select

from backend.i18n import pick
from backend.keyset import beyond
from backend.timeline import TimelineEntry, TimelineKey, after
from robotaxi_dispatch.rides.fares import SHANGHAI
from robotaxi_dispatch.rides.models import Ride

KIND = "ride"


def ride_history(session: Session, *, user_id: int, cursor: tuple | None, limit: int) -> list[Ride]:
    """Return up to `limit` of the user's rides after the cursor (requested_at, id), latest first."""
    query = select(Ride).where(Ride.user_id == user_id)
    if cursor is not None:
        query = query.where(beyond([Ride.requested_at, Ride.id], cursor, descending=True))
    return list(session.exec(query.order_by(Ride.requested_at.desc(), Ride.id.desc()).limit(limit)).all())


def timeline_entries(session: Session, *, user_id: int, cursor: TimelineKey | None, limit: int,
                     language: str) -> list[TimelineEntry]:
    """Return up to `limit` of the user's rides after the cursor, at their pickup time if booked ahead,
    else at their request."""
    at = func.coalesce(Ride.pickup_at, Ride.requested_at)
    rides = session.exec(select(Ride).where(
        Ride.user_id == user_id, after(cursor, kind=KIND, at_column=at, id_column=Ride.id))
        .order_by(at.desc(), Ride.id.desc()).limit(limit)).all()
    return [TimelineEntry(type=KIND, id=r.id, status=r.status, at=(r.pickup_at or r.requested_at).astimezone(SHANGHAI),
                          title=pick("预约自动驾驶出租车" if r.pickup_at else "自动驾驶出租车行程",
                                     "Booked robotaxi ride" if r.pickup_at else "Robotaxi ride", language),
                          detail={"region": r.region, "fare": r.fare_fen or r.quoted_fare_fen,
                                  "pickup": {"lat": r.pickup_lat, "lon": r.pickup_lon},
                                  "dropoff": {"lat": r.dropoff_lat, "lon": r.dropoff_lon},
                                  "booked": r.pickup_at is not None})
            for r in rides]
