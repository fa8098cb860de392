"""`Idempotency-Key` on creating POSTs: the same key and body answer the same response again.

Answers are kept in Redis for a day, per caller. A key reused with another body is refused
(409 idempotency_key_reused); a retry that arrives while the first attempt still runs is
refused too (409 idempotency_request_in_progress) rather than run twice.
"""
import hashlib
import json
import logging
from functools import wraps

import redis
from flask import Response, current_app, make_response, request

from backend.errors import ApiError
from backend.redis_client import best_effort
from mobile_api.http import optional_principal

KEEP_FOR_S = 24 * 3600
IN_FLIGHT_S = 60
log = logging.getLogger(__name__)


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data())
    return digest.hexdigest()


def _replay(record: dict, fingerprint: str) -> Response:
    """Answer a repeated key from what was stored, or refuse it."""
    if record["fingerprint"] != fingerprint:
        raise ApiError(409, "idempotency_key_reused",
                       "This Idempotency-Key was used with a different request.")
    if record["state"] != "done":
        raise ApiError(409, "idempotency_request_in_progress",
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
    """Keep the answer for replays (without Redis, a retry runs again)."""
    store.set(slot, record, ex=KEEP_FOR_S)


def idempotent(view):
    """Make a creating view safe to retry with the same Idempotency-Key."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise ApiError(422, "invalid_idempotency_key", "Idempotency-Key must be 1-255 characters.")
        principal = optional_principal()
        slot = f"idempotency:{principal.user_id if principal else 'anonymous'}:{key}"
        store, fingerprint = current_app.extensions["redis"], _fingerprint()
        claim = json.dumps({"fingerprint": fingerprint, "state": "running"})
        try:
            claimed = store.set(slot, claim, nx=True, ex=IN_FLIGHT_S)
            earlier = None if claimed else store.get(slot)
        except redis.RedisError:
            # Without Redis the request still runs: the database's own rules (one booking per
            # slot, seats within quota) keep a retry from doing harm, only the replay is lost.
            log.warning("idempotency store unavailable; running %s without replay", request.path)
            return view(*args, **kwargs)
        if not claimed:
            return _replay(json.loads(earlier or claim), fingerprint)
        try:
            response = make_response(view(*args, **kwargs))
        except Exception:
            _forget(store, slot)  # a request that failed may be retried with the same key
            raise
        _remember(store, slot, json.dumps({"fingerprint": fingerprint, "state": "done",
                                           "status": response.status_code, "mimetype": response.mimetype,
                                           "body": response.get_data(as_text=True)}))
        return response

    return wrapper
