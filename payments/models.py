"""Payments of payables (bookings, ticket orders, rides), their ledger and the webhook events seen."""
from datetime import datetime
from enum import Enum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.dbtypes import JSONDoc, UTCDateTime, enum_column, utcnow
from backend.i18n import CityTime
from backend.money import Money


class PaymentStatus(str, Enum):
    """Where a payment is in the provider's state machine."""

    creating = "creating"  # recorded here; the provider has not answered its create call yet
    pending = "pending"
    authorised = "authorised"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"
    refunded = "refunded"
    partially_refunded = "partially_refunded"


# Money has moved: later news of a failure must never undo these.
PAID = {PaymentStatus.succeeded, PaymentStatus.refunded, PaymentStatus.partially_refunded}
FINAL = PAID | {PaymentStatus.failed, PaymentStatus.canceled}


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_payable", "payable_type", "payable_id"),)
    id: int = Field(default=None, primary_key=True)
    payable_type: str = Field(max_length=16)
    payable_id: int
    user_id: int = Field(foreign_key="users.id", index=True)
    gateway: str = Field(max_length=16)
    gateway_payment_id: str | None = Field(default=None, max_length=255, unique=True)
    idempotency_key: str = Field(max_length=255, unique=True)
    amount: int
    currency: str = Field(max_length=3)
    capture_method: str = Field(max_length=16)
    status: PaymentStatus = Field(sa_type=enum_column(PaymentStatus), index=True)
    # The provider's create call as first sent: a retry after a crash sends exactly the same.
    provider_request: dict | None = Field(default=None, sa_type=JSONDoc)
    amount_captured: int = Field(default=0)
    amount_refunded: int = Field(default=0)
    client_secret: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    """One movement of money for a payable: charge, refund or provider fee, in fen."""

    __tablename__ = "ledger_entries"
    id: int = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payments.id", index=True)
    payable_type: str = Field(max_length=16)
    payable_id: int
    kind: str = Field(max_length=16)
    amount: int
    currency: str = Field(max_length=3)
    # The provider's id of the movement: recording the same movement twice is refused.
    reference: str = Field(max_length=255, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_events"
    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SandboxIntent(SQLModel, table=True):
    """The sandbox gateway's own state, as a provider would keep it on its side."""

    __tablename__ = "sandbox_intents"
    id: str = Field(primary_key=True, max_length=64)
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(max_length=32)
    amount: int
    currency: str = Field(max_length=3)
    capture_method: str = Field(max_length=16)
    amount_received: int = Field(default=0)
    client_secret: str = Field(max_length=128)
    details: dict = Field(default_factory=dict, sa_type=JSONDoc)
    # [{"id", "amount", "key"}]: each refund once per idempotency key.
    refunds: list = Field(default_factory=list, sa_type=JSONDoc)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SandboxEvent(SQLModel, table=True):
    """An event the sandbox owes the platform's webhook, kept until the webhook has taken it."""

    __tablename__ = "sandbox_events"
    id: str = Field(primary_key=True, max_length=64)
    payload: str = Field(sa_type=Text)  # signed when sent, as Stripe signs each delivery
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InstructionState(str, Enum):
    pending = "pending"
    done = "done"
    failed = "failed"


class PaymentInstruction(SQLModel, table=True):
    """A capture, cancel or refund owed to the provider: recorded with the change that causes it.

    The runner executes it after commit and retries with backoff until the provider answers,
    so a crash or a provider error never loses money owed (pretix's OrderRefund is the model).
    """

    __tablename__ = "payment_instructions"
    __table_args__ = (Index("ix_payment_instructions_due", "state", "next_attempt_at"),)
    id: int = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payments.id", index=True)
    kind: str = Field(max_length=16)  # capture, cancel or refund
    amount: int | None = None  # fen; None for a cancel
    idempotency_key: str = Field(max_length=255, unique=True)
    reason: str = Field(default="", max_length=64)
    state: InstructionState = Field(default=InstructionState.pending, sa_type=enum_column(InstructionState))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PaymentCustomer(SQLModel, table=True):
    """A user as the provider's customer (Stripe Customer), with the default of their saved methods."""

    __tablename__ = "payment_customers"
    __table_args__ = (UniqueConstraint("user_id", "gateway", name="uq_payment_customers_user_gateway"),)
    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    gateway: str = Field(max_length=16)
    customer_id: str = Field(max_length=255)
    default_method_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PaymentMethod(SQLModel, table=True):
    """A payment method saved once for off-session use (a card after a SetupIntent)."""

    __tablename__ = "payment_methods"
    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    gateway: str = Field(max_length=16)
    gateway_method_id: str = Field(max_length=255, unique=True)
    brand: str = Field(max_length=32)
    last4: str = Field(max_length=4)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SandboxCard(SQLModel, table=True):
    """A card saved in the sandbox provider; some test cards save but decline every charge."""

    __tablename__ = "sandbox_cards"
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(max_length=64)
    brand: str = Field(max_length=32)
    last4: str = Field(max_length=4)
    declines: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PaymentMethodPublic(SQLModel):
    """A saved payment method as its owner sees it: brand, last four digits, whether it is the default."""

    id: int
    brand: str
    last4: str
    default: bool
    created_at: CityTime


class PaymentPublic(SQLModel):
    """A payment as its payer sees it; `client_secret` confirms it in the app."""

    id: int
    status: PaymentStatus
    gateway: str
    amount: Money
    amount_captured: int
    amount_refunded: int
    capture_method: str
    client_secret: str | None


class LedgerPublic(SQLModel):
    """One charge, refund or fee of a payment."""

    kind: str
    amount: Money
    reference: str
    created_at: CityTime
    # "done" for money that moved; "pending" or "failed" for an instruction not yet carried out.
    state: str = "done"
