"""`Idempotency-Key` on creating POSTs: the same key and body answer the same response again.

A key is claimed by a row (unique per caller and key) written in the same transaction as the
first thing the request creates, so a retry can never create a second order or ride, with or
without Redis: if the first attempt committed, so did its claim. Answers are kept with the
claim, and in Redis for a day as the fast path. A key reused with another body is refused
(409 idempotency_key_reused); a retry that arrives while the first attempt still runs is
refused too (409 idempotency_request_in_progress) rather than run twice.
"""
import hashlib
import json
import logging
from datetime import datetime, timedelta
from functools import wraps

import redis
from flask import Response, current_app, make_response, request
from sqlalchemy import Text, UniqueConstraint, delete, event, inspect, update
from sqlmodel import Field, Session, SQLModel, select

from backend import jobs
from backend.db import get_session, write_transaction
from backend.dbtypes import UTCDateTime, utcnow
from backend.exceptions import Conflict, DomainError, Invalid
from backend.redis_client import best_effort
from mobile_api.http import optional_principal

KEEP_FOR_S = 24 * 3600
IN_FLIGHT_S = 60
log = logging.getLogger(__name__)


class IdempotencyClaim(SQLModel, table=True):
    """A caller's Idempotency-Key, claimed with what its request created, and the answer once sent."""

    __tablename__ = "idempotency_claims"
    __table_args__ = (UniqueConstraint("owner", "key", name="uq_idempotency_claims_owner_key"),)
    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=32)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    status: int | None = None
    mimetype: str | None = Field(default=None, max_length=100)
    body: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def record(self) -> dict:
        """Return the claim as the replay logic reads it (the shape kept in Redis)."""
        if self.status is None:
            return {"fingerprint": self.fingerprint, "state": "running"}
        return {"fingerprint": self.fingerprint, "state": "done", "status": self.status,
                "mimetype": self.mimetype, "body": self.body}


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data())
    return digest.hexdigest()


def _replay(record: dict, fingerprint: str) -> Response:
    """Answer a repeated key from what was stored, or refuse it."""
    if record["fingerprint"] != fingerprint:
        raise Conflict("idempotency_key_reused",
                       "This Idempotency-Key was used with a different request.")
    if record["state"] != "done":
        raise Conflict("idempotency_request_in_progress",
                       "A request with this Idempotency-Key is still being processed.")
    response = Response(record["body"], status=record["status"], mimetype=record["mimetype"])
    response.headers["Idempotent-Replayed"] = "true"
    return response


@best_effort
def _forget(store, slot: str) -> None:
    """Let a failed request be retried with its key (else the key lapses after IN_FLIGHT_S)."""
    store.delete(slot)


@best_effort
def _remember(store, slot: str, record: str) -> None:
    """Keep the answer for fast replays."""
    store.set(slot, record, ex=KEEP_FOR_S)


def _claim_in_redis(store, slot: str, claim: str) -> tuple[bool, str | None]:
    """Return whether Redis took the claim and, if not, what it holds; (True, None) without Redis."""
    try:
        if store.set(slot, claim, nx=True, ex=IN_FLIGHT_S):
            return True, None
        return False, store.get(slot) or claim
    except redis.RedisError:
        # The database claim below still keeps a retry from creating anything twice.
        log.warning("idempotency store unavailable; %s relies on the database claim", request.path)
        return True, None


def _stored(session: Session, owner: str, key: str) -> IdempotencyClaim | None:
    session.commit()  # a fresh read: the claim may have been committed since this request began
    return session.exec(select(IdempotencyClaim).where(IdempotencyClaim.owner == owner,
                                                       IdempotencyClaim.key == key)).first()


def _claim_with_first_write(session: Session, claim: IdempotencyClaim):
    """Add the claim to the first flush that creates something, so both commit or neither does."""

    def hook(session, _context, _instances):
        state = inspect(claim)
        if not (state.pending or state.persistent) and any(obj is not claim for obj in session.new):
            session.add(claim)

    event.listen(session, "before_flush", hook)
    return hook


def _keep(session: Session, claim: IdempotencyClaim, response: Response) -> None:
    """Store the answer with the claim, if the request created anything (and so wrote the claim)."""
    if not inspect(claim).persistent:
        return
    session.exec(update(IdempotencyClaim).where(IdempotencyClaim.id == claim.id).values(
        status=response.status_code, mimetype=response.mimetype, body=response.get_data(as_text=True)))
    session.commit()


def idempotent(view):
    """Make a creating view safe to retry with the same Idempotency-Key."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise Invalid("invalid_idempotency_key", "Idempotency-Key must be 1-255 characters.")
        principal = optional_principal()
        owner = str(principal.user_id) if principal else "anonymous"
        slot, fingerprint = f"idempotency:{owner}:{key}", _fingerprint()
        store, session = current_app.extensions["redis"], get_session()
        claimed, earlier = _claim_in_redis(store, slot, json.dumps({"fingerprint": fingerprint, "state": "running"}))
        if not claimed:
            assert earlier is not None  # what Redis holds, whenever it refuses the claim
            return _replay(json.loads(earlier), fingerprint)
        stored = _stored(session, owner, key)
        if stored is not None:
            return _replay(stored.record(), fingerprint)
        claim = IdempotencyClaim(owner=owner, key=key, fingerprint=fingerprint)
        hook = _claim_with_first_write(session, claim)
        try:
            response = make_response(view(*args, **kwargs))
        except Exception as exc:
            session.rollback()
            if not (isinstance(exc, DomainError) and inspect(claim).persistent):
                _forget(store, slot)  # a request that failed may be retried with the same key
                stored = _stored(session, owner, key)
                if stored is not None:  # the same key won a race with this request in the database
                    return _replay(stored.record(), fingerprint)
                raise
            # It created something before it was refused (a ride whose card was declined): the
            # refusal is this key's answer, replayed like any other.
            response = make_response(current_app.handle_user_exception(exc))
        finally:
            event.remove(session, "before_flush", hook)
        _keep(session, claim, response)
        _remember(store, slot, json.dumps(claim.record() | {"state": "done", "status": response.status_code,
                                                            "mimetype": response.mimetype,
                                                            "body": response.get_data(as_text=True)}))
        return response

    return wrapper


def _purge(app, session: Session) -> int | None:
    """Forget claims older than a day: a retry comes within minutes, not days."""
    with write_transaction(session):
        gone = session.exec(delete(IdempotencyClaim).where(
            IdempotencyClaim.created_at < utcnow() - timedelta(seconds=KEEP_FOR_S))).rowcount
    return gone or None


def init_app(app) -> None:
    """Register the job that forgets old claims."""
    jobs.register(app, jobs.Job("idempotency-purge", 3600, _purge))
