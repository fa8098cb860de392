"""The hub on its own: a batch's entries reach their watchers only, as published; a stalled stream ends."""
import json

import pytest

from backend import realtime


class Recorder:
    """Stands in for Redis: keeps what is published."""

    connection_pool = None

    def __init__(self):
        self.published: list[tuple[str, str]] = []

    def publish(self, channel: str, payload: str) -> None:
        self.published.append((channel, payload))


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setattr(realtime.Hub, "_start_listener", lambda hub: None)  # messages are handed in by the test
    return realtime.Hub(Recorder(), max_streams=10)


def test_a_batch_reaches_each_entrys_watchers_only_as_published(hub):
    first, second, other = hub.join("ride:1", "ride"), hub.join("ride:1", "ride"), hub.join("ride:2", "ride")
    realtime.publish_batch(hub.redis, "ride:{liangjiang}:positions", {
        "ride:1": {"kind": "position", "lat": 29.6, "name": "两江"}, "ride:3": {"kind": "status"}})
    (channel, payload), = hub.redis.published
    assert channel == "0:live:ride:{liangjiang}:positions"
    hub.deliver_batch(payload)
    (message,) = first.take(0)
    assert second.take(0) == [message], "one message, its JSON made once, for every watcher"
    assert other.take(0) == []
    assert message.data == {"kind": "position", "t": message.data["t"]}
    assert json.loads(message.body) == {"lat": 29.6, "name": "两江", "t": message.data["t"]}


def test_a_stream_that_stops_reading_is_ended_not_held(hub):
    stalled, reading = hub.join("console", "console"), hub.join("console", "console")
    for n in range(realtime.QUEUE_LIMIT):
        hub.deliver("console", {"kind": "frame", "n": n, "t": 0})
        assert len(reading.take(0)) == 1
    hub.deliver("console", {"kind": "frame", "n": -1, "t": 0})
    assert stalled.take(0) == [realtime.CLOSED]
    assert [m.data["n"] for m in reading.take(0)] == [-1]
    assert hub.open_streams == 1
