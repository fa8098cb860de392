"""The sandbox's webhook events: kept with the change they report, delivered after the call has answered.

Stripe records an event in the same step as the change it reports and delivers it later, from
its own servers, retrying until the platform takes it. The sandbox does the same: the event's
row commits with the intent's change; a second after the call has answered, a background thread
hands it to the platform's webhook handler and deletes it, so the request that caused it no
longer waits for the handler; the `sandbox-webhooks` job sends again whatever a crash or a failing handler
left, with the runner's backoff. An event may so arrive twice, as Stripe's may: the webhook
applies each once.
"""
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, select
from stripe import WebhookSignature

from backend.dbtypes import utcnow
from payments.models import SandboxEvent
from payments.runner import backoff

log = logging.getLogger(__name__)
# Left to the job only after this: the thread has delivered it long before, unless it died.
FIRST_RETRY = timedelta(seconds=30)
# How long after the answer an event goes out, as Stripe's come a moment later: by then the platform
# has applied the answer itself, so the webhook finds no news instead of racing it to the same change.
DELIVERY_DELAY_S = 1.0


class Outbox:
    """Records the sandbox's events in its transactions and delivers them, now or in the background."""

    def __init__(self, engine, *, secret: str, deliver: Callable[[str, str], None], background: bool):
        self._engine, self._secret, self._deliver, self._background = engine, secret, deliver, background
        self._queue: queue.SimpleQueue[tuple[float, str, str]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def record(self, session: Session, event_type: str, obj: dict) -> SandboxEvent:
        """Add an event to the caller's (the sandbox's) transaction."""
        event_id = f"evt_{secrets.token_hex(12)}"
        payload = json.dumps({"id": event_id, "object": "event", "type": event_type, "created": int(time.time()),
                              "data": {"object": obj}})
        event = SandboxEvent(id=event_id, payload=payload, next_attempt_at=utcnow() + FIRST_RETRY)
        session.add(event)
        return event

    def send(self, event: SandboxEvent) -> None:
        """Deliver a committed event: at once when inline (tests), else from the background thread."""
        if not self._background:
            self._attempt(event.id, event.payload)
            return
        self._queue.put((time.monotonic() + DELIVERY_DELAY_S, event.id, event.payload))
        if self._thread is None or not self._thread.is_alive():  # first use, or a forked worker
            self._thread = threading.Thread(target=self._drain, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def _drain(self) -> None:
        while True:
            due, event_id, payload = self._queue.get()
            time.sleep(max(0.0, due - time.monotonic()))  # in order: each waits at most the delay
            self._attempt(event_id, payload)

    def _attempt(self, event_id: str, payload: str) -> bool:
        """Hand one event to the webhook, signed now; forget it once taken, keep it for the job if not."""
        try:
            self._deliver(payload, WebhookSignature.generate_signature_header(payload, self._secret))
        except Exception:
            log.exception("sandbox event %s not taken by the webhook; the job sends it again", event_id)
            return False
        with self._engine.begin() as connection:  # one statement: no ORM session to build
            connection.execute(delete(SandboxEvent).where(SandboxEvent.id == event_id))
        return True

    def deliver_due(self, now: datetime | None = None) -> int:
        """Send again the events still kept after their next attempt time; return how many were taken."""
        now = now or utcnow()
        with Session(self._engine, expire_on_commit=False) as session:
            due = session.exec(select(SandboxEvent).where(SandboxEvent.next_attempt_at <= now)
                               .order_by(SandboxEvent.created_at).limit(200)).all()
            claimed = [event for event in due if self._claim(session, event, now)]  # before any is sent
        return sum(self._attempt(event.id, event.payload) for event in claimed)

    @staticmethod
    def _claim(session: Session, event: SandboxEvent, now: datetime) -> bool:
        """Move the event's next attempt ahead first, so two jobs never send it at once."""
        # The runner's waits, from the one after FIRST_RETRY's 30 s on.
        wait = backoff(event.attempts + 2)
        claimed = session.exec(update(SandboxEvent).where(
            SandboxEvent.id == event.id, SandboxEvent.next_attempt_at <= now)
            .values(next_attempt_at=now + wait, attempts=SandboxEvent.attempts + 1))
        session.commit()
        return claimed.rowcount == 1
