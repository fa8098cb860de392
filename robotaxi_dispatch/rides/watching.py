"""What a rider's live stream says: status events from the ride's record, positions as published.

Status events are read from the ride's events (what `record` appended), so each has a stable
`id:` and a reconnecting client gets exactly what it missed. The database is read when the
stream opens (one statement) and when a status change is announced, never on a timer; positions
come from the latest-position hash as the stream opens, then straight from the published message.
"""
from sqlalchemy import and_
from sqlmodel import Session, select

from backend.exceptions import NotFound
from backend.i18n import CITY_TZ
from robotaxi_dispatch.rides import positions
from robotaxi_dispatch.rides.models import TERMINAL, Ride, RideEvent, RideStatus, Vehicle

ACTIVE = (RideStatus.assigned, RideStatus.arriving, RideStatus.in_progress)

# An event for the stream: (name, data or its JSON, id or None); the HTTP layer formats it.
Event = tuple[str, dict | str, int | None]


class RideWatch:
    """One stream's view of one rider's ride: the last status event it sent."""

    def __init__(self, engine, redis, *, ride_id: int, user_id: int, seen: int = 0):
        self.engine, self.redis, self.ride_id, self.user_id, self.seen = engine, redis, ride_id, user_id, seen

    def opening(self, session: Session) -> tuple[list[Event], bool]:
        """Replay the status events after `seen`, then where the ride's vehicle is now; 404 unless
        the ride is the rider's. One statement: the ride with its vehicle and missed events."""
        # sqlmodel's select() is typed for up to four columns; it takes any number.
        rows = session.exec(select(  # type: ignore[call-overload]
            Ride.user_id, Ride.region, Ride.status, Ride.pickup_eta_s, Vehicle.id, Vehicle.lat, Vehicle.lon,
            Vehicle.heading, Vehicle.position_at, RideEvent)
            .outerjoin(Vehicle, Vehicle.id == Ride.vehicle_id)
            .outerjoin(RideEvent, and_(RideEvent.ride_id == Ride.id, RideEvent.id > self.seen))
            .where(Ride.id == self.ride_id).order_by(RideEvent.id)).all()
        if not rows or rows[0][0] != self.user_id:
            raise NotFound("ride_not_found", "No such ride.")
        chunks = self._statuses([row[-1] for row in rows if row[-1] is not None])
        _, region, status, eta, vehicle_id, *position, _ = rows[0]
        if vehicle_id is not None and status in ACTIVE:
            chunks += self._position(region, vehicle_id, position,
                                     None if status == RideStatus.in_progress else eta)
        return chunks, status in TERMINAL  # a client back after the end hears that at once

    def _position(self, region: str, vehicle_id: int, row: list, eta: int | None) -> list[Event]:
        """Return the vehicle's latest known position (Redis's, else its row's) as an event."""
        lat, lon, heading, at = row
        fresh = positions.latest_or_none(self.redis, region, [vehicle_id]).get(vehicle_id)
        if fresh is not None and positions.newer(fresh, at):
            lat, lon, at = fresh["lat"], fresh["lon"], fresh["position_at"]
            heading = fresh["heading"] if fresh["heading"] is not None else heading
        if lat is None:
            return []
        return [("position", {"vehicle_id": vehicle_id, "lat": lat, "lon": lon, "heading": heading,
                              "at": at and at.astimezone(CITY_TZ).isoformat(), "pickup_eta_s": eta}, None)]

    def render(self, message) -> tuple[list[Event], bool]:
        """Turn a published message about the ride into events."""
        if message.data["kind"] == "position":  # a batch entry: its JSON as published, `t` when
            return [("position", message.body, None)], False
        with Session(self.engine) as session:
            return self._new_statuses(session)

    def _new_statuses(self, session: Session) -> tuple[list[Event], bool]:
        events = session.exec(select(RideEvent).where(RideEvent.ride_id == self.ride_id, RideEvent.id > self.seen)
                              .order_by(RideEvent.id)).all()
        return self._statuses(events), any(event.status in TERMINAL for event in events)

    def _statuses(self, events) -> list[Event]:
        """Return status events in order, remembering the last one sent."""
        chunks: list[Event] = []
        for event in events:
            self.seen = event.id
            at = event.at.astimezone(CITY_TZ).isoformat()
            chunks.append(("status", {"status": event.status, "reason": event.reason, "at": at,
                                      **event.data}, event.id))
        return chunks
