"""Events, ticket tiers, orders, tickets and waiting lists, with their public shapes."""
from datetime import datetime
from enum import Enum
from typing import overload

from pydantic import field_validator
from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.dbtypes import DbId, JSONDoc, Moment, UTCDateTime, enum_column, utcnow
from backend.i18n import CityTime
from backend.money import Money
from payments.models import PaymentPublic


class EventCategory(str, Enum):
    """What kind of event."""

    motorsport = "motorsport"
    auto_show = "auto_show"
    av_challenge = "av_challenge"
    culture = "culture"


class EventStatus(str, Enum):
    """draft -> published, or cancelled."""

    draft = "draft"
    published = "published"
    cancelled = "cancelled"


class OrderStatus(str, Enum):
    """pending -> paid, or expired, cancelled, refunded."""

    pending = "pending"
    paid = "paid"
    cancelled = "cancelled"
    expired = "expired"


class RefundStep(SQLModel):
    """Cancelling at least `hours_before` the start refunds `percent` of the order."""

    hours_before: int = Field(ge=0, le=24 * 365)
    percent: int = Field(ge=0, le=100)


# Full refund until a week before, half until a day before, nothing after.
DEFAULT_REFUND_POLICY = [{"hours_before": 168, "percent": 100}, {"hours_before": 24, "percent": 50}]


@overload
def check_refund_policy(steps: list[RefundStep]) -> list[RefundStep]: ...
@overload
def check_refund_policy(steps: None) -> None: ...
def check_refund_policy(steps: list[RefundStep] | None) -> list[RefundStep] | None:
    """Return the steps latest-deadline first; refuse repeats and refunds that grow near the event."""
    if steps is None:
        return None
    ordered = sorted(steps, key=lambda step: -step.hours_before)
    if len({step.hours_before for step in ordered}) != len(ordered):
        raise ValueError("each hours_before at most once")
    if any(later.percent > earlier.percent for earlier, later in zip(ordered, ordered[1:])):
        raise ValueError("the refund may not grow as the event comes closer")
    return ordered


class EventBase(SQLModel):
    category: EventCategory = Field(sa_type=enum_column(EventCategory))
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    description_zh: str = Field(default="", max_length=4000)
    description_en: str = Field(default="", max_length=4000)


class Event(EventBase, table=True):
    __tablename__ = "events"
    id: int = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    venue_site_id: int = Field(foreign_key="sites.id")
    status: EventStatus = Field(default=EventStatus.draft, sa_type=enum_column(EventStatus), index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # [{hours_before, percent}], latest deadline first (RefundStep).
    refund_policy: list = Field(default_factory=lambda: list(DEFAULT_REFUND_POLICY), sa_type=JSONDoc)
    # Set when a published event moved: holders who bought before may cancel in full.
    rescheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    previous_starts_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EventCreate(EventBase):
    """A draft event at a venue."""

    venue_site_id: DbId
    starts_at: Moment
    ends_at: Moment
    refund_policy: list[RefundStep] = Field(
        default_factory=lambda: [RefundStep(**step) for step in DEFAULT_REFUND_POLICY], max_length=10)

    @field_validator("refund_policy")
    @classmethod
    def _valid_policy(cls, steps: list[RefundStep]) -> list[RefundStep]:
        return check_refund_policy(steps)


class EventUpdate(SQLModel):
    """Fields of an event to change."""

    title_zh: str | None = Field(default=None, min_length=1, max_length=200)
    title_en: str | None = Field(default=None, min_length=1, max_length=200)
    description_zh: str | None = Field(default=None, max_length=4000)
    description_en: str | None = Field(default=None, max_length=4000)
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    refund_policy: list[RefundStep] | None = Field(default=None, max_length=10)

    @field_validator("refund_policy")
    @classmethod
    def _valid_policy(cls, steps: list[RefundStep] | None) -> list[RefundStep] | None:
        return check_refund_policy(steps)


class TierBase(SQLModel):
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    price_fen: int = Field(ge=0, le=10_000_000)
    quota: int = Field(ge=1, le=200_000)
    per_order_limit: int = Field(default=6, ge=1, le=50)


class TicketTier(TierBase, table=True):
    __tablename__ = "ticket_tiers"
    __table_args__ = (CheckConstraint("sold >= 0 AND sold <= quota", name="ck_ticket_tiers_sold"),)
    id: int = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="events.id", index=True)
    # Seats in pending and paid orders: the one counter that guards the quota.
    sold: int = Field(default=0)
    sales_start: datetime = Field(sa_type=UTCDateTime)
    sales_end: datetime = Field(sa_type=UTCDateTime)


class TierCreate(TierBase):
    """A ticket tier: price, quota, sales window, per-order limit."""

    sales_start: Moment
    sales_end: Moment


class TierUpdate(SQLModel):
    """Fields of a tier to change."""

    name_zh: str | None = Field(default=None, min_length=1, max_length=100)
    name_en: str | None = Field(default=None, min_length=1, max_length=100)
    price_fen: int | None = Field(default=None, ge=0, le=10_000_000)
    quota: int | None = Field(default=None, ge=1, le=200_000)
    per_order_limit: int | None = Field(default=None, ge=1, le=50)
    sales_start: Moment | None = None
    sales_end: Moment | None = None


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    event_id: int = Field(foreign_key="events.id", index=True)
    status: OrderStatus = Field(sa_type=enum_column(OrderStatus), index=True)
    total_fen: int
    refunded_fen: int = Field(default=0)
    currency: str = Field(default="CNY", max_length=3)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"
    order_id: int = Field(foreign_key="orders.id", primary_key=True)
    tier_id: int = Field(foreign_key="ticket_tiers.id", primary_key=True)
    quantity: int = Field(ge=1)
    unit_price_fen: int


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    id: int = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    event_id: int = Field(foreign_key="events.id", index=True)
    tier_id: int = Field(foreign_key="ticket_tiers.id")
    user_id: int = Field(foreign_key="users.id", index=True)
    serial: str = Field(max_length=32)  # random, never shown: what the code's signature covers
    valid: bool = Field(default=True)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_in_gate: str | None = Field(default=None, max_length=40)


class WaitlistEntry(SQLModel, table=True):
    __tablename__ = "waitlist_entries"
    __table_args__ = (UniqueConstraint("tier_id", "user_id", name="uq_waitlist_tier_user"),)
    id: int = Field(default=None, primary_key=True)
    tier_id: int = Field(foreign_key="ticket_tiers.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    quantity: int = Field(ge=1)
    # An offer is a pending order made for the waiter: it holds the seats until it expires.
    offer_order_id: int | None = Field(default=None, foreign_key="orders.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderLine(SQLModel):
    """Seats of one tier."""

    tier_id: DbId
    quantity: int = Field(ge=1, le=50)


class OrderCreate(SQLModel):
    """Seats to order, at most once per tier."""

    items: list[OrderLine] = Field(min_length=1, max_length=10)
    pay_with_wallet: bool = Field(default=False, description="one tap: charge the wallet's default method at once "
                                                             "(402 payment_method_required without one)")

    @field_validator("items")
    @classmethod
    def _distinct_tiers(cls, items: list[OrderLine]) -> list[OrderLine]:
        if len({i.tier_id for i in items}) != len(items):
            raise ValueError("each tier at most once per order")
        return items


class WaitlistJoin(SQLModel):
    """Seats of a sold-out tier to wait for."""

    tier_id: DbId
    quantity: int = Field(default=1, ge=1, le=10)


class TierPublic(SQLModel):
    """A ticket tier with its price and the seats left."""

    id: int
    name: str
    price: Money
    quota: int
    remaining: int
    per_order_limit: int
    sales_start: datetime
    sales_end: datetime
    on_sale: bool


class EventPublic(SQLModel):
    """An event with its tiers and the seats left in each."""

    id: int
    category: EventCategory
    status: EventStatus
    title: str
    title_zh: str
    title_en: str
    description: str
    venue_site_id: int
    venue_name: str
    starts_at: datetime
    ends_at: datetime
    refund_policy: list[RefundStep] = Field(description="refund by time before the start, latest deadline first")
    previous_starts_at: datetime | None = Field(
        default=None, description="set when the event moved later: who bought before may cancel in full")
    distance_m: float | None = None
    tiers: list[TierPublic] = []


class TicketPublic(SQLModel):
    """A ticket with its signed code for the QR."""

    id: int
    event_id: int
    tier_id: int
    order_id: int
    code: str
    valid: bool
    checked_in_at: CityTime | None


class OrderPublic(SQLModel):
    """A ticket order with its tickets once paid, and its payment."""

    id: int
    event_id: int
    status: OrderStatus
    total: Money
    refunded: Money
    expires_at: CityTime
    items: list[OrderLine]
    tickets: list[TicketPublic]
    payment: PaymentPublic | None = None
