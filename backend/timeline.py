"""The shape every feature uses to put its items in a user's timeline (`GET /me/timeline`)."""
from datetime import datetime
from typing import Any

from sqlmodel import SQLModel


class TimelineEntry(SQLModel):
    type: str  # booking, order, ride
    id: int
    status: str
    title: str
    at: datetime  # when it happens: a booking's start, an event's start, a ride's request
    detail: dict[str, Any] = {}
