"""Bookings of resource slots, resource outages, and their public shapes."""
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from backend.dbtypes import DbId, JSONDoc, Moment, UTCDateTime, enum_column, utcnow
from backend.i18n import CityTime
from backend.money import Money
from booking.chargers.models import LiveSession
from payments.models import PaymentPublic


class BookingStatus(str, Enum):
    """held -> confirmed -> checked_in -> completed, or cancelled, expired, no_show."""

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
    id: int = Field(default=None, primary_key=True)
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
    id: int = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resources.id", index=True, ondelete="CASCADE")
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    reason: str = Field(max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BookingCreate(SQLModel):
    """A slot to hold: a resource and a window on its grid."""

    resource_id: DbId
    start: Moment
    end: Moment
    quantity: int = Field(default=1, ge=1, le=20, description="places, for track sessions and parking")
    pay_with_wallet: bool = Field(default=False, description="one tap: charge the wallet's default method at once "
                                                             "(402 payment_method_required without one)")


class BookingComplete(SQLModel):
    """What was delivered, for charging and hydrogen."""

    energy_kwh: float | None = Field(default=None, ge=0, le=500, description="charging: energy delivered")
    hydrogen_kg: float | None = Field(default=None, ge=0, le=100, description="hydrogen: kg dispensed")
    unplugged_at: Moment | None = Field(default=None, description="charging: when the car left")


class Rebook(SQLModel):
    """Another window (and resource) for a booking an outage disrupted."""

    start: Moment
    end: Moment
    resource_id: DbId | None = Field(default=None, description="another resource of the same site")


class OutageCreate(SQLModel):
    """A window in which a resource is out of service."""

    start: Moment
    end: Moment
    reason: str = Field(min_length=1, max_length=300)


class CancellationTerms(SQLModel):
    """What cancelling a booking of this kind costs: free until a cut-off before the start, then a share."""

    free_until_minutes_before_start: int
    late_fee_percent: int
    no_show_fee_percent: int
    summary: str


class Cancellation(SQLModel):
    """What cancelling this booking costs now, and until when it is free."""

    free_until: datetime | None = Field(description="null when cancelling is no longer free")
    fee_now: Money
    late_fee: Money = Field(description="kept when cancelling after free_until")
    summary: str


class BookingPublic(SQLModel):
    """A booking with its price, payment and, for charging, its settlement."""

    id: int
    status: BookingStatus
    resource_id: int
    resource_kind: str
    resource_name: str
    site_id: int
    site_name: str
    start: CityTime
    end: CityTime
    quantity: int
    hold_expires_at: CityTime | None
    price: Money
    final_price: Money | None
    fee: Money
    settlement: dict[str, Any]
    disrupted: bool
    payment: PaymentPublic | None = None
    charging: LiveSession | None = Field(default=None, description="charging on a metered charger: "
                                         "reservation, energy so far, power, cost so far")
    cancellation: Cancellation | None = Field(default=None, description="null once it can no longer be cancelled")


class BookingPage(SQLModel):
    """The caller's bookings, latest first, with the cursor of the next page."""

    items: list[BookingPublic]
    next_cursor: str | None = None


class OutagePublic(SQLModel):
    """A resource out of service, and how many bookings it disrupted."""

    id: int
    resource_id: int
    start: datetime
    end: datetime
    reason: str
    disrupted_bookings: list[int]
