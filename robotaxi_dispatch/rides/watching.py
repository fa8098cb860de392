"""What a rider's live stream says: status events from the ride's record, positions as published.

Status events are read from the ride's events (what `record` appended), so each has a stable
`id:` and a reconnecting client gets exactly what it missed. The database is read when the
stream opens and when a status change is announced, never on a timer; positions come straight
from the published message.
"""
import json

from sqlmodel import Session, select

from backend.i18n import CITY_TZ
from robotaxi_dispatch.rides import positions
from robotaxi_dispatch.rides.models import TERMINAL, Ride, RideEvent, RideStatus, Vehicle

ACTIVE = (RideStatus.assigned, RideStatus.arriving, RideStatus.in_progress)

# An event for the stream: (name, data or its JSON, id or None); the HTTP layer formats it.
Event = tuple[str, dict | str, int | None]


class RideWatch:
    """One stream's view of a ride: the last status event it sent."""

    def __init__(self, engine, redis, *, ride_id: int, seen: int = 0):
        self.engine, self.redis, self.ride_id, self.seen = engine, redis, ride_id, seen

    def opening(self, session: Session) -> tuple[list[Event], bool]:
        """Replay the status events after `seen`, then where the ride's vehicle is now."""
        chunks, _ = self._new_statuses(session)
        ride = session.get_one(Ride, self.ride_id)
        done = ride.status in TERMINAL  # a client back after the end hears that at once
        vehicle = session.get(Vehicle, ride.vehicle_id) if ride.vehicle_id else None
        if vehicle is not None and ride.status in ACTIVE:
            positions.overlay(self.redis, [vehicle])
            if vehicle.lat is not None:
                chunks.append(("position", {
                    "vehicle_id": vehicle.id, "lat": vehicle.lat, "lon": vehicle.lon,
                    "heading": vehicle.heading,
                    "at": vehicle.position_at and vehicle.position_at.astimezone(CITY_TZ).isoformat(),
                    "pickup_eta_s": None if ride.status == RideStatus.in_progress else ride.pickup_eta_s}, None))
        return chunks, done

    def render(self, message) -> tuple[list[Event], bool]:
        """Turn a published message about the ride into events."""
        if message.data["kind"] == "position":
            if "position" not in message.cache:  # serialised once for every stream on this ride
                message.cache["position"] = json.dumps(
                    {k: v for k, v in message.data.items() if k != "kind"}, ensure_ascii=False)  # `t`: when published
            return [("position", message.cache["position"], None)], False
        with Session(self.engine) as session:
            return self._new_statuses(session)

    def _new_statuses(self, session: Session) -> tuple[list[Event], bool]:
        events = session.exec(select(RideEvent).where(RideEvent.ride_id == self.ride_id, RideEvent.id > self.seen)
                              .order_by(RideEvent.id)).all()
        chunks: list[Event] = []
        done = False
        for event in events:
            self.seen = event.id
            done = event.status in TERMINAL
            at = event.at.astimezone(CITY_TZ).isoformat()
            chunks.append(("status", {"status": event.status, "reason": event.reason, "at": at,
                                      **event.data}, event.id))
        return chunks, done
