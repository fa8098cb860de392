"""Live stream fixtures: a reader of Server-Sent Events over real HTTP, and quick stream settings."""
import json
import queue
import socket
import threading
import time

import pytest
import requests

from backend import realtime
from tests.robotaxi_dispatch.test_rides import city, dispatcher, request  # noqa: F401  (fixtures and helpers)


class EventReader:
    """Read one SSE stream on a thread; hand its events and comments to the test as they arrive."""

    def __init__(self, url: str, headers: dict):
        self.response = requests.get(url, headers=headers, stream=True, timeout=(5, 30))
        self._socket = self.response.raw.connection.sock if self.response.raw.connection else None
        self.items: queue.Queue = queue.Queue()
        self.ended = threading.Event()
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        fields: dict = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith(":"):
                    self.items.put(("comment", line[1:].strip()))
                elif line == "" and fields:
                    data = json.loads(fields["data"]) if "data" in fields else None
                    self.items.put((fields.get("event", "retry" if "retry" in fields else "message"),
                                    {"id": fields.get("id"), "data": data, "retry": fields.get("retry")}))
                    fields = {}
                elif ":" in line:
                    name, _, value = line.partition(":")
                    fields[name] = value.strip()
        except (requests.RequestException, AttributeError):  # closed by the test (urllib3 drops its socket)
            pass
        finally:
            self.ended.set()

    def next(self, kind: str, timeout: float = 10.0):
        """Return the next item of a kind (an event name, or "comment"), skipping others."""
        opened = self.response.status_code
        assert opened == 200, f"the stream did not open: {opened} {self.response.text}"
        while True:
            got, value = self.items.get(timeout=timeout)
            if got == kind:
                return value

    def close(self) -> None:
        """Hang up at once: closing the response alone waits for the reading thread to let go of the socket."""
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:  # the server already ended the stream
                pass
        self.response.close()


def hub_caught_up(app, timeout: float = 10.0) -> None:
    """Wait until the live hub has handed on everything published so far: Redis delivers a
    connection's messages in order, so a probe heard means every earlier message was too."""
    hub = app.extensions["live_hub"]
    probe = hub.join("tests:probe", "probe")
    try:
        deadline = time.monotonic() + timeout
        while not probe.take(0.1):  # again until heard: the first may precede the hub's subscription
            assert time.monotonic() < deadline, "the live hub never heard its probe"
            realtime.publish(app.extensions["redis"], "tests:probe", {})
    finally:
        probe.close()


@pytest.fixture
def open_stream(app, live_server):
    """Open SSE streams on the live server; close them all when the test ends."""
    readers, hub = [], app.extensions["live_hub"]
    # Streams other tests left to the session's app (a test client's response never read to
    # its end) are theirs: this test answers for its own.
    held_before = hub.open_streams

    def opener(path: str, headers: dict) -> EventReader:
        reader = EventReader(live_server + path, headers)
        readers.append(reader)
        return reader

    yield opener
    for reader in readers:
        reader.close()
    # Wait for the server to let them go: a stream it still holds would have its user's slot
    # renewed after Redis is emptied, and the next test's user (same id) would inherit it.
    deadline = time.monotonic() + 30
    while hub.open_streams > held_before and time.monotonic() < deadline:
        time.sleep(0.05)
    left = hub.open_streams - held_before
    assert left <= 0, f"the server still holds {left} streams the test closed"


@pytest.fixture(autouse=True)
def quick(app):
    """Heartbeats every 0.3 s, so a test sees one and a server notices a closed stream at once."""
    saved = dict(app.config)
    app.config.update(SSE_HEARTBEAT_S=0.3)
    yield app.config
    app.config.update({k: saved[k] for k in ("SSE_HEARTBEAT_S", "SSE_MAX_STREAMS_PER_USER")})
