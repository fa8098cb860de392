"""Helpers every view uses: the caller's identity, JSON answers, event streams and list cursors."""
import base64
import binascii
import json
import math
import re
from datetime import datetime
from typing import Annotated

import jwt
from flask import Response, current_app, request
from pydantic import BaseModel, BeforeValidator

from backend import keys
from backend.accounts.tokens import Principal, read_access_token
from backend.dbtypes import MAX_ID, Moment
from backend.exceptions import Forbidden, Invalid, Unauthenticated

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


_PARAMETER_SCHEMAS: dict[type, dict] = {}
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_only(value):
    # pydantic would also read a number as seconds since 1970: the spec promises RFC 3339 only.
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("not an RFC 3339 date-time")
    return value


# A moment in a query string: RFC 3339 with an offset, nothing else, within the platform's calendar.
QueryTime = Annotated[Moment, BeforeValidator(_rfc3339_only)]


class _Parameters(BaseModel):
    """A model of request parameters whose JSON schema is worked out once per class.

    flask-openapi3 reads the schema of the query and header models on each request to tell list
    parameters from single ones; generating it afresh cost more than a millisecond per request.
    """

    @classmethod
    def model_json_schema(cls, *args, **kwargs) -> dict:
        if args or kwargs:  # the OpenAPI document asks with options: not cached
            return super().model_json_schema(*args, **kwargs)
        if cls not in _PARAMETER_SCHEMAS:
            _PARAMETER_SCHEMAS[cls] = super().model_json_schema()
        return _PARAMETER_SCHEMAS[cls]


class QueryParams(_Parameters):
    """Base of every query-string model."""


class HeaderParams(_Parameters):
    """Base of every request-header model."""


def optional_principal() -> Principal | None:
    """Return the caller if a valid bearer token was sent, None if none was sent."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("invalid_token", "Use 'Authorization: Bearer <access token>'.")
    return read_access_token(token.strip(), keys=keys.ring(current_app.config, keys.ACCESS_TOKEN))


def token_expires_at() -> float:
    """Return when the caller's access token expires (epoch seconds); require_principal checked it."""
    token = request.headers["Authorization"].partition(" ")[2].strip()
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def require_principal(*roles: str) -> Principal:
    """Return the caller, refusing anonymous callers (401) and callers without a role (403)."""
    principal = optional_principal()
    if principal is None:
        raise Unauthenticated("unauthenticated", "Log in and send the access token.")
    if roles and not principal.has_role(*roles):
        raise Forbidden("forbidden", "Needs one of the roles: {roles}.", params={"roles": ", ".join(roles)})
    return principal


def json_response(model: BaseModel | dict, status: int = 200) -> Response:
    """Serialise a model (or plain dict) as a JSON response."""
    body = model.model_dump_json() if isinstance(model, BaseModel) else current_app.json.dumps(model)
    return Response(body, status=status, mimetype="application/json")


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
        raise Invalid("validation_error", "Invalid cursor.",
                       [{"field": "cursor", "message": "not a cursor from this API", "type": "cursor"}])
    return offset


def encode_keyset(key: tuple) -> str:
    """Return an opaque cursor for the sort key of the last item of a page."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(b"k:" + json.dumps(values).encode()).decode().rstrip("=")


def decode_keyset(cursor: str | None, *types: type) -> tuple | None:
    """Return the sort key a keyset cursor stands for, typed like `types`; refuse forged ones."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, body = text.partition(":")
        values = json.loads(body)
        if kind != "k" or not isinstance(values, list) or len(values) != len(types):
            raise ValueError(cursor)
        return tuple(_typed(value, kind) for value, kind in zip(values, types))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise Invalid("validation_error", "Invalid cursor.",
                      [{"field": "cursor", "message": "not a cursor from this API", "type": "cursor"}]) from None


def _typed(value, kind: type):
    if kind is str:
        if not isinstance(value, str) or len(value) > 200:
            raise ValueError(value)
        return value
    if kind is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(value)
        return moment
    if kind is int and not (type(value) is int and 0 <= value <= MAX_ID):  # ids the database can hold
        raise ValueError(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(value)
    return kind(value)


def keyset_page(rows: list, *, limit: int, key) -> tuple[list, str | None]:
    """Cut one extra fetched row off a page; the next cursor is the sort key of its last row."""
    items = rows[:limit]
    return items, (encode_keyset(key(items[-1])) if len(rows) > limit else None)


def calendar_response(body: bytes, filename: str) -> Response:
    """Answer an iCalendar file the phone's calendar opens."""
    return Response(body, mimetype="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def payment_gateway():
    """Return the payment gateway the app was configured with (Stripe or the sandbox)."""
    return current_app.extensions["payment_gateway"]


def page(items: list, *, limit: int, offset: int) -> tuple[list, str | None]:
    """Cut one extra fetched row off a page and return the cursor of the next page, if any."""
    more = len(items) > limit
    return items[:limit], (encode_cursor(offset + limit) if more else None)
