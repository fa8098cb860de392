"""Bookings of resource slots, resource outages, and their public shapes."""
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import AwareDatetime
from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from backend.dbtypes import DbId, JSONDoc, UTCDateTime, enum_column, utcnow
from backend.money import Money


class BookingStatus(str, Enum):
    held = "held"
    confirmed = "confirmed"
    checked_in = "checked_in"
    completed = "completed"
    cancelled = "cancelled"
    expired = "expired"
    no_show = "no_show"


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_resource_period", "resource_id", "start_at"),
                      CheckConstraint("end_at > start_at", name="ck_bookings_period"),
                      CheckConstraint("quantity >= 1", name="ck_bookings_quantity"))
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    resource_id: int = Field(foreign_key="resources.id")
    site_id: int = Field(foreign_key="sites.id", index=True)
    kind: str = Field(max_length=32)
    status: BookingStatus = Field(sa_type=enum_column(BookingStatus), index=True)
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    # End of the turnaround after the slot: the resource is blocked over [start_at, blocked_until).
    blocked_until: datetime = Field(sa_type=UTCDateTime)
    quantity: int = Field(default=1, ge=1)
    # True while the booking holds capacity; PostgreSQL's exclusion constraint reads it.
    active: bool = Field(default=True)
    # Capacity-1 resources are guarded by the exclusion constraint as well as by the count.
    exclusive: bool = Field(default=True)
    hold_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    price_fen: int = Field(default=0)
    final_price_fen: int | None = None
    fee_fen: int = Field(default=0)
    currency: str = Field(default="CNY", max_length=3)
    settlement: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    disrupted: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Outage(SQLModel, table=True):
    __tablename__ = "outages"
    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resources.id", index=True, ondelete="CASCADE")
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BookingCreate(SQLModel):
    resource_id: DbId
    start: AwareDatetime
    end: AwareDatetime
    quantity: int = Field(default=1, ge=1, le=20, description="places, for track sessions and parking")


class BookingComplete(SQLModel):
    energy_kwh: float | None = Field(default=None, ge=0, le=500, description="charging: energy delivered")
    hydrogen_kg: float | None = Field(default=None, ge=0, le=100, description="hydrogen: kg dispensed")
    unplugged_at: AwareDatetime | None = Field(default=None, description="charging: when the car left")


class Rebook(SQLModel):
    start: AwareDatetime
    end: AwareDatetime
    resource_id: DbId | None = Field(default=None, description="another resource of the same site")


class OutageCreate(SQLModel):
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1, max_length=300)


class BookingPublic(SQLModel):
    id: int
    status: BookingStatus
    resource_id: int
    resource_kind: str
    resource_name: str
    site_id: int
    site_name: str
    start: datetime
    end: datetime
    quantity: int
    hold_expires_at: datetime | None
    price: Money
    final_price: Money | None
    fee: Money
    settlement: dict[str, Any]
    disrupted: bool
    payment: dict[str, Any] | None = None


class BookingPage(SQLModel):
    items: list[BookingPublic]
    next_cursor: str | None = None


class OutagePublic(SQLModel):
    id: int
    resource_id: int
    start: datetime
    end: datetime
    reason: str
    disrupted_bookings: list[int]
