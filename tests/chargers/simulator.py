"""A charge point built on the `ocpp` library (2.0.1 or 1.6), driven synchronously by a test."""
import asyncio
import base64
import queue
import threading

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import connect

# Calls a station answers: it accepts them all and keeps them for the test to read.
ANSWERS_201 = {
    Action201.reserve_now: lambda: result201.ReserveNow(status="Accepted"),
    Action201.cancel_reservation: lambda: result201.CancelReservation(status="Accepted"),
    Action201.request_start_transaction: lambda: result201.RequestStartTransaction(status="Accepted"),
    Action201.request_stop_transaction: lambda: result201.RequestStopTransaction(status="Accepted"),
    Action201.set_charging_profile: lambda: result201.SetChargingProfile(status="Accepted"),
}
ANSWERS_16 = {
    Action16.reserve_now: lambda: result16.ReserveNow(status="Accepted"),
    Action16.cancel_reservation: lambda: result16.CancelReservation(status="Accepted"),
    Action16.remote_start_transaction: lambda: result16.RemoteStartTransaction(status="Accepted"),
    Action16.remote_stop_transaction: lambda: result16.RemoteStopTransaction(status="Accepted"),
    Action16.set_charging_profile: lambda: result16.SetChargingProfile(status="Accepted"),
}


def _station(base, answers):
    """Return a charge-point class of an `ocpp` version that accepts and records the CSMS's calls."""
    def handler(action, answer):
        def accept(self, **payload):
            self.received.put((action.value, payload))
            return answer()
        accept.__name__ = f"on_{action.value}"  # the library routes by the name it sees when decorating
        return on(action)(accept)

    methods = {f"on_{action.value}": handler(action, answer) for action, answer in answers.items()}
    return type(f"Station{base.__module__}", (base,), methods)


STATIONS = {"ocpp2.0.1": _station(ChargePoint201, ANSWERS_201), "ocpp1.6": _station(ChargePoint16, ANSWERS_16)}


class Simulator:
    """A charge point on its own event loop in a thread, driven synchronously by the test."""

    def __init__(self, url: str, identity: str, password: str, protocol: str = "ocpp2.0.1"):
        self.url, self.identity, self.password, self.protocol = url, identity, password, protocol
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _open(self):
        token = base64.b64encode(f"{self.identity}:{self.password}".encode()).decode()
        self.ws = await connect(f"{self.url}/ocpp/{self.identity}", subprotocols=[self.protocol],
                                additional_headers={"Authorization": f"Basic {token}"})
        self.station = STATIONS[self.protocol](self.identity, self.ws)
        self.station.received = queue.Queue()
        self.listening = asyncio.ensure_future(self.station.start())

    def open(self) -> "Simulator":
        self.run(self._open())
        return self

    def call(self, payload):
        """Send a call to the CSMS and return its answer."""
        return self.run(self.station.call(payload, suppress=False))

    def expect(self, action: str, timeout: float = 15) -> dict:
        """Return the payload of the next call of this action the CSMS sends."""
        while True:
            got, payload = self.station.received.get(timeout=timeout)
            if got == action:
                return payload

    async def _close(self):
        await self.ws.close()
        await asyncio.gather(self.listening, return_exceptions=True)  # ends with the connection

    def close(self):
        self.run(self._close())
        self.loop.call_soon_threadsafe(self.loop.stop)
