"""A running CSMS on a free port, charge-point simulators built on the `ocpp` library, and a bound charger."""
import asyncio
import threading
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import select

from booking.chargers.cli import platform_of
from booking.chargers.csms import Csms, CsmsSettings
from booking.chargers.models import ChargePoint, Connector
from booking.chargers.services import hash_password
from booking.sites.models import Resource
from tests.chargers.simulator import Simulator
from tests.factories import bearer, make_org, make_site, make_user

PASSWORD = "station-secret-0123456789"
CHARGER = {"kind": "charger", "name_en": "480 kW", "capacity": 1,
           "attributes": {"power_kw": 480, "connector": "GB/T DC", "voltage_class": 800,
                          "service_fee_fen_per_kwh": 80}}


@dataclass
class Line:
    """A running CSMS and what it serves: a site with two chargers, the first bound to a charge point."""
    url: str
    csms: Csms
    site: object
    charger: Resource
    spare: Resource
    identity: str
    headers: dict
    operator_headers: dict

    def simulator(self, protocol: str = "ocpp2.0.1", password: str = PASSWORD) -> Simulator:
        return Simulator(self.url, self.identity, password, protocol)


class Running:
    """A CSMS serving on a free port from an event loop of its own thread."""

    def __init__(self, app, owner: str | None = None, **settings):
        self.csms = Csms(platform_of(app), CsmsSettings(**{**FAST, **settings}))
        if owner:  # instances in one test process need names of their own
            self.csms.owner = owner
        self.loop = asyncio.new_event_loop()
        started = self.loop.create_future()
        self.serving = self.loop.create_task(self.csms.serve("127.0.0.1", 0, started))
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        port = asyncio.run_coroutine_threadsafe(_wait(started), self.loop).result(10)
        self.url = f"ws://127.0.0.1:{port}"

    def stop(self) -> None:
        """Shut down cleanly: connections close and their charge points are marked offline."""
        if not self.loop.is_running():  # frozen: let it run again to end what it holds
            threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(_stop(self.serving), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def freeze(self) -> None:
        """Stop the instance dead, as a crashed process: nothing it holds is closed or recorded."""
        self.loop.call_soon_threadsafe(self.loop.stop)


# Fast ticks and vouching, reservations up to 2 h ahead.
FAST = {"tick_s": 0.1, "heartbeat_s": 30, "response_timeout_s": 5, "reservation_lead": timedelta(hours=2)}


@pytest.fixture
def line(app, session):
    """Start the CSMS in a thread on a free port (fast ticks, reservations up to 2 h ahead)."""
    org = make_org(session)
    site = make_site(session, organisation=org, resources=[CHARGER, {**CHARGER, "name_en": "spare"}])
    charger, spare = session.exec(select(Resource).where(Resource.site_id == site.id).order_by(Resource.id)).all()
    point = ChargePoint(identity=f"CQ-TEST-{site.id}", site_id=site.id, password_hash=hash_password(PASSWORD))
    session.add(point)
    session.flush()
    session.add(Connector(charge_point_id=point.id, resource_id=charger.id, evse_id=1, connector_id=1))
    session.commit()
    citizen = make_user(session)
    operator = make_user(session, roles=("site_operator",), organisation=org)
    running = Running(app)
    yield Line(running.url, running.csms, site, charger, spare, point.identity,
               bearer(app, session, citizen), bearer(app, session, operator))
    running.stop()


async def _wait(future):
    return await future


async def _stop(task):
    """Stop serving, then end what the CSMS still has in flight (calls waiting for an answer)."""
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for pending in rest:
        pending.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
