"""The shape every feature uses to put its items in a user's timeline (`GET /me/timeline`).

The timeline is ordered by (at, type, id), latest first. Each feature answers one page of its
own rows after a cursor, read from an index; the pages are merged and cut, so a page costs
`limit + 1` rows per source whatever the length of the user's history.
"""
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import true
from sqlmodel import SQLModel

from backend.keyset import beyond


class TimelineEntry(SQLModel):
    """A booking, order or ride (booked ahead or taken) on the caller's timeline."""

    type: str  # booking, order, ride
    id: int
    status: str
    title: str
    at: datetime  # when it happens: a booking's start, an event's start, a ride's pickup time or request
    detail: dict[str, Any] = {}


class TimelineKey(NamedTuple):
    """Where a timeline page ends: the sort key of its last entry."""

    at: datetime
    type: str
    id: int


def after(cursor: TimelineKey | None, *, kind: str, at_column, id_column):
    """Return the condition a source's rows of `kind` come after the cursor, latest first."""
    if cursor is None:
        return true()
    if kind > cursor.type:  # at the cursor's moment, this kind came before it
        return at_column < cursor.at
    if kind < cursor.type:
        return at_column <= cursor.at
    return beyond([at_column, id_column], (cursor.at, cursor.id), descending=True)


def merge(pages: list[list[TimelineEntry]], limit: int) -> tuple[list[TimelineEntry], TimelineKey | None]:
    """Merge the sources' pages; return one page and the key of its last entry if more follow."""
    entries = sorted((e for p in pages for e in p), key=lambda e: (e.at, e.type, e.id), reverse=True)
    if len(entries) <= limit:
        return entries, None
    last = entries[limit - 1]
    return entries[:limit], TimelineKey(last.at, last.type, last.id)
