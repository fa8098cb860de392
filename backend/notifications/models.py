"""Notifications, per-kind preferences, registered devices and push deliveries, with their public shapes."""
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.dbtypes import JSONDoc, UTCDateTime, enum_column, utcnow
from backend.i18n import CityTime


class NotificationKind(str, Enum):
    """What a notification is about."""

    waitlist_offer = "waitlist_offer"                    # returned seats are held for you
    waitlist_offer_expiring = "waitlist_offer_expiring"  # ... and the hold ends soon
    waitlist_offer_expired = "waitlist_offer_expired"
    ride_on_its_way = "ride_on_its_way"                  # a robotaxi set off for a ride booked ahead
    ride_arriving = "ride_arriving"                      # the robotaxi is at the pickup
    ride_cancelled = "ride_cancelled"                    # a ride booked ahead was cancelled (card declined)
    booking_starting_soon = "booking_starting_soon"
    booking_disrupted = "booking_disrupted"              # an outage hits the booking: move it for free
    event_changed = "event_changed"                      # the event moved to another time
    event_cancelled = "event_cancelled"


class DeliveryStatus(str, Enum):
    """Where a push to one device stands."""

    pending = "pending"
    delivered = "delivered"
    failed = "failed"  # gave up after the last retry


class Notification(SQLModel, table=True):
    """One notification of one user, in both languages."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at", "id"),
                      Index("ix_notifications_user_dedupe", "user_id", "dedupe_key"))
    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    kind: NotificationKind = Field(sa_type=enum_column(NotificationKind))
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    body_zh: str = Field(max_length=1000)
    body_en: str = Field(max_length=1000)
    # What the app opens: {"booking_id": ...}, {"order_id": ...}, {"ride_id": ...}, {"event_id": ...}
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    # A reminder is sent once: the same key for the same user is not recorded twice.
    dedupe_key: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationPreference(SQLModel, table=True):
    """A user's wishes for one kind."""

    __tablename__ = "notification_preferences"
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    kind: NotificationKind = Field(sa_type=enum_column(NotificationKind), primary_key=True)
    inbox: bool = Field(default=True)
    push: bool = Field(default=True)


class Device(SQLModel, table=True):
    """A device a user's notifications are pushed to."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "provider", "address", name="uq_devices_user_address"),)
    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    provider: str = Field(max_length=32)
    # The provider's address of the device: a webhook URL, an FCM or APNs token.
    address: str = Field(max_length=1000)
    # Signs what is sent to it, so the receiver can tell the platform sent it.
    secret: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PushDelivery(SQLModel, table=True):
    """One notification on its way to one device: every attempt is counted, the last error kept."""

    __tablename__ = "push_deliveries"
    __table_args__ = (Index("ix_push_deliveries_due", "status", "next_attempt_at"),)
    id: int = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True, ondelete="CASCADE")
    device_id: int = Field(foreign_key="devices.id", ondelete="CASCADE")
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, sa_type=enum_column(DeliveryStatus))
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=300)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationPublic(SQLModel):
    """A notification in the caller's inbox."""

    id: int
    kind: NotificationKind
    title: str
    body: str
    data: dict[str, Any]
    created_at: CityTime
    read_at: CityTime | None


class KindPreference(SQLModel):
    """What a user wants for one kind of notification."""

    inbox: bool = Field(default=True, description="keep it in the inbox and send it live")
    push: bool = Field(default=True, description="push it to the registered devices")


class PreferencesUpdate(SQLModel):
    """New wishes for some kinds; the others keep theirs."""

    kinds: dict[NotificationKind, KindPreference] = Field(max_length=len(NotificationKind))


class DeviceCreate(SQLModel):
    """A device to push to: a provider and the device's address there."""

    provider: str = Field(default="webhook", min_length=1, max_length=32,
                          description="webhook in the embedded default; the push services configured")
    address: str = Field(min_length=1, max_length=1000, description="webhook: an http(s) URL; else a token")


class DevicePublic(SQLModel):
    """A device the caller's notifications are pushed to."""

    id: int
    provider: str
    address: str
    created_at: CityTime


class DeviceRegistered(DevicePublic):
    """A registered device, with the secret that signs its pushes."""

    secret: str = Field(description="signs each push (X-Push-Signature: t=<unix time>,v1=<HMAC-SHA256 of \"t.body\">)")

