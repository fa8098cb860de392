"""The OCPP server: charge points connect over WebSockets in 2.0.1 or 1.6; the domain side decides.

Each charge point's messages are handled by an `ocpp` ChargePoint of its protocol; database work
runs in worker threads so thousands of idle connections share one event loop. A tick records
due reservations, sends the commands waiting for the charge points this instance holds,
vouches for them in the database and in Redis, and takes offline the charge points of
instances that stopped vouching for theirs.
"""
import asyncio
import base64
import binascii
import logging
import math
import os
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from redis import Redis
from sqlalchemy.engine import Engine
from sqlmodel import Session
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from backend.db import write_transaction
from backend.dbtypes import utcnow
from booking.chargers import live, services
from booking.chargers.models import LiveStatus
from booking.chargers.services import Plug, Reading
from payments.gateway import PaymentGateway

log = logging.getLogger(__name__)
# The library logs every frame at INFO: with thousands of charge points that is most of the work.
logging.getLogger("ocpp").setLevel(logging.WARNING)
PATH_PREFIX = "/ocpp/"
SUBPROTOCOLS = [Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6")]
WRITE_BATCH = 500
# 1.6 reports what the plug is doing; the platform only needs whether it is free.
STATUS_16 = {"Available": LiveStatus.available, "Preparing": LiveStatus.occupied,
             "Charging": LiveStatus.occupied, "SuspendedEVSE": LiveStatus.occupied,
             "SuspendedEV": LiveStatus.occupied, "Finishing": LiveStatus.occupied,
             "Reserved": LiveStatus.reserved, "Unavailable": LiveStatus.unavailable,
             "Faulted": LiveStatus.faulted}
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
UNPLUGGED_REASONS = {"EVDisconnected", "EVDeparted", "EVCommunicationLost"}


@dataclass(frozen=True)
class CsmsSettings:
    heartbeat_s: int = 60
    tick_s: float = 1.0
    reservation_lead: timedelta = timedelta(minutes=15)
    response_timeout_s: int = 30
    # How often an instance vouches for its charge points; three missed and they count as lapsed.
    liveness_s: float = live.LIVENESS_S


@dataclass
class Platform:
    """What the CSMS shares with the API: the database, Redis and the payment gateway."""
    engine: Engine
    redis: Redis
    gateway: PaymentGateway


def _now_text() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


def _moment(text: str | None) -> datetime:
    """Read an OCPP timestamp; a charge point's clock is trusted to the second, never for the future."""
    try:
        moment = datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(moment.astimezone(UTC), utcnow())


def tx_schedule(order: services.Order) -> dict:
    """Return a charging profile's absolute schedule in watts, as both protocols word it."""
    assert order.payload is not None  # a profile command carries its schedule
    return {"start_schedule": order.payload["start"], "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": start, "limit": limit}
                                         for start, limit in order.payload["periods"]]}


def faults_of(event_data: list[dict]) -> list[tuple[int | None, int | None, str]]:
    """Return the problems a NotifyEvent raises: (EVSE, connector, error); cleared ones are not faults."""
    faults = []
    for event in event_data:
        problem = event["variable"]["name"] == "Problem" and str(event["actual_value"]).lower() == "true"
        if event.get("cleared") or not (problem or event["trigger"] == "Alerting"):
            continue
        evse = event["component"].get("evse") or {}
        error = event.get("tech_code") or f'{event["component"]["name"]}.{event["variable"]["name"]}'
        faults.append((evse.get("id"), evse.get("connector_id"), error))
    return faults


def reading_of(samples: list | None, fallback: datetime | None = None) -> Reading:
    """Return the latest energy register (Wh) and power (W) in a list of OCPP meter values."""
    energy = power = None
    at = fallback or utcnow()
    for sample in samples or []:
        at = _moment(sample.get("timestamp"))
        for value in sample.get("sampled_value", []):
            measurand = value.get("measurand", ENERGY)
            unit = (value.get("unit_of_measure") or {}).get("unit") or value.get("unit") or ""
            scale = 10 ** (value.get("unit_of_measure") or {}).get("multiplier", 0)
            amount = float(value["value"]) * scale * (1000 if unit.startswith("k") else 1)
            if not math.isfinite(amount):  # JSON as Python reads it lets NaN and Infinity through
                continue
            if measurand == ENERGY:
                energy = amount
            elif measurand == POWER:
                power = amount
    return Reading(at=at, energy_wh=energy, power_w=power)


class _Line:
    """What both protocols' handlers share: the CSMS they report to and when they were last heard."""

    def __init__(self, identity, connection, csms):
        # A mixin: super() is the protocol's ocpp ChargePoint in Line201 and Line16.
        super().__init__(identity, connection, response_timeout=csms.settings.response_timeout_s)  # type: ignore[call-arg]
        self.csms = csms
        self.last_heard: float | None = time.monotonic()

    async def route_message(self, raw_msg):
        self.last_heard = None  # busy with its message (a slow database write is not silence)
        try:
            await super().route_message(raw_msg)  # type: ignore[misc]  # see __init__
        finally:
            self.last_heard = time.monotonic()

    def boot_answer(self):
        return {"current_time": _now_text(), "interval": self.csms.settings.heartbeat_s, "status": "Accepted"}


class Line201(_Line, ChargePoint201):
    """A charge point speaking OCPP 2.0.1."""

    @on(Action201.boot_notification)
    async def on_boot(self, charging_station, reason, **_):
        await self.csms.write(services.boot, identity=self.id, vendor=charging_station.get("vendor_name", ""),
                              model=charging_station.get("model", ""), now=utcnow())
        return result201.BootNotification(**self.boot_answer())

    @on(Action201.heartbeat, skip_schema_validation=True)
    def on_heartbeat(self, **_):
        return result201.Heartbeat(current_time=_now_text())

    @on(Action201.status_notification)
    async def on_status(self, timestamp, connector_status, evse_id, connector_id, **_):
        await self.csms.report_status(Plug(self.id, evse_id, connector_id), LiveStatus(connector_status.lower()),
                                      None, _moment(timestamp))
        return result201.StatusNotification()

    @on(Action201.notify_event)
    async def on_notify_event(self, event_data, **_):
        if faults := faults_of(event_data):
            await self.csms.db(services.report_faults, identity=self.id, faults=faults, now=utcnow())
        return result201.NotifyEvent()

    @on(Action201.authorize)
    async def on_authorize(self, id_token, **_):
        known = await self.csms.db(services.authorize, identity=self.id, id_token=id_token["id_token"])
        return result201.Authorize(id_token_info={"status": "Accepted" if known else "Invalid"})

    @on(Action201.meter_values)
    def on_meter_values(self, **_):
        return result201.MeterValues()  # outside a transaction: nothing is billed from it

    @on(Action201.transaction_event)
    async def on_transaction_event(self, event_type, timestamp, transaction_info, evse=None,
                                   id_token=None, meter_value=None, **_):
        reading = reading_of(meter_value, _moment(timestamp))
        transaction_id = transaction_info["transaction_id"]
        token = id_token and id_token["id_token"]
        if event_type == "Started":
            plug = Plug(self.id, (evse or {}).get("id", 1), (evse or {}).get("connector_id", 1))
            _, known = await self.csms.db(services.start_transaction, plug=plug, id_token=token,
                                          transaction_id=transaction_id, reading=reading)
        elif event_type == "Ended":
            unplugged = transaction_info.get("stopped_reason") in UNPLUGGED_REASONS
            await self.csms.db(services.end_transaction, self.csms.platform.gateway, identity=self.id,
                               transaction_id=transaction_id, reading=reading, unplugged=unplugged)
            known = True
        else:
            await self.csms.db(services.meter, identity=self.id, transaction_id=transaction_id, reading=reading)
            known = True
        info = {"status": "Accepted" if known else "Invalid"} if token else None
        return result201.TransactionEvent(id_token_info=info)

    def word(self, order: services.Order):
        """Return the 2.0.1 call for a command."""
        token = {"id_token": order.id_token or "", "type": "Central"}
        return {
            "reserve": lambda: call201.ReserveNow(
                id=order.session_id, id_token=token, evse_id=order.evse_id,
                expiry_date_time=(order.expires_at or utcnow()).isoformat().replace("+00:00", "Z")),
            "cancel_reservation": lambda: call201.CancelReservation(reservation_id=order.session_id),
            "start": lambda: call201.RequestStartTransaction(id_token=token, remote_start_id=order.session_id,
                                                             evse_id=order.evse_id),
            "stop": lambda: call201.RequestStopTransaction(transaction_id=order.transaction_id),
            "profile": lambda: call201.SetChargingProfile(evse_id=order.evse_id, charging_profile={
                "id": order.session_id, "stack_level": 0, "charging_profile_purpose": "TxProfile",
                "charging_profile_kind": "Absolute", "transaction_id": order.transaction_id,
                "charging_schedule": [{"id": order.session_id, **tx_schedule(order)}]}),
        }[order.action]()


class Line16(_Line, ChargePoint16):
    """A charge point speaking OCPP 1.6."""

    @on(Action16.boot_notification)
    async def on_boot(self, charge_point_vendor, charge_point_model, **_):
        await self.csms.write(services.boot, identity=self.id, vendor=charge_point_vendor,
                              model=charge_point_model, now=utcnow())
        return result16.BootNotification(**self.boot_answer())

    @on(Action16.heartbeat, skip_schema_validation=True)
    def on_heartbeat(self, **_):
        return result16.Heartbeat(current_time=_now_text())

    @on(Action16.status_notification)
    async def on_status(self, connector_id, error_code, status, timestamp=None, **_):
        if connector_id > 0:  # 0 is the charge point itself; its connectors report their own
            await self.csms.report_status(Plug(self.id, None, connector_id), STATUS_16[status],
                                          None if error_code == "NoError" else error_code, _moment(timestamp))
        return result16.StatusNotification()

    @on(Action16.authorize)
    async def on_authorize(self, id_tag, **_):
        known = await self.csms.db(services.authorize, identity=self.id, id_token=id_tag)
        return result16.Authorize(id_tag_info={"status": "Accepted" if known else "Invalid"})

    @on(Action16.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **_):
        transaction_id, known = await self.csms.db(
            services.start_transaction, plug=Plug(self.id, None, connector_id), id_token=id_tag,
            transaction_id=None, reading=Reading(at=_moment(timestamp), energy_wh=float(meter_start)))
        return result16.StartTransaction(transaction_id=int(transaction_id),
                                         id_tag_info={"status": "Accepted" if known else "Invalid"})

    @on(Action16.meter_values)
    async def on_meter_values(self, connector_id, meter_value, transaction_id=None, **_):
        if transaction_id is not None:
            await self.csms.db(services.meter, identity=self.id, transaction_id=str(transaction_id),
                               reading=reading_of(meter_value))
        return result16.MeterValues()

    @on(Action16.stop_transaction)
    async def on_stop_transaction(self, meter_stop, timestamp, transaction_id, reason=None, **_):
        await self.csms.db(services.end_transaction, self.csms.platform.gateway, identity=self.id,
                           transaction_id=str(transaction_id),
                           reading=Reading(at=_moment(timestamp), energy_wh=float(meter_stop)),
                           unplugged=reason in UNPLUGGED_REASONS)
        return result16.StopTransaction()

    def word(self, order: services.Order):
        """Return the 1.6 call for a command (1.6 names connectors, and reservation ids are ours)."""
        return {
            "reserve": lambda: call16.ReserveNow(
                connector_id=order.connector_id, id_tag=order.id_token or "", reservation_id=order.session_id,
                expiry_date=(order.expires_at or utcnow()).isoformat().replace("+00:00", "Z")),
            "cancel_reservation": lambda: call16.CancelReservation(reservation_id=order.session_id),
            "start": lambda: call16.RemoteStartTransaction(id_tag=order.id_token or "",
                                                           connector_id=order.connector_id),
            # Stop and profile commands are for a running charge, which has its transaction id.
            "stop": lambda: call16.RemoteStopTransaction(transaction_id=int(cast(str, order.transaction_id))),
            "profile": lambda: call16.SetChargingProfile(connector_id=order.connector_id, cs_charging_profiles={
                "charging_profile_id": order.session_id, "transaction_id": int(cast(str, order.transaction_id)),
                "stack_level": 0, "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Absolute",
                "charging_schedule": tx_schedule(order)}),
        }[order.action]()


LINES: dict[str, type[Line201] | type[Line16]] = {"ocpp2.0.1": Line201, "ocpp1.6": Line16}


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


@dataclass
class Csms:
    """One CSMS instance: the charge points it holds and the loop that sends them commands."""
    platform: Platform
    settings: CsmsSettings = field(default_factory=CsmsSettings)
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    lines: dict = field(default_factory=dict)
    writes: list = field(default_factory=list)
    wrote: asyncio.Event = field(default_factory=asyncio.Event)

    async def db(self, work, *args, **kwargs):
        """Run a domain function with its own session in a worker thread."""
        return await asyncio.to_thread(self._run, work, args, kwargs)

    def _run(self, work, args, kwargs):
        with Session(self.platform.engine, expire_on_commit=False) as session:
            return work(session, *args, **kwargs)

    async def write(self, work, **kwargs):
        """Queue a write to share one transaction with the writes waiting beside it."""
        future = asyncio.get_running_loop().create_future()
        self.writes.append((work, kwargs, future))
        self.wrote.set()
        return await future

    async def run_writer(self) -> None:
        """Commit queued writes in batches, one worker thread at a time."""
        while True:
            await self.wrote.wait()
            self.wrote.clear()
            while self.writes:
                batch, self.writes = self.writes[:WRITE_BATCH], self.writes[WRITE_BATCH:]
                for (_, _, future), (ok, value) in zip(batch, await asyncio.to_thread(self._commit, batch),
                                                       strict=True):
                    if future.done():  # its handler gave up (the connection dropped)
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)

    def _commit(self, batch) -> list[tuple[bool, object]]:
        """Run a batch in one transaction; if any of it fails, run each alone so only it fails."""
        with Session(self.platform.engine, expire_on_commit=False) as session:
            try:
                with write_transaction(session):
                    return [(True, work(session, **kwargs)) for work, kwargs, _ in batch]
            except Exception:  # noqa: BLE001 - retried one by one below
                log.warning("a batch of %d writes failed; retrying them one by one", len(batch))
        return [self._commit_alone(work, kwargs) for work, kwargs, _ in batch]

    def _commit_alone(self, work, kwargs) -> tuple[bool, object]:
        with Session(self.platform.engine, expire_on_commit=False) as session:
            try:
                with write_transaction(session):
                    return True, work(session, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the waiting handler
                return False, exc

    async def report_status(self, plug: Plug, status: LiveStatus, error: str | None, at: datetime) -> None:
        """Record a connector's status; settle the sessions whose plug it frees."""
        for session_id in await self.write(services.connector_status, plug=plug, status=status, error=error,
                                           now=at):
            await self.db(services.settle, self.platform.gateway, session_id=session_id, now=at)

    async def check_handshake(self, connection, request):
        """Refuse unknown paths, identities and passwords before the WebSocket opens (profile 1)."""
        if not request.path.startswith(PATH_PREFIX):
            return connection.respond(HTTPStatus.NOT_FOUND, "Connect to /ocpp/<identity>.\n")
        identity = unquote(request.path[len(PATH_PREFIX):])
        credentials = _basic_credentials(request.headers.get("Authorization"))
        if credentials is None or credentials[0] != identity or not await self.db(
                services.authenticate, identity=identity, password=credentials[1]):
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unknown identity or wrong password.\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        return None

    async def handle(self, connection):
        """Hold one charge point's connection until it drops."""
        identity = unquote(connection.request.path[len(PATH_PREFIX):])
        if connection.subprotocol not in LINES:
            await connection.close(1002, "Offer ocpp2.0.1 or ocpp1.6.")
            return
        line = LINES[connection.subprotocol](identity, connection, self)
        previous = self.lines.get(identity)
        if previous is not None:  # the charge point reconnected: the new connection wins
            await previous._connection.close()
        self.lines[identity] = line
        await self.write(services.connect, identity=identity, owner=self.owner,
                         protocol=connection.subprotocol, now=utcnow())
        self._announce(identity)
        try:
            await line.start()
        except ConnectionClosed:
            pass
        finally:
            if self.lines.get(identity) is line:
                del self.lines[identity]
                await self.db(services.disconnect, identity=identity, owner=self.owner, now=utcnow())

    def _announce(self, identity: str) -> None:
        """Record in Redis which instance holds the charge point, for the API to address it."""
        try:
            self.platform.redis.set(live.owner_key(identity), self.owner, px=round(3000 * self.settings.liveness_s))
        except Exception as exc:  # noqa: BLE001 - the database remains the record of ownership
            log.warning("could not record the owner of %s in Redis: %s", identity, exc)

    async def send(self, order: services.Order) -> None:
        """Send one claimed command and record the charge point's answer."""
        line = self.lines.get(order.identity)
        try:
            if line is None:
                raise ConnectionError("the charge point is not connected here")
            answer = await line.call(line.word(order), suppress=False)
            status = "accepted" if answer.status == "Accepted" else "rejected"
            detail = str(answer.status)
        except Exception as exc:  # noqa: BLE001 - timeouts, CallErrors and drops all fail the command
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
        await self.db(services.record_answer, command_id=order.command_id, status=status, answer=detail,
                      now=utcnow())

    async def tick(self, beat: int) -> None:
        """Plan reservations, send waiting commands, drop silent charge points, vouch for the rest."""
        now = utcnow()
        await self.db(services.plan, owner=self.owner, now=now, lead=self.settings.reservation_lead)
        for order in await self.db(services.claim, owner=self.owner):
            asyncio.create_task(self.send(order))
        silent = time.monotonic() - 3 * self.settings.heartbeat_s
        for line in [line for line in self.lines.values() if line.last_heard is not None and line.last_heard < silent]:
            await line._connection.close(1001, "No heartbeat.")
        if beat % max(1, round(self.settings.liveness_s / self.settings.tick_s)) == 0:
            await self.db(services.refresh_liveness, owner=self.owner, now=now)
            await self.db(services.extend_outages, now=now)
            for identity in list(self.lines):
                self._announce(identity)
            await self.drop_lapsed(now)

    async def drop_lapsed(self, now: datetime) -> None:
        """Take offline the charge points of instances that died holding them, until they reconnect."""
        silent_since = now - timedelta(seconds=3 * self.settings.liveness_s)
        silent = await self.db(services.held_elsewhere, owner=self.owner, silent_since=silent_since)
        try:  # an owner record still in Redis means its instance vouched for it lately
            owners = self.platform.redis.mget([live.owner_key(identity) for identity in silent]) if silent else []
        except Exception as exc:  # noqa: BLE001 - the database's record of silence is enough
            log.warning("could not read charge point owners from Redis: %s", exc)
            owners = [None] * len(silent)
        lapsed = [identity for identity, owner in zip(silent, owners, strict=True) if owner is None]
        if lapsed:
            await self.db(services.drop_lapsed, identities=lapsed, silent_since=silent_since, now=now)

    def _listen_for_nudges(self, wake: asyncio.Event, stop: threading.Event) -> None:
        """Wake the tick loop when the API says a command waits (Redis pub/sub, in a thread)."""
        loop = asyncio.get_running_loop()

        def listen():
            try:
                pubsub = self.platform.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(live.nudge_channel(self.owner))
                while not stop.is_set():
                    if pubsub.get_message(timeout=1.0):
                        loop.call_soon_threadsafe(wake.set)
                pubsub.close()
            except Exception as exc:  # noqa: BLE001 - ticks still find every command, only later
                log.warning("CSMS no longer hears nudges: %s", exc)

        threading.Thread(target=listen, name="ocpp-nudges", daemon=True).start()

    async def run_ticks(self) -> None:
        beat, wake, stop = 0, asyncio.Event(), threading.Event()
        self._listen_for_nudges(wake, stop)
        try:
            while True:
                try:
                    await self.tick(beat)
                except Exception:  # noqa: BLE001 - a database hiccup must not end the service
                    log.exception("CSMS tick failed")
                beat += 1
                with suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.settings.tick_s)
                wake.clear()
        finally:
            stop.set()

    async def serve(self, host: str, port: int, started: asyncio.Future | None = None) -> None:
        """Accept charge points on ws://host:port/ocpp/<identity> until cancelled."""
        # A boot storm queues handshakes behind password checks: give them time rather than drop them.
        async with serve(self.handle, host, port, subprotocols=SUBPROTOCOLS,
                         process_request=self.check_handshake, ping_interval=None,
                         max_size=1 << 20, open_timeout=120) as server:
            if started is not None:
                started.set_result(server.sockets[0].getsockname()[1])
            workers = [asyncio.create_task(self.run_ticks()), asyncio.create_task(self.run_writer())]
            try:
                await asyncio.Future()
            finally:
                for worker in workers:
                    worker.cancel()
