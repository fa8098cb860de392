"""Live streams: one Redis subscription per server process, fanned out to its open connections.

A change is published once on a `live:` channel (`publish`); every process holds a single
pattern subscription (`Hub`) and hands each message to the connections that watch its channel,
so an open stream costs a deque and an event, not a thread or a database poll. Channel names start with the
Redis database number: pub/sub ignores it, and two deployments (or test runs) that share a Redis
server on different databases must never hear each other.

Under gunicorn's gevent worker the listener and every connection are greenlets; in tests and
CLI commands they are ordinary threads. Both are what `threading` gives.
"""
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

import redis
from prometheus_client import Gauge, Histogram

from backend.exceptions import TooManyRequests, Unavailable

log = logging.getLogger(__name__)

OPEN_STREAMS = Gauge("sse_open_streams", "Open Server-Sent Event streams", ["kind"], multiprocess_mode="livesum")
DELIVERY_LAG = Histogram("sse_delivery_lag_seconds", "From publish to the write on a stream's socket, one write in ten",
                         ["kind"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
QUEUE_LIMIT = 256   # messages a connection may fall behind before it is dropped (a dead client)
HAND_SLICE = 200    # connections woken before the hub lets ordinary requests run again
SLOT_TTL_S = 60     # a per-user stream slot lapses unless the process holding its stream renews it
RENEW_EVERY_S = SLOT_TTL_S / 3
WATCHERS_TTL_S = SLOT_TTL_S  # an announced channel counts as watched this long after its process last said so
BATCH = "batch"     # the first word of a batch (a single message is JSON)
CLOSED = object()   # left for a connection: the stream ends (shutdown, dropped)


def channel_prefix(r: redis.Redis) -> str:
    """Return the namespace of live channels on this Redis client: its database number (a cluster has only 0)."""
    pool = getattr(r, "connection_pool", None)
    return f"{pool.connection_kwargs.get('db', 0) if pool else 0}:live:"


def publish(r: redis.Redis, channel: str, message: dict) -> None:
    """Publish a message once to every server process, stamped with when it was sent."""
    r.publish(channel_prefix(r) + channel, json.dumps({**message, "t": time.time()}))


def publish_batch(r: redis.Redis, channel: str, messages: dict[str, dict]) -> None:
    """Publish many channels' messages as one (a region's positions of one tick).

    A first line `batch <when sent>`, then a line per entry, `<channel> <kind> <JSON of the rest,
    "t" included>`: every process splits the batch once and decodes nothing, not even the entries
    its connections watch, whose streams send an entry's JSON as it came. JSON holds no raw
    newline; channel names and kinds hold no space.
    """
    t = time.time()
    lines = [f"{BATCH} {t}"]
    for entry, message in messages.items():
        rest = {k: v for k, v in message.items() if k != "kind"}
        lines.append(f"{entry} {message['kind']} {json.dumps({**rest, 't': t}, ensure_ascii=False)}")
    r.publish(channel_prefix(r) + channel, "\n".join(lines))


@dataclass(eq=False)
class Message:
    """One published message as every local connection receives it; `cache` is shared by them.

    A batch entry's `data` holds only its kind and when it was sent; `body` is its JSON as published.
    """

    channel: str
    data: dict
    body: str | None = None
    cache: dict = field(default_factory=dict)


class Subscription:
    """One open connection's view of a channel: the messages the hub left for it, and the user slot it holds."""

    def __init__(self, hub: "Hub", channel: str, kind: str, slot: tuple[int, str] | None, announced: bool):
        self.hub, self.channel, self.kind, self.slot, self.announced = hub, channel, kind, slot, announced
        # A deque and an event rather than queue.Queue: under gevent, the queue's lock and condition
        # variable (a fresh lock per wait) cost more than the rest of a delivery.
        self.pending: deque = deque()
        self.ready = threading.Event()

    def take(self, timeout: float) -> list:
        """Return every message left so far (CLOSED among them when the stream must end), waiting up
        to `timeout` seconds for the first; an empty list after that long in silence."""
        self.ready.clear()  # before looking, so a message left meanwhile sets it again
        if not self.pending:
            self.ready.wait(max(timeout, 0))
        return [self.pending.popleft() for _ in range(len(self.pending))]

    def put(self, message) -> bool:
        """Leave a message and wake the stream; False when it already holds QUEUE_LIMIT."""
        if len(self.pending) >= QUEUE_LIMIT:
            return False
        self.pending.append(message)
        self.ready.set()
        return True

    def end(self) -> None:
        """Drop what is left and end the stream at its next wake-up."""
        self.pending.clear()
        self.pending.append(CLOSED)
        self.ready.set()

    def close(self) -> None:
        self.hub.leave(self)


class Hub:
    """The process's one subscription to the live channels and the connections it feeds."""

    def __init__(self, r: redis.Redis, *, max_streams: int):
        self.redis, self.max_streams = r, max_streams
        self.prefix, self.id = channel_prefix(r), uuid.uuid4().hex
        self._watchers: dict[str, set[Subscription]] = {}
        self.open_streams = 0  # kept as they come and go: summing the channels at each opening grew with the streams
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self.closing = False

    def join(self, channel: str, kind: str, slot: tuple[int, str] | None = None, *,
             announced: bool = False) -> Subscription:
        """Watch a channel, keeping a (user id, slot) counted meanwhile; 503 when this process
        holds as many streams as it may. An announced channel's publisher can tell it is watched (`watched`)."""
        if self.closing:
            raise Unavailable("shutting_down", "This server is restarting; reconnect.", retry_after_s=1)
        with self._lock:
            if self.open_streams >= self.max_streams:
                raise Unavailable("too_many_streams", "This server holds all the streams it can; retry.",
                                  retry_after_s=5)
            subscription = Subscription(self, channel, kind, slot, announced)
            self._watchers.setdefault(channel, set()).add(subscription)
            self.open_streams += 1
            self._start_listener()
        OPEN_STREAMS.labels(kind).inc()
        if announced:
            self._announce({channel})
        return subscription

    def leave(self, subscription: Subscription) -> None:
        with self._lock:
            watchers = self._watchers.get(subscription.channel, set())
            if subscription not in watchers:
                return
            watchers.discard(subscription)
            self.open_streams -= 1
            unwatched = not watchers
            if unwatched:
                del self._watchers[subscription.channel]
        OPEN_STREAMS.labels(subscription.kind).dec()
        if unwatched and subscription.announced:
            self._unannounce(subscription.channel)

    def close_all(self) -> None:
        """End every open stream cleanly (graceful shutdown) and refuse new ones."""
        self.closing = True
        with self._lock:
            everyone = [s for watchers in self._watchers.values() for s in watchers]
        for subscription in everyone:
            subscription.end()

    def deliver(self, channel: str, data: dict) -> None:
        """Hand a message to every local connection watching its channel."""
        with self._lock:
            watchers = list(self._watchers.get(channel, ()))
        self._hand_all(Message(channel, data), watchers)

    def deliver_batch(self, payload: str) -> None:
        """Hand each entry of a batch to the local connections watching its channel."""
        head, *lines = payload.split("\n")
        t = float(head.split(" ", 1)[1])
        with self._lock:  # once per batch, not per entry
            watched = [(line, list(found)) for line in lines
                       if (found := self._watchers.get(line[:line.index(" ")]))]
        handed = 0
        for line, watchers in watched:
            entry, kind, body = line.split(" ", 2)
            self._hand_all(Message(entry, {"kind": kind, "t": t}, body), watchers)
            handed += len(watchers)
            if handed >= HAND_SLICE:
                # A batch wakes thousands of streams at once: let the requests that are ready
                # run between slices rather than after the whole batch (gevent yields here).
                time.sleep(0)
                handed = 0

    def _hand_all(self, message: Message, watchers: list[Subscription]) -> None:
        for subscription in watchers:
            # A client that stopped reading: end its stream rather than hold messages for it.
            if not subscription.put(message):
                log.info("stream on %s dropped: client fell %d messages behind", subscription.channel, QUEUE_LIMIT)
                self.leave(subscription)
                subscription.end()

    def _renew_slots(self) -> None:
        """Keep the slots of this process's open streams counted: one round trip for all of them,
        rather than one per stream (thousands of streams would take every pooled connection)."""
        slots = self._held_slots()
        lapse = time.time() + SLOT_TTL_S
        with self.redis.pipeline(transaction=False) as pipe:
            for user_id, slot in slots:
                pipe.zadd(slot_key(user_id), {slot: lapse})
                pipe.expire(slot_key(user_id), SLOT_TTL_S)
            pipe.execute()
        # A stream that ended between the read and the write had its slot released already, and
        # the write brought it back: release it again, or its user would be a stream short for a minute.
        ended = slots - self._held_slots()
        if ended:
            with self.redis.pipeline(transaction=False) as pipe:
                for user_id, slot in ended:
                    pipe.zrem(slot_key(user_id), slot)
                pipe.execute()

    def _announce(self, channels: set[str]) -> None:
        """Say in Redis that this process has streams open on these channels, for WATCHERS_TTL_S."""
        if not channels:
            return
        lapse = time.time() + WATCHERS_TTL_S
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.zadd(watchers_key(channel), {self.id: lapse})
                    pipe.expire(watchers_key(channel), WATCHERS_TTL_S)
                pipe.execute()
        except redis.RedisError as exc:  # publishers that cannot ask Redis publish anyway
            log.warning("watched channels not announced, Redis unavailable: %s", exc)

    def _unannounce(self, channel: str) -> None:
        try:
            self.redis.zrem(watchers_key(channel), self.id)
        except redis.RedisError:  # the announcement lapses on its own
            pass

    def _announced_channels(self) -> set[str]:
        with self._lock:
            return {channel for channel, watchers in self._watchers.items() if any(s.announced for s in watchers)}

    def _held_slots(self) -> set[tuple[int, str]]:
        with self._lock:
            return {s.slot for watchers in self._watchers.values() for s in watchers if s.slot}

    def _start_listener(self) -> None:
        if self._listener is None or not self._listener.is_alive():
            self._listener = threading.Thread(target=self._listen, name="live-hub", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        """Receive every live message for this process and renew its streams' slots; wait out Redis outages."""
        renewed = time.monotonic()
        while not self.closing:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(self.prefix + "*")
                while not self.closing:
                    if time.monotonic() - renewed >= RENEW_EVERY_S:
                        self._renew_slots()
                        self._announce(self._announced_channels())
                        renewed = time.monotonic()
                    raw = pubsub.get_message(timeout=1.0)
                    if raw is None:
                        continue
                    if raw["data"].startswith(BATCH):
                        self.deliver_batch(raw["data"])
                    else:
                        self.deliver(raw["channel"][len(self.prefix):], json.loads(raw["data"]))
            except redis.RedisError as exc:
                log.warning("live hub: Redis unavailable, resubscribing: %s", exc)
                time.sleep(1)


def watchers_key(channel: str) -> str:
    return f"streams:watchers:{channel}"


def watched(r: redis.Redis, channel: str) -> bool:
    """Tell whether any process has a stream open on an announced channel; True when Redis cannot say.

    A publisher whose every message costs work (the console's fleet frames) skips it while
    nobody watches: an announcement lapses WATCHERS_TTL_S after its process last renewed it.
    """
    try:
        return bool(r.zcount(watchers_key(channel), time.time(), "+inf"))
    except redis.RedisError:
        return True


def slot_key(user_id: int) -> str:
    return f"streams:user:{user_id}"


def claim_slot(r: redis.Redis, *, user_id: int, limit: int) -> str | None:
    """Count one more open stream for a user across all processes; 429 beyond `limit`.

    Slots live in a sorted set scored by when they lapse, so a stream whose process died stops
    counting within SLOT_TTL_S. Without Redis, only the per-process ceiling applies.
    """
    key, slot, now = slot_key(user_id), uuid.uuid4().hex, time.time()
    try:
        with r.pipeline() as pipe:
            pipe.zremrangebyscore(key, 0, now)
            pipe.zadd(key, {slot: now + SLOT_TTL_S})
            pipe.zcard(key)
            pipe.expire(key, SLOT_TTL_S)
            count = pipe.execute()[2]
        if count > limit:
            r.zrem(key, slot)
            raise TooManyRequests("too_many_streams", "This user has the most streams open; close one first.",
                                  retry_after_s=15)
    except redis.RedisError as exc:
        log.warning("stream slots not counted, Redis unavailable: %s", exc)
        return None
    return slot


def release_slot(r: redis.Redis, *, user_id: int, slot: str | None) -> None:
    if slot is not None:
        try:
            r.zrem(slot_key(user_id), slot)
        except redis.RedisError:
            pass


def init_app(app) -> None:
    """Give the app its hub; its listener starts with the first stream."""
    app.extensions["live_hub"] = Hub(app.extensions["redis"], max_streams=app.config["SSE_MAX_STREAMS_PER_PROCESS"])
