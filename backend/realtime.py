"""Live streams: one Redis subscription per server process, fanned out to its open connections.

A change is published once on a `live:` channel (`publish`); every process holds a single
pattern subscription (`Hub`) and hands each message to the connections that watch its channel,
so an open stream costs a queue, not a thread or a database poll. Channel names start with the
Redis database number: pub/sub ignores it, and two deployments (or test runs) that share a Redis
server on different databases must never hear each other.

Under gunicorn's gevent worker the listener and every connection are greenlets; in tests and
CLI commands they are ordinary threads. Both are what `threading` and `queue` give.
"""
import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis
from prometheus_client import Gauge, Histogram

from backend.exceptions import TooManyRequests, Unavailable

log = logging.getLogger(__name__)

OPEN_STREAMS = Gauge("sse_open_streams", "Open Server-Sent Event streams", ["kind"], multiprocess_mode="livesum")
DELIVERY_LAG = Histogram("sse_delivery_lag_seconds", "From publish to the write on a stream's socket", ["kind"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
QUEUE_LIMIT = 256   # messages a connection may fall behind before it is dropped (a dead client)
HAND_SLICE = 200    # connections woken before the hub lets ordinary requests run again
SLOT_TTL_S = 60     # a per-user stream slot lapses unless the process holding its stream renews it
RENEW_EVERY_S = SLOT_TTL_S / 3
CLOSED = object()   # put on a connection's queue: the stream ends (shutdown, dropped)


def channel_prefix(r: redis.Redis) -> str:
    """Return the namespace of live channels on this Redis client: its database number (a cluster has only 0)."""
    pool = getattr(r, "connection_pool", None)
    return f"{pool.connection_kwargs.get('db', 0) if pool else 0}:live:"


def publish(r: redis.Redis, channel: str, message: dict) -> None:
    """Publish a message once to every server process, stamped with when it was sent."""
    r.publish(channel_prefix(r) + channel, json.dumps({**message, "t": time.time()}))


def publish_batch(r: redis.Redis, channel: str, messages: dict[str, dict]) -> None:
    """Publish many channels' messages as one (a region's positions of one tick).

    Every process receives and decodes the batch once instead of one message per channel, then
    hands each entry to the connections watching its channel as if it had been published alone.
    """
    publish(r, channel, {"batch": messages})


@dataclass
class Message:
    """One published message as every local connection receives it; `cache` is shared by them."""

    channel: str
    data: dict
    cache: dict = field(default_factory=dict)


class Subscription:
    """One open connection's view of a channel: a queue the hub fills, and the user slot it holds."""

    def __init__(self, hub: "Hub", channel: str, kind: str, slot: tuple[int, str] | None):
        self.hub, self.channel, self.kind, self.slot = hub, channel, kind, slot
        self.queue: queue.Queue = queue.Queue(QUEUE_LIMIT)

    def get(self, timeout: float):
        """Return the next message, CLOSED, or None after `timeout` seconds of silence."""
        try:
            return self.queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None

    def waiting(self) -> list:
        """Take every message already queued, without waiting (a stream that fell behind catches up at once)."""
        taken = []
        while True:
            try:
                taken.append(self.queue.get_nowait())
            except queue.Empty:
                return taken

    def close(self) -> None:
        self.hub.leave(self)


class Hub:
    """The process's one subscription to the live channels and the connections it feeds."""

    def __init__(self, r: redis.Redis, *, max_streams: int):
        self.redis, self.max_streams = r, max_streams
        self.prefix = channel_prefix(r)
        self._watchers: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self.closing = False

    @property
    def open_streams(self) -> int:
        return sum(len(s) for s in self._watchers.values())

    def join(self, channel: str, kind: str, slot: tuple[int, str] | None = None) -> Subscription:
        """Watch a channel, keeping a (user id, slot) counted meanwhile; 503 when this process
        holds as many streams as it may."""
        if self.closing:
            raise Unavailable("shutting_down", "This server is restarting; reconnect.", retry_after_s=1)
        with self._lock:
            if self.open_streams >= self.max_streams:
                raise Unavailable("too_many_streams", "This server holds all the streams it can; retry.",
                                  retry_after_s=5)
            subscription = Subscription(self, channel, kind, slot)
            self._watchers.setdefault(channel, set()).add(subscription)
            self._start_listener()
        OPEN_STREAMS.labels(kind).inc()
        return subscription

    def leave(self, subscription: Subscription) -> None:
        with self._lock:
            watchers = self._watchers.get(subscription.channel, set())
            if subscription not in watchers:
                return
            watchers.discard(subscription)
            if not watchers:
                del self._watchers[subscription.channel]
        OPEN_STREAMS.labels(subscription.kind).dec()

    def close_all(self) -> None:
        """End every open stream cleanly (graceful shutdown) and refuse new ones."""
        self.closing = True
        with self._lock:
            everyone = [s for watchers in self._watchers.values() for s in watchers]
        for subscription in everyone:
            self._hand(subscription, CLOSED)

    def deliver(self, channel: str, data: dict) -> None:
        """Hand a message (each entry of a batch) to every local connection watching its channel."""
        if "batch" not in data:
            self._deliver_one(channel, data)
            return
        with self._lock:
            watched = self._watchers.keys() & data["batch"].keys()
        handed = 0
        for entry in watched:
            handed += self._deliver_one(entry, {**data["batch"][entry], "t": data["t"]})
            if handed >= HAND_SLICE:
                # A batch wakes thousands of streams at once: let the requests that are ready
                # run between slices rather than after the whole batch (gevent yields here).
                time.sleep(0)
                handed = 0

    def _deliver_one(self, channel: str, data: dict) -> int:
        with self._lock:
            watchers = list(self._watchers.get(channel, ()))
        message = Message(channel, data)
        for subscription in watchers:
            self._hand(subscription, message)
        return len(watchers)

    def _hand(self, subscription: Subscription, message) -> None:
        try:
            subscription.queue.put_nowait(message)
        except queue.Full:  # the client stopped reading: end its stream rather than hold messages for it
            log.info("stream on %s dropped: client fell %d messages behind", subscription.channel, QUEUE_LIMIT)
            self.leave(subscription)
            while not subscription.queue.empty():
                subscription.queue.get_nowait()
            subscription.queue.put_nowait(CLOSED)

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
                        renewed = time.monotonic()
                    raw = pubsub.get_message(timeout=1.0)
                    if raw is not None:
                        self.deliver(raw["channel"][len(self.prefix):], json.loads(raw["data"]))
            except redis.RedisError as exc:
                log.warning("live hub: Redis unavailable, resubscribing: %s", exc)
                time.sleep(1)


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
