"""What the rest of the platform asks of the chargers: live status, metered or not, the live session.

Bookings call these hooks; they record intents (commands) in the caller's transaction and leave
sending to the CSMS, so nothing here talks to a charger.
"""
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.db import write_transaction
from backend.exceptions import Conflict, Invalid
from backend.redis_client import best_effort
from booking.bookings import pricing
from booking.bookings.models import Booking
from booking.chargers.models import (
    ChargePoint,
    ChargerCommand,
    ChargingSession,
    Connector,
    LiveSession,
    LiveStatus,
)
from booking.sites.models import Resource

# A CSMS refreshes its charge points' last_seen_at every LIVENESS_S; three missed refreshes
# mean the instance is gone and its charge points are offline.
LIVENESS_S = 30
STALE_AFTER = timedelta(seconds=3 * LIVENESS_S)


def effective_status(point: ChargePoint, connector: Connector, now: datetime) -> LiveStatus | None:
    """Return a connector's live status; None while its charge point has never booted."""
    if point.booted_at is None:
        return None
    if not point.connected or point.last_seen_at is None or point.last_seen_at < now - STALE_AFTER:
        return LiveStatus.offline
    return connector.status


def live_statuses(session: Session, *, resource_ids: list[int], now: datetime) -> dict[int, LiveStatus]:
    """Return the live status of every resource of the list that a booted charge point serves."""
    if not resource_ids:
        return {}
    rows = session.exec(select(Connector, ChargePoint).join(ChargePoint)
                        .where(Connector.resource_id.in_(resource_ids),
                               ChargePoint.booted_at.is_not(None))).all()
    # Booted charge points only, so every status is known.
    return {c.resource_id: status for c, p in rows if (status := effective_status(p, c, now)) is not None}


def plug_of(session: Session, resource_id: int) -> tuple[Connector, ChargePoint] | None:
    """Return the connector and charge point of a metered charger: bound, and booted once."""
    row = session.exec(select(Connector, ChargePoint).join(ChargePoint)
                       .where(Connector.resource_id == resource_id)).first()
    return row if row and row[1].booted_at is not None else None


def owner_key(identity: str) -> str:
    """Return the Redis key naming the CSMS instance that holds a charge point's connection."""
    return f"ocpp:owner:{identity}"


def nudge_channel(owner: str) -> str:
    """Return the Redis channel on which a CSMS instance is told that commands wait for it."""
    return f"ocpp:commands:{owner}"


@best_effort
def wake_owner(redis, session: Session, resource_id: int) -> None:
    """Tell the instance holding a charger that a command waits, so it sends it before its next tick."""
    plug = plug_of(session, resource_id)
    if plug is None:
        return
    owner = redis.get(owner_key(plug[1].identity))
    if owner:
        redis.publish(nudge_channel(owner), plug[1].identity)


def new_id_token() -> str:
    """Return an unguessable idToken that fits OCPP 1.6's 20-character idTag."""
    return secrets.token_hex(10).upper()


def session_of(session: Session, booking: Booking, connector: Connector) -> ChargingSession:
    """Return the booking's charging session, opening it on first use."""
    # The booking's row lock makes the CSMS's planner and the fleet desk open one session, not two.
    session.exec(select(Booking.id).where(Booking.id == booking.id).with_for_update()).one()
    found = session.exec(select(ChargingSession).where(ChargingSession.booking_id == booking.id)).first()
    if found is None:
        found = ChargingSession(booking_id=booking.id, connector_id=connector.id, id_token=new_id_token())
        session.add(found)
        session.flush()
    return found


def note_need(session: Session, booking: Booking, *, energy_kwh: float, needed_by: datetime) -> None:
    """Mark a fleet booking's charge as plannable: the energy it wants and when its vehicle is needed."""
    plug = plug_of(session, booking.resource_id)
    if plug is None:
        return
    with write_transaction(session):
        charge = session_of(session, booking, plug[0])
        charge.wanted_wh, charge.needed_by = energy_kwh * 1000, needed_by


def move_reservation(session: Session, booking: Booking) -> None:
    """Follow a booking moved to another charger: cancel the first one's reservation, reserve the new one."""
    charge = session.exec(select(ChargingSession).where(ChargingSession.booking_id == booking.id)).first()
    if charge is None or charge.status != "planned":
        return
    first = session.get_one(Connector, charge.connector_id)
    if first.resource_id == booking.resource_id:
        return
    if charge.reservation in ("pending", "accepted"):
        # Sent when the first charger is back on the line, if it is down now.
        session.add(ChargerCommand(charge_point_id=first.charge_point_id, session_id=charge.id,
                                   action="cancel_reservation"))
        charge.reservation = "cancelling"
    plug = plug_of(session, booking.resource_id)
    if plug is None:  # the new charger is not on the line: the session and its token end here
        charge.booking_id, charge.status = None, "moved"
    else:  # the CSMS's planner reserves the new charger (the first one's answer no longer counts)
        charge.connector_id, charge.reservation = plug[0].id, None


def request_start(session: Session, booking: Booking) -> ChargerCommand | None:
    """Record a remote start for a checked-in booking on a metered charger (inside its transaction)."""
    plug = plug_of(session, booking.resource_id)
    if plug is None:
        return None
    charge = session_of(session, booking, plug[0])
    charge.remote_start = "pending"
    command = ChargerCommand(charge_point_id=plug[1].id, session_id=charge.id, action="start")
    session.add(command)
    return command


def request_stop(session: Session, booking: Booking) -> ChargerCommand:
    """Record a remote stop of the booking's running transaction."""
    charge = session.exec(select(ChargingSession).where(ChargingSession.booking_id == booking.id)).first()
    if charge is None or charge.status != "charging":
        raise Conflict("not_charging", "This booking has no charge running.")
    point_id = session.get_one(Connector, charge.connector_id).charge_point_id
    command = ChargerCommand(charge_point_id=point_id, session_id=charge.id, action="stop")
    session.add(command)
    return command


def check_typed_energy(session: Session, booking: Booking, energy_kwh: float, now: datetime) -> None:
    """Refuse energy a citizen types for a metered charger, before the slot, or beyond what it can give."""
    if plug_of(session, booking.resource_id) is not None:
        raise Conflict("metered_charger", "This charger's meter settles the booking; nothing to send.")
    if now < booking.start_at:
        raise Conflict("slot_not_started", "A charge cannot be completed before its slot starts.")
    power_kw = session.get_one(Resource, booking.resource_id).attributes.get("power_kw", 0)
    most = power_kw * (booking.end_at - booking.start_at).total_seconds() / 3600
    if energy_kwh > most:
        raise Invalid("energy_above_capacity", "This charger delivers at most {most} kWh in the booked slot.",
                      params={"most": f"{most:.1f}"})


def metered_bill(attributes: dict, charge: ChargingSession, until: datetime) -> dict:
    """Return the bill of a session's metered energy at the time-of-use price, plus the idle fee."""
    began = charge.started_at or until
    # Idle time runs from the last moment energy flowed to the plug being freed.
    stopped = max(charge.last_energy_at or charge.ended_at or until, began + timedelta(seconds=1))
    bill = pricing.charging_price(attributes, began, stopped, charge.energy_kwh, charge.unplugged_at)
    return {**bill, "energy_kwh": round(charge.energy_kwh, 3), "metered": True}


def with_charge(query):
    """Add each booking's charging session (None without one) to a query of bookings."""
    return query.add_columns(ChargingSession).outerjoin(ChargingSession, ChargingSession.booking_id == Booking.id)


def live_session(charge: ChargingSession, attributes: dict, now: datetime) -> LiveSession:
    """Return a booking's charging session as its citizen sees it; `attributes` are its charger's."""
    return LiveSession(status=charge.status, reservation=charge.reservation,
                       remote_start=charge.remote_start, energy_kwh=round(charge.energy_kwh, 3),
                       power_kw=None if charge.power_w is None else round(charge.power_w / 1000, 1),
                       cost_so_far_fen=metered_bill(attributes, charge, now)["total_fen"],
                       started_at=charge.started_at, last_energy_at=charge.last_energy_at,
                       ended_at=charge.ended_at)
