"""The CSMS's domain side: who may connect, live status, reservations, metered sessions, settlement.

Every function takes a session and works in its own write transaction; the CSMS calls them
from worker threads, the API for binding and operator views.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.db import write_transaction
from backend.exceptions import Invalid, NotFound
from booking.bookings import billing, outages
from booking.bookings.models import Booking, BookingStatus, Outage
from booking.bookings.rules import city_time
from booking.chargers import live, profiles
from booking.chargers.models import (
    DOWN,
    ChargePoint,
    ChargerBinding,
    ChargerCommand,
    ChargerState,
    ChargingSession,
    Connector,
    ConnectorSession,
    Fault,
    LiveStatus,
)
from booking.sites.models import Resource, ResourceKind, Site
from booking.sites.services import managed_site
from payments.runner import run_after_commit

# Charge points reconnect in storms after a power cut: a lighter argon2id than people's
# passwords get (OCPP asks for 16-40 random characters) keeps a storm of handshakes cheap.
_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-charge-point-password")
# How far ahead a fault or a lost connection takes a charger out of service; extended while down.
OUTAGE_HORIZON = timedelta(hours=2)
KEPT_FAULTS = 20
GONE = (BookingStatus.cancelled, BookingStatus.expired, BookingStatus.no_show)


def hash_password(password: str) -> str:
    """Hash a charge point's Basic-auth password."""
    return _hasher.hash(password)


def authenticate(session: Session, *, identity: str, password: str) -> bool:
    """Tell whether a charge point identity exists and the password is its own."""
    stored = session.exec(select(ChargePoint.password_hash).where(ChargePoint.identity == identity)).first()
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


# -- connection and live status -------------------------------------------------------------

def _point(session: Session, identity: str) -> ChargePoint:
    return session.exec(select(ChargePoint).where(ChargePoint.identity == identity).with_for_update()).one()


# connect, boot and connector_status write inside the caller's transaction: the CSMS batches
# them, so a storm of charge points booting after a power cut shares a few commits.

def connect(session: Session, *, identity: str, owner: str, protocol: str, now: datetime) -> None:
    """Record that an instance holds a charge point's connection."""
    point = _point(session, identity)
    point.connected, point.owner, point.protocol, point.last_seen_at = True, owner, protocol, now


def boot(session: Session, *, identity: str, vendor: str, model: str, now: datetime) -> None:
    """Record a BootNotification: the charge point is live from now on."""
    point = _point(session, identity)
    point.vendor, point.model, point.booted_at, point.last_seen_at = vendor[:50], model[:50], now, now


def _drop(session: Session, point: ChargePoint, now: datetime) -> None:
    """Mark a charge point no longer held by anyone and its connectors offline (an outage)."""
    point.connected, point.owner = False, None
    for connector in session.exec(select(Connector).where(Connector.charge_point_id == point.id)).all():
        _set_status(session, connector, LiveStatus.offline, now)


def disconnect(session: Session, *, identity: str, owner: str, now: datetime) -> None:
    """Mark a charge point's connectors offline, unless another instance holds it by now."""
    with write_transaction(session):
        point = _point(session, identity)
        if point.owner == owner:
            _drop(session, point, now)


def held_elsewhere(session: Session, *, owner: str, silent_since: datetime) -> list[str]:
    """Return the charge points another instance holds but has not vouched for since the moment."""
    return list(session.exec(select(ChargePoint.identity).where(
        ChargePoint.connected, ChargePoint.owner != owner, ChargePoint.last_seen_at < silent_since)).all())


def drop_lapsed(session: Session, *, identities: list[str], silent_since: datetime, now: datetime) -> None:
    """Take offline the charge points whose instance stopped vouching for them (it died)."""
    with write_transaction(session):
        for identity in identities:
            point = _point(session, identity)
            # Nobody took it over meanwhile (a connected point has been seen: connect() sets both).
            if point.connected and point.last_seen_at is not None and point.last_seen_at < silent_since:
                _drop(session, point, now)


def refresh_liveness(session: Session, *, owner: str, now: datetime) -> None:
    """Vouch for every charge point the instance still holds (one statement)."""
    with write_transaction(session):
        session.exec(update(ChargePoint).where(ChargePoint.owner == owner, ChargePoint.connected)
                     .values(last_seen_at=now))


def _connector(session: Session, identity: str, evse_id: int | None, connector_id: int) -> Connector | None:
    """Find a plug by its numbers; OCPP 1.6 knows no EVSE and names the connector alone."""
    query = (select(Connector).join(ChargePoint).where(ChargePoint.identity == identity,
                                                       Connector.connector_id == connector_id))
    if evse_id is not None:
        query = query.where(Connector.evse_id == evse_id)
    return session.exec(query.with_for_update()).first()


def _set_status(session: Session, connector: Connector, status: LiveStatus, now: datetime) -> None:
    """Change a connector's status; going down opens an outage, coming back closes it."""
    outage: Outage | None
    if status in DOWN and connector.outage_id is None:
        outage, _ = outages.take_out_of_service(session, resource_id=connector.resource_id, start=now,
                                                end=now + OUTAGE_HORIZON, reason=f"charger {status.value}")
        connector.outage_id = outage.id
    elif status not in DOWN and connector.outage_id is not None:
        outage = session.get(Outage, connector.outage_id)
        if outage is not None and outage.end_at > now:
            outage.end_at = max(now, outage.start_at)
        connector.outage_id = None
    connector.status, connector.status_at = status, now


@dataclass(frozen=True)
class Plug:
    """Where a message is about: a charge point, and its EVSE (2.0.1 only) and connector."""
    identity: str
    evse_id: int | None
    connector_id: int


def connector_status(session: Session, *, plug: Plug, status: LiveStatus, error: str | None,
                     now: datetime) -> list[int]:
    """Apply a StatusNotification; return the sessions whose plug it frees, to be settled after commit."""
    connector = _connector(session, plug.identity, plug.evse_id, plug.connector_id)
    if connector is None:
        return []
    if status is LiveStatus.faulted:
        _record_fault(connector, error or "Faulted", now)
    _set_status(session, connector, status, now)
    if status is not LiveStatus.available:
        return []
    freed = session.exec(select(ChargingSession).where(
        ChargingSession.connector_id == connector.id, ChargingSession.status == "ended",
        ChargingSession.unplugged_at.is_(None))).all()
    for charge in freed:
        charge.unplugged_at = now  # the idle time ends here
    return [charge.id for charge in freed]


def _record_fault(connector: Connector, error: str, now: datetime) -> None:
    connector.faults = [{"at": now.isoformat(), "error": error[:100]}, *connector.faults][:KEPT_FAULTS]


def report_faults(session: Session, *, identity: str, faults: list[tuple[int | None, int | None, str]],
                  now: datetime) -> None:
    """Record errors a charge point reports (NotifyEvent) on the connectors they name: all when none."""
    with write_transaction(session):
        connectors = session.exec(select(Connector).join(ChargePoint).where(ChargePoint.identity == identity)
                                  .with_for_update()).all()
        for evse_id, connector_id, error in faults:
            for connector in connectors:
                if evse_id in (None, connector.evse_id) and connector_id in (None, connector.connector_id):
                    _record_fault(connector, error, now)


def extend_outages(session: Session, *, now: datetime) -> None:
    """Keep the outages of chargers still down reaching OUTAGE_HORIZON ahead."""
    with write_transaction(session):
        rows = session.exec(select(Outage).join(Connector, Connector.outage_id == Outage.id)
                            .where(Outage.end_at < now + OUTAGE_HORIZON / 2)).all()
        for outage in rows:
            outage.end_at = now + OUTAGE_HORIZON


# -- tokens and transactions ----------------------------------------------------------------

def _booked_session(session: Session, connector: Connector, id_token: str | None) -> ChargingSession | None:
    if not id_token:
        return None
    return session.exec(select(ChargingSession).join(Booking).where(
        ChargingSession.connector_id == connector.id, ChargingSession.id_token == id_token,
        ChargingSession.status == "planned",
        Booking.status.in_((BookingStatus.confirmed, BookingStatus.checked_in)))).first()


def authorize(session: Session, *, identity: str, id_token: str) -> bool:
    """Tell whether an idToken belongs to a live booking on this charge point."""
    query = (select(ChargingSession.id).join(Connector).join(ChargePoint)
             .join(Booking, Booking.id == ChargingSession.booking_id)
             .where(ChargePoint.identity == identity, ChargingSession.id_token == id_token,
                    ChargingSession.status == "planned",
                    Booking.status.in_((BookingStatus.confirmed, BookingStatus.checked_in))))
    return session.exec(query).first() is not None


@dataclass(frozen=True)
class Reading:
    """One meter sample: the energy register in Wh and the power in W, either may be missing."""
    at: datetime
    energy_wh: float | None = None
    power_w: float | None = None


def start_transaction(session: Session, *, plug: Plug, id_token: str | None,
                      transaction_id: str | None, reading: Reading) -> tuple[str, bool]:
    """Open a transaction on a plug; return its id (ours when 1.6 asks for one) and whether the token is a booking's."""
    with write_transaction(session):
        connector = _connector(session, plug.identity, plug.evse_id, plug.connector_id)
        if connector is None:
            raise NotFound("unknown_connector", "No such connector at this charge point.")
        charge = _booked_session(session, connector, id_token)
        if charge is None:  # a walk-in driver: the plug is busy, nobody is billed through us
            charge = ChargingSession(connector_id=connector.id, id_token=id_token)
            session.add(charge)
        elif (booking := session.get_one(Booking, charge.booking_id)).status == BookingStatus.confirmed:
            booking.status, booking.updated_at = BookingStatus.checked_in, reading.at  # plugging in checks in
        charge.status, charge.started_at = "charging", reading.at
        charge.meter_start_wh = charge.meter_wh = reading.energy_wh
        charge.last_energy_at, charge.updated_at = reading.at, reading.at
        session.flush()
        charge.transaction_id = transaction_id or str(charge.id)
        replan(session, site_id=session.get_one(ChargePoint, connector.charge_point_id).site_id, now=reading.at)
        return charge.transaction_id, charge.booking_id is not None


def _transaction(session: Session, identity: str, transaction_id: str) -> ChargingSession | None:
    return session.exec(select(ChargingSession).join(Connector).join(ChargePoint).where(
        ChargePoint.identity == identity, ChargingSession.transaction_id == transaction_id)
        .with_for_update()).first()


def _read(charge: ChargingSession, reading: Reading) -> None:
    if reading.energy_wh is not None:
        if charge.meter_start_wh is None:
            charge.meter_start_wh = reading.energy_wh
        elif charge.meter_wh is None or reading.energy_wh > charge.meter_wh:
            charge.last_energy_at = reading.at
        charge.meter_wh = max(reading.energy_wh, charge.meter_wh or reading.energy_wh)
    if reading.power_w is not None:
        charge.power_w = reading.power_w
    charge.updated_at = reading.at


def meter(session: Session, *, identity: str, transaction_id: str, reading: Reading) -> None:
    """Apply a meter sample of a running transaction."""
    with write_transaction(session):
        charge = _transaction(session, identity, transaction_id)
        if charge is not None and charge.status == "charging":
            _read(charge, reading)


def end_transaction(session: Session, gateway, *, identity: str, transaction_id: str,
                    reading: Reading, unplugged: bool) -> None:
    """Close a transaction at its final meter reading; settle it once the plug is freed."""
    with write_transaction(session):
        charge = _transaction(session, identity, transaction_id)
        if charge is None or charge.status != "charging":
            return
        _read(charge, reading)
        charge.status, charge.ended_at, charge.power_w = "ended", reading.at, 0.0
        if unplugged:
            charge.unplugged_at = reading.at
        session_id = charge.id
        session.flush()
        replan(session, site_id=session.get_one(
            ChargePoint, session.get_one(Connector, charge.connector_id).charge_point_id).site_id, now=reading.at)
    if unplugged:
        settle(session, gateway, session_id=session_id, now=reading.at)


def settle(session: Session, gateway, *, session_id: int, now: datetime) -> None:
    """Complete a booking from its session's meter: time-of-use energy, service fee and idle fee."""
    owed = None
    with write_transaction(session):
        charge = session.exec(select(ChargingSession).where(ChargingSession.id == session_id)
                              .with_for_update()).one()
        booking = charge.booking_id and session.exec(select(Booking).where(
            Booking.id == charge.booking_id).with_for_update()).one()
        if charge.status != "ended":
            return
        charge.status = "settled"
        if not booking or booking.status not in (BookingStatus.confirmed, BookingStatus.checked_in):
            return
        attributes = session.get_one(Resource, booking.resource_id).attributes
        bill = live.metered_bill(attributes, charge, now)
        booking.settlement = {**booking.settlement, **bill}
        booking.final_price_fen = bill["total_fen"]
        booking.status, booking.active, booking.updated_at = BookingStatus.completed, False, now
        owed = billing.settle(session, booking=booking, keep_fen=booking.final_price_fen)
    run_after_commit(session, gateway, owed)


# -- reservations and commands --------------------------------------------------------------

def plan(session: Session, *, owner: str, now: datetime, lead: timedelta) -> int:
    """Record ReserveNow for bookings starting within the lead, CancelReservation for those gone."""
    with write_transaction(session):
        due = session.exec(select(Booking, Connector).join(Connector, Connector.resource_id == Booking.resource_id)
                           .join(ChargePoint).outerjoin(ChargingSession, ChargingSession.booking_id == Booking.id)
                           .where(ChargePoint.owner == owner, ChargePoint.connected,
                                  Booking.status == BookingStatus.confirmed, Booking.start_at <= now + lead,
                                  Booking.end_at > now, ChargingSession.reservation.is_(None))).all()
        for booking, connector in due:
            charge = live.session_of(session, booking, connector)
            charge.reservation = "pending"
            session.add(ChargerCommand(charge_point_id=connector.charge_point_id, session_id=charge.id,
                                       action="reserve"))
        gone = session.exec(select(ChargingSession, Connector).join(Connector).join(ChargePoint)
                            .join(Booking, Booking.id == ChargingSession.booking_id)
                            .where(ChargePoint.owner == owner, ChargingSession.reservation == "accepted",
                                   Booking.status.in_(GONE))).all()
        for charge, connector in gone:
            charge.reservation = "cancelling"
            session.add(ChargerCommand(charge_point_id=connector.charge_point_id, session_id=charge.id,
                                       action="cancel_reservation"))
    return len(due) + len(gone)


# -- ordered charging -----------------------------------------------------------------------

def _max_w(resource: Resource) -> float:
    return resource.attributes.get("power_kw", 0) * 1000


def replan(session: Session, *, site_id: int, now: datetime) -> None:
    """Record new charging profiles for a site's fleet sessions (a session started or ended there)."""
    # The site's row lock serialises replans: each sees the sessions the previous one planned around.
    # (NO KEY UPDATE: bookings inserted meanwhile still check their foreign key to the site.)
    cap_kw = session.exec(select(Site.power_cap_kw).where(Site.id == site_id)
                          .with_for_update(key_share=True)).one()
    rows = session.exec(select(ChargingSession, Connector, Resource).select_from(ChargingSession)
                        .join(Connector, Connector.id == ChargingSession.connector_id)
                        .join(Resource, Resource.id == Connector.resource_id)
                        .join(ChargePoint, ChargePoint.id == Connector.charge_point_id)
                        .where(ChargePoint.site_id == site_id, ChargingSession.status == "charging")).all()
    fleet = [(charge, connector, resource) for charge, connector, resource in rows if charge.needed_by is not None]
    if not fleet:
        return
    # fleet holds only the sessions with a needed_by.
    needs = [profiles.FleetNeed(charge.id, max(0.0, (charge.wanted_wh or 0.0) - charge.energy_kwh * 1000),
                                _max_w(resource), cast(datetime, charge.needed_by)) for charge, _, resource in fleet]
    now = now.replace(microsecond=0)  # a schedule starts on a whole second: its offsets are exact
    plans = profiles.schedules(cap_w=None if cap_kw is None else cap_kw * 1000, now=now, needs=needs,
                               citizens_w=sum(_max_w(r) for c, _, r in rows if c.needed_by is None))
    start = now.isoformat().replace("+00:00", "Z")
    for charge, connector, _ in fleet:
        periods = [[round((p.start - now).total_seconds()), p.limit_w] for p in plans[charge.id]]
        session.add(ChargerCommand(charge_point_id=connector.charge_point_id, session_id=charge.id,
                                   action="profile", payload={"start": start, "periods": periods}))


@dataclass(frozen=True)
class Order:
    """A claimed command with what the CSMS needs to word it in the charge point's protocol."""
    command_id: int
    action: str
    identity: str
    session_id: int | None
    id_token: str | None
    evse_id: int
    connector_id: int
    transaction_id: str | None
    expires_at: datetime | None
    payload: dict | None = None


def claim(session: Session, *, owner: str, limit: int = 200) -> list[Order]:
    """Take the pending commands of the charge points this instance holds, marking them sent."""
    with write_transaction(session):
        # sqlmodel's select() is typed for up to four entities; it takes any number.
        rows = session.exec(select(  # type: ignore[call-overload]
            ChargerCommand, ChargePoint.identity, ChargingSession, Connector, Booking.end_at)
                            .join(ChargePoint, ChargePoint.id == ChargerCommand.charge_point_id)
                            .outerjoin(ChargingSession, ChargingSession.id == ChargerCommand.session_id)
                            .outerjoin(Connector, Connector.id == ChargingSession.connector_id)
                            .outerjoin(Booking, Booking.id == ChargingSession.booking_id)
                            .where(ChargerCommand.status == "pending", ChargePoint.owner == owner,
                                   ChargePoint.connected)
                            .order_by(ChargerCommand.id).limit(limit)).all()
        orders = []
        for command, identity, charge, connector, booking_end in rows:
            taken = session.exec(update(ChargerCommand).where(ChargerCommand.id == command.id,
                                                              ChargerCommand.status == "pending")
                                 .values(status="sent")).rowcount
            if taken:
                orders.append(Order(command.id, command.action, identity, charge and charge.id,
                                    charge and charge.id_token, connector.evse_id if connector else 1,
                                    connector.connector_id if connector else 1,
                                    charge and charge.transaction_id, booking_end, command.payload))
    return orders


# What each answer means for the session the command is about.
_OUTCOME_FIELD = {"reserve": "reservation", "start": "remote_start"}


def record_answer(session: Session, *, command_id: int, status: str, answer: str, now: datetime) -> None:
    """Record a charge point's answer to a command (accepted, rejected, failed) on it and its session."""
    with write_transaction(session):
        command = session.get_one(ChargerCommand, command_id)
        command.status, command.answer, command.answered_at = status, answer[:200], now
        charge = command.session_id and session.get(ChargingSession, command.session_id)
        if not charge:
            return
        if command.action in _OUTCOME_FIELD:
            setattr(charge, _OUTCOME_FIELD[command.action], status)
        elif command.action == "cancel_reservation" and charge.reservation == "cancelling":
            charge.reservation = "cancelled" if status == "accepted" else "cancel_failed"


# -- site operators -------------------------------------------------------------------------

def bind_charger(session: Session, *, principal: Principal, site_id: int, resource_id: int,
                 binding: ChargerBinding) -> Connector:
    """Bind a charger resource to a charge point identity and plug; a new identity needs a password."""
    with write_transaction(session):
        site = managed_site(session, site_id=site_id, principal=principal)
        resource = session.get(Resource, resource_id)
        if resource is None or resource.site_id != site.id or resource.kind != ResourceKind.charger.value:
            raise NotFound("resource_not_found", "No such charger at this site.")
        point = session.exec(select(ChargePoint).where(ChargePoint.identity == binding.ocpp_identity)).first()
        if point is not None and point.site_id != site.id:
            raise Invalid("identity_taken", "This identity belongs to a charge point of another site.")
        if point is None:
            if binding.password is None:
                raise Invalid("password_required", "A new charge point identity needs its password.")
            point = ChargePoint(identity=binding.ocpp_identity, site_id=site.id, password_hash="")
            session.add(point)
        if binding.password is not None:
            point.password_hash = hash_password(binding.password)
        session.flush()
        connector = session.exec(select(Connector).where(Connector.resource_id == resource.id)).first()
        if connector is None:
            connector = Connector(resource_id=resource.id, charge_point_id=point.id)
            session.add(connector)
        connector.charge_point_id, connector.evse_id = point.id, binding.evse_id
        connector.connector_id = binding.connector_id
        try:
            session.flush()
        except IntegrityError as exc:
            raise Invalid("plug_taken", "Another charger is bound to this EVSE and connector.") from exc
    return connector


def set_power_cap(session: Session, *, principal: Principal, site_id: int, power_cap_kw: float | None,
                  now: datetime) -> None:
    """Set the most power a site may draw; its running fleet charges are planned again under it."""
    with write_transaction(session):
        managed_site(session, site_id=site_id, principal=principal).power_cap_kw = power_cap_kw
        session.flush()
        replan(session, site_id=site_id, now=now)


def _limit_now(session: Session, charge: ChargingSession, now: datetime) -> float | None:
    """Return the limit (kW) the latest charging profile of a fleet session sets at this moment."""
    payload = session.exec(select(ChargerCommand.payload).where(
        ChargerCommand.session_id == charge.id, ChargerCommand.action == "profile")
        .order_by(ChargerCommand.id.desc())).first()
    if payload is None:
        return None
    elapsed = (now - datetime.fromisoformat(payload["start"].replace("Z", "+00:00"))).total_seconds()
    return [limit for start, limit in payload["periods"] if start <= elapsed][-1] / 1000


def _current_session(session: Session, connector: Connector, now: datetime) -> ConnectorSession | None:
    """Return the session a connector serves now: reserved, charging, or ended but still plugged in."""
    charge = session.exec(select(ChargingSession).where(
        ChargingSession.connector_id == connector.id, ChargingSession.status.in_(("planned", "charging", "ended")))
        .order_by(ChargingSession.id.desc())).first()
    if charge is None:
        return None
    fleet = charge.needed_by is not None
    return ConnectorSession(
        status=charge.status, booking_id=charge.booking_id, fleet=fleet, energy_kwh=round(charge.energy_kwh, 3),
        power_kw=None if charge.power_w is None else round(charge.power_w / 1000, 1),
        limit_kw=_limit_now(session, charge, now) if fleet and charge.status == "charging" else None,
        since=city_time(charge.started_at))


def charger_states(session: Session, *, principal: Principal, site_id: int, now: datetime,
                   faults: int = KEPT_FAULTS) -> list[ChargerState]:
    """Return each connector of a site with its live status, current session and last faults."""
    managed_site(session, site_id=site_id, principal=principal)
    rows = session.exec(select(Connector, ChargePoint).join(ChargePoint)
                        .where(ChargePoint.site_id == site_id).order_by(Connector.resource_id)).all()
    return [ChargerState(
        resource_id=connector.resource_id, ocpp_identity=point.identity, evse_id=connector.evse_id,
        connector_id=connector.connector_id, live_status=live.effective_status(point, connector, now),
        status_at=city_time(connector.status_at), protocol=point.protocol,
        session=_current_session(session, connector, now),
        faults=[Fault(at=city_time(datetime.fromisoformat(f["at"])), error=f["error"])
                for f in connector.faults[:faults]]) for connector, point in rows]
