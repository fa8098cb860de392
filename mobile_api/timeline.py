"""`GET /me/timeline`: the caller's bookings, ticket orders and rides in one list, by time."""
from datetime import datetime

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.i18n import current_language
from backend.timeline import TimelineEntry, TimelineKey, merge
from booking.bookings.listing import timeline_entries as booking_entries
from booking.events.listing import timeline_entries as order_entries
from mobile_api.http import BEARER, QueryParams, decode_keyset, encode_keyset, json_response, require_principal
from mobile_api.openapi import operation
from robotaxi_dispatch.rides.listing import timeline_entries as ride_entries

bp = APIBlueprint("timeline", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="accounts")])

# Each feature contributes its own entries, one keyset page of them per request.
SOURCES = [booking_entries, order_entries, ride_entries]


class TimelineQuery(QueryParams):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class TimelinePage(BaseModel):
    """The caller's bookings, orders and rides, latest first."""

    items: list[TimelineEntry]
    next_cursor: str | None = None


@bp.get("/me/timeline", **operation("getTimeline", {200: TimelinePage}), security=BEARER)
def timeline(query: TimelineQuery):
    """List the caller's bookings, orders and rides together, latest first."""
    principal, session = require_principal(), get_session()
    key = decode_keyset(query.cursor, datetime, str, int)
    cursor, language = TimelineKey(*key) if key else None, current_language()
    pages = [source(session, user_id=principal.user_id, cursor=cursor, limit=query.limit + 1, language=language)
             for source in SOURCES]
    items, last = merge(pages, query.limit)
    return json_response(TimelinePage(items=items, next_cursor=last and encode_keyset(tuple(last))))
