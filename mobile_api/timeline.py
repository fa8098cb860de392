"""`GET /me/timeline`: the caller's bookings, ticket orders and rides in one list, by time."""
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.timeline import TimelineEntry
from booking.bookings.services import timeline_entries as booking_entries
from booking.events.catalogue import timeline_entries as order_entries
from mobile_api.http import BEARER, QueryParams, decode_cursor, json_response, page, require_principal

bp = APIBlueprint("timeline", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="accounts")])

# Each feature contributes its own entries.
SOURCES = [booking_entries, order_entries]


class TimelineQuery(QueryParams):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=64)


class TimelinePage(BaseModel):
    items: list[TimelineEntry]
    next_cursor: str | None = None


@bp.get("/me/timeline", responses={200: TimelinePage}, security=BEARER)
def timeline(query: TimelineQuery):
    """List the caller's bookings, orders and rides together, latest first."""
    principal, session = require_principal(), get_session()
    entries = sorted((e for source in SOURCES for e in source(session, user_id=principal.user_id)),
                     key=lambda e: (e.at, e.type, e.id), reverse=True)
    offset = decode_cursor(query.cursor)
    items, cursor = page(entries[offset: offset + query.limit + 1], limit=query.limit, offset=offset)
    return json_response(TimelinePage(items=items, next_cursor=cursor))
