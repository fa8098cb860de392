"""Server-Sent Event streams fed by the process's live hub: replay, then what is published.

A stream claims one of its user's slots and joins the hub before it replays what the client
missed, so nothing published meanwhile falls between the replay and the live part. That replay
is its one database read, and the connection goes back to the pool before the first byte is
sent; a process lets a few openings work at a time. It then waits for what the hub leaves it:
no thread of its own (under gevent) and no database poll on a timer. It sends a `retry:` hint
first, a heartbeat comment when nothing else was sent for a while, and ends when its subject
ends, when the token that opened it expires, or when the server shuts down.
"""
import json
import random
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from flask import Response, current_app
from pydantic import Field
from sqlmodel import Session

from backend import realtime
from backend.db import get_session
from backend.dbtypes import MAX_ID
from backend.realtime import CLOSED, DELIVERY_LAG, Message
from mobile_api.http import HeaderParams

# What a stream sends for a message: its events as (name, data, id or None), and whether the
# stream is over. Data is a dict, or JSON already serialised once for many streams.
Rendered = tuple[Sequence[tuple[str, dict | str, int | None]], bool]
# One write in this many is recorded in the delivery-lag histogram: in multiprocess mode each
# sample is a locked write to a shared file, and a tenth of thousands a second is plenty of samples.
LAG_SAMPLE_EVERY = 10


class StreamHeaders(HeaderParams):
    """Where a reconnecting client left off."""

    # Event ids are row ids: a larger one was never sent (and would overflow the query).
    last_event_id: int | None = Field(default=None, alias="Last-Event-ID", ge=0, le=MAX_ID,
                                      description="the id of the last event seen; the ones after it are replayed first")


def sse_event(name: str, data: dict | str, event_id: int | None = None) -> str:
    """Format one Server-Sent Event."""
    body = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: {body}\n\n"


@dataclass
class LiveStream:
    """What one stream watches and how it turns messages into events."""

    kind: str                               # metrics label: "ride", "console" or "user"
    channel: str
    user_id: int
    ends_at: float                          # epoch seconds: the token's expiry or the longest stream
    opening: Callable[[Session], Rendered]  # the replay sent once joined, read on the request's session
    render: Callable[[Message], Rendered]   # each published message
    announced: bool = False                 # its publisher works only while someone watches (realtime.watched)


def stream_deadline(token_expires_at: float) -> float:
    """Return when a stream opened now must end: its token's expiry, or the longest stream allowed."""
    return min(token_expires_at, time.time() + current_app.config["SSE_MAX_S"])


def open_stream(stream: LiveStream) -> Response:
    """Claim a slot (429 over the user's limit), join the hub (503 over the process's), read what the
    client missed, and respond."""
    config, r, hub = current_app.config, current_app.extensions["redis"], current_app.extensions["live_hub"]
    slot = realtime.claim_slot(r, user_id=stream.user_id, limit=config["SSE_MAX_STREAMS_PER_USER"])
    subscription = None

    def release() -> None:
        if subscription is not None:
            subscription.close()
        realtime.release_slot(r, user_id=stream.user_id, slot=slot)

    try:
        subscription = hub.join(stream.channel, stream.kind, slot and (stream.user_id, slot),
                                announced=stream.announced)
        opening = _read_opening(stream)
    except Exception:
        release()
        raise
    pace = (config["SSE_HEARTBEAT_S"], config["SSE_RETRY_MS"])
    body = _Body(_run(stream, opening, subscription, pace), release)
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _read_opening(stream: LiveStream) -> Rendered:
    """Read a stream's replay on the request's session and give the connection back at once."""
    session = get_session()
    try:
        return stream.opening(session)
    finally:
        session.close()  # the stream holds no connection while it waits


class _Body:
    """A stream's body: the server closes it when the client goes, even before it was read at all
    (a generator that never started would skip its own clean-up)."""

    def __init__(self, events: Generator[bytes, None, None], release: Callable[[], None]):
        self.events, self.release, self.released = events, release, False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self.events)

    def close(self) -> None:
        self.events.close()
        if not self.released:
            self.released = True
            self.release()


def _run(stream: LiveStream, opening: Rendered, subscription,
         pace: tuple[float, int]) -> Generator[bytes, None, None]:
    heartbeat_s, retry_ms = pace
    # Each stream's own interval, so streams opened together do not all beat in the same instant.
    heartbeat_s *= random.uniform(0.8, 1.0)
    lag = DELIVERY_LAG.labels(stream.kind)
    writes = random.randrange(LAG_SAMPLE_EVERY)  # a phase of its own, so streams are sampled in turn
    yield f"retry: {retry_ms}\n\n".encode()
    events, done = opening
    if events:
        yield "".join(sse_event(*e) for e in events).encode()
    while not done:
        left = stream.ends_at - time.time()
        if left <= 0:
            return
        messages = subscription.take(min(heartbeat_s, left))
        if not messages:
            if time.time() < stream.ends_at:
                yield b": heartbeat\n\n"
            continue
        chunk, done = _render(stream, messages)
        if chunk:
            yield chunk
            writes += 1
            if writes % LAG_SAMPLE_EVERY == 0:
                _observe(lag, messages)
        if CLOSED in messages:
            return


def _observe(lag, messages: list) -> None:
    """Record how long the messages just written took from their publish."""
    sent = time.time()
    for m in messages:
        if m is not CLOSED:
            lag.observe(max(0.0, sent - m.data["t"]))


def _render(stream: LiveStream, messages: list) -> tuple[bytes, bool]:
    """Render what a stream woke up to as one write. A newer unnumbered event (a position, a
    frame) replaces one of its name not yet sent; numbered ones (statuses) all go, in order."""
    events: dict[int | str, tuple[Message, str, dict | str, int | None]] = {}
    done = False
    for message in messages:
        if message is CLOSED:
            break
        rendered, done = stream.render(message)
        for name, data, event_id in rendered:
            key = event_id or name
            events.pop(key, None)
            events[key] = (message, name, data, event_id)
        if done:
            break
    return b"".join(_encoded(*e) for e in events.values()), done


def _encoded(message: Message, name: str, data: dict | str, event_id: int | None) -> bytes:
    """Return an event's bytes; JSON already serialised for many streams is framed once per message."""
    if event_id is not None or not isinstance(data, str):
        return sse_event(name, data, event_id).encode()
    key = ("sse", name, data)
    if key not in message.cache:
        message.cache[key] = sse_event(name, data).encode()
    return message.cache[key]
