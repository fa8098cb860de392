"""Sending notifications after their transaction commits: live on Redis, then to devices with retries.

`notify()` leaves the ids of what it recorded in the session; when that session commits, the
outbox publishes each notification once on the live channel `user:{<user id>}:notifications`
(what the user's streams carry, `backend/realtime.py`) and pushes its pending deliveries from a
small thread pool, so a slow device never holds up the request. A delivery is claimed by moving
its next attempt forward before it is tried, so the after-commit push and the retry runner never
send the same one twice; a failure is counted and retried with backoff (or when the provider said
to retry), and given up after MAX_ATTEMPTS or at once when the provider refuses it for good; a
device whose token the provider calls dead is unregistered, with what was still on its way to it.
"""
import logging
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy import delete, event, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from backend import realtime
from backend.dbtypes import utcnow
from backend.notifications.models import DeliveryStatus, Device, Notification, PushDelivery
from backend.notifications.push import DeviceGone, PushFailed, PushProvider, PushRejected
from backend.notifications.services import OUTBOX
from backend.redis_client import best_effort

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=30)
CLAIM = timedelta(minutes=2)  # longer than any one attempt takes
_OUTBOXES: "weakref.WeakKeyDictionary[Engine | Connection, Outbox]" = weakref.WeakKeyDictionary()


def channel(user_id: int) -> str:
    """Return the user's Redis channel (the user id is a hash tag: one Cluster slot per user)."""
    return f"user:{{{user_id}}}:notifications"


def message(notification: Notification) -> dict:
    """Return what is published and pushed: both languages, since a push has no request language."""
    return {"type": "notification", "id": notification.id, "kind": notification.kind.value,
            "title": {"zh-CN": notification.title_zh, "en": notification.title_en},
            "body": {"zh-CN": notification.body_zh, "en": notification.body_en},
            "data": notification.data, "created_at": notification.created_at.isoformat()}


@best_effort
def publish(redis, notification: Notification) -> None:
    """Publish a notification on its user's live channel, for the user's open streams."""
    realtime.publish(redis, channel(notification.user_id), message(notification))


class Outbox:
    """Sends what one database's transactions recorded, through its app's Redis and push providers."""

    def __init__(self, engine: Engine, redis, providers: dict[str, PushProvider]):
        self.engine, self.redis, self.providers = engine, redis, providers
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="push")
        self._running: set[Future] = set()
        self._lock = threading.Lock()
        _OUTBOXES[engine] = self

    def committed(self, notification_ids: list[int]) -> None:
        """Publish freshly committed notifications and start pushing them."""
        with Session(self.engine) as session:
            for notification in session.exec(select(Notification).where(Notification.id.in_(notification_ids))):
                publish(self.redis, notification)
            deliveries = session.exec(select(PushDelivery.id).where(
                PushDelivery.notification_id.in_(notification_ids))).all()
        for delivery_id in deliveries:
            self._submit(delivery_id)

    def _submit(self, delivery_id: int) -> None:
        future = self._pool.submit(self.attempt, delivery_id)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._running.discard(future)

    def drain(self, timeout: float = 10) -> None:
        """Wait for the pushes under way (tests, shutdown)."""
        with self._lock:
            running = set(self._running)
        wait(running, timeout=timeout)

    def attempt(self, delivery_id: int, now: datetime | None = None) -> DeliveryStatus | None:
        """Claim a due delivery and try it once; return its new status, None if it was not due."""
        now = now or utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            claimed = session.exec(update(PushDelivery).where(
                PushDelivery.id == delivery_id, PushDelivery.status == DeliveryStatus.pending,
                PushDelivery.next_attempt_at <= now).values(next_attempt_at=now + CLAIM)).rowcount
            session.commit()
            if not claimed:
                return None
            delivery = session.get_one(PushDelivery, delivery_id)
            device = session.get_one(Device, delivery.device_id)
            notification = session.get_one(Notification, delivery.notification_id)
            delivery.attempts += 1
            try:
                self._send(device, notification)
                delivery.status, delivery.delivered_at, delivery.last_error = DeliveryStatus.delivered, utcnow(), None
            except DeviceGone as exc:
                log.info("device %s unregistered, its provider says: %s", device.id, exc)
                session.exec(delete(PushDelivery).where(PushDelivery.device_id == device.id))
                session.exec(delete(Device).where(Device.id == device.id))
                session.commit()
                return DeliveryStatus.failed
            except PushFailed as exc:
                delivery.last_error = str(exc)[:300]
                backoff = FIRST_RETRY * 2 ** (delivery.attempts - 1)
                delivery.next_attempt_at = now + max(backoff, timedelta(seconds=exc.retry_after_s or 0))
                if delivery.attempts >= MAX_ATTEMPTS or isinstance(exc, PushRejected):
                    delivery.status = DeliveryStatus.failed
                log.info("push %s to device %s failed (attempt %s): %s", notification.id, device.id,
                         delivery.attempts, exc)
            session.commit()
            return delivery.status

    def _send(self, device: Device, notification: Notification) -> None:
        provider = self.providers.get(device.provider)
        if provider is None:
            raise PushFailed(f"no provider {device.provider!r} configured")
        provider.send(address=device.address, secret=device.secret, message=message(notification))

    def retry_due(self, now: datetime | None = None) -> dict[str, int]:
        """Try every pending delivery whose next attempt is due; return how each ended."""
        now = now or utcnow()
        with Session(self.engine) as session:
            due = session.exec(select(PushDelivery.id).where(
                PushDelivery.status == DeliveryStatus.pending, PushDelivery.next_attempt_at <= now)
                .order_by(PushDelivery.id).limit(1000)).all()
        counts = {"delivered": 0, "pending": 0, "failed": 0}
        for delivery_id in due:
            status = self.attempt(delivery_id, now)
            if status is not None:
                counts[status.value] += 1
        return counts


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    ids = session.info.pop(OUTBOX, None)
    if not ids:
        return
    outbox = _OUTBOXES.get(session.get_bind())
    if outbox is None:  # no app configured for this database: `flask notifications run` sends them
        return
    try:
        outbox.committed(ids)
    except Exception:  # the change is committed; the runner retries what could not start now
        log.exception("notifications %s recorded but not sent yet", ids)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(OUTBOX, None)
