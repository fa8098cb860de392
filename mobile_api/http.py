"""Helpers every view uses: the caller's identity, JSON answers, event streams and list cursors."""
import base64
import binascii
import json

from flask import Response, current_app, request, stream_with_context
from pydantic import BaseModel

from backend.accounts.tokens import Principal, read_access_token
from backend.errors import ApiError

BEARER = [{"bearer": []}]


_QUERY_SCHEMAS: dict[type, dict] = {}


class QueryParams(BaseModel):
    """Base of every query-string model: its JSON schema is worked out once per class.

    flask-openapi3 reads the schema on each request to tell list parameters from single ones;
    generating it afresh cost more than a millisecond per request.
    """

    @classmethod
    def model_json_schema(cls, *args, **kwargs) -> dict:
        if args or kwargs:  # the OpenAPI document asks with options: not cached
            return super().model_json_schema(*args, **kwargs)
        if cls not in _QUERY_SCHEMAS:
            _QUERY_SCHEMAS[cls] = super().model_json_schema()
        return _QUERY_SCHEMAS[cls]


def optional_principal() -> Principal | None:
    """Return the caller if a valid bearer token was sent, None if none was sent."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "Use 'Authorization: Bearer <access token>'.")
    return read_access_token(token.strip(), secret=current_app.config["SECRET_KEY"])


def require_principal(*roles: str) -> Principal:
    """Return the caller, refusing anonymous callers (401) and callers without a role (403)."""
    principal = optional_principal()
    if principal is None:
        raise ApiError(401, "unauthenticated", "Log in and send the access token.")
    if roles and not principal.has_role(*roles):
        raise ApiError(403, "forbidden", f"Needs one of the roles: {', '.join(roles)}.")
    return principal


def json_response(model: BaseModel | dict, status: int = 200) -> Response:
    """Serialise a model (or plain dict) as a JSON response."""
    body = model.model_dump_json() if isinstance(model, BaseModel) else current_app.json.dumps(model)
    return Response(body, status=status, mimetype="application/json")


def sse_event(event: str, data: dict, *, event_id: int | None = None) -> str:
    """Format one Server-Sent Event."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def sse_response(events) -> Response:
    """Stream an iterator of formatted events, unbuffered by proxies."""
    return Response(stream_with_context(events), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def encode_cursor(offset: int) -> str:
    """Return an opaque cursor for a list offset."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Return the offset an opaque cursor stands for; refuse forged ones."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset, kind = -1, ""
    if kind != "o" or offset < 0:
        raise ApiError(422, "validation_error", "Invalid cursor.",
                       [{"field": "cursor", "message": "not a cursor from this API", "type": "cursor"}])
    return offset


def payment_gateway():
    """Return the payment gateway the app was configured with (Stripe or the sandbox)."""
    return current_app.extensions["payment_gateway"]


def page(items: list, *, limit: int, offset: int) -> tuple[list, str | None]:
    """Cut one extra fetched row off a page and return the cursor of the next page, if any."""
    more = len(items) > limit
    return items[:limit], (encode_cursor(offset + limit) if more else None)
