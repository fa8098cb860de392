"""Recording notifications, the inbox, per-kind preferences and devices."""
import secrets
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.exceptions import Invalid, NotFound
from backend.i18n import pick
from backend.keyset import beyond
from backend.notifications.models import (
    Device,
    DeviceCreate,
    KindPreference,
    Notification,
    NotificationKind,
    NotificationPreference,
    NotificationPublic,
    PushDelivery,
)
from backend.notifications.push import PushProvider

OUTBOX = "notifications_outbox"  # session.info key: notifications to send once the transaction commits


def notify(session: Session, *, user_id: int, kind: NotificationKind, title: tuple[str, str],
           body: tuple[str, str], data: dict, dedupe_key: str | None = None) -> Notification | None:
    """Record a notification in the caller's transaction; it is sent once that transaction commits.

    `title` and `body` are (zh, en). Nothing is recorded when the user turned the kind's inbox
    off, or when a notification with the same `dedupe_key` was already recorded for the user.
    """
    wanted = preference(session, user_id=user_id, kind=kind)
    if not wanted.inbox:
        return None
    if dedupe_key and session.exec(select(Notification.id).where(
            Notification.user_id == user_id, Notification.dedupe_key == dedupe_key)).first():
        return None
    notification = Notification(user_id=user_id, kind=kind, title_zh=title[0], title_en=title[1],
                                body_zh=body[0], body_en=body[1], data=data, dedupe_key=dedupe_key)
    session.add(notification)
    session.flush()
    if wanted.push:  # the intent to push is recorded with the notification: a crash cannot lose it
        session.add_all(PushDelivery(notification_id=notification.id, device_id=d.id)
                        for d in user_devices(session, user_id=user_id))
    session.info.setdefault(OUTBOX, []).append(notification.id)
    return notification


def notification_public(notification: Notification, *, language: str) -> NotificationPublic:
    return NotificationPublic(id=notification.id, kind=notification.kind,
                              title=pick(notification.title_zh, notification.title_en, language),
                              body=pick(notification.body_zh, notification.body_en, language), data=notification.data,
                              created_at=notification.created_at, read_at=notification.read_at)


def inbox(session: Session, *, user_id: int, unread_only: bool, cursor: tuple | None,
          limit: int) -> list[Notification]:
    """Return up to `limit` of the user's notifications after the cursor (created_at, id), newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if cursor is not None:
        query = query.where(beyond([Notification.created_at, Notification.id], cursor, descending=True))
    return list(session.exec(query.order_by(Notification.created_at.desc(), Notification.id.desc())
                             .limit(limit)).all())


def unread_count(session: Session, *, user_id: int) -> int:
    return session.exec(select(func.count()).where(Notification.user_id == user_id,
                                                   Notification.read_at.is_(None))).one()


def mark_read(session: Session, *, user_id: int, notification_id: int, now: datetime | None = None) -> Notification:
    """Mark one of the user's notifications read; someone else's is 404."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound("notification_not_found", "No such notification.")
    if notification.read_at is None:
        notification.read_at = now or utcnow()
        session.commit()
    return notification


def mark_all_read(session: Session, *, user_id: int, now: datetime | None = None) -> int:
    """Mark every unread notification of the user read; return how many."""
    marked = session.exec(update(Notification).where(Notification.user_id == user_id,
                                                     Notification.read_at.is_(None))
                          .values(read_at=now or utcnow())).rowcount
    session.commit()
    return marked


def preference(session: Session, *, user_id: int, kind: NotificationKind) -> KindPreference:
    """Return what the user wants for a kind: inbox and push, both on unless turned off."""
    row = session.get(NotificationPreference, (user_id, kind))
    return KindPreference(inbox=row.inbox, push=row.push) if row else KindPreference()


def preferences(session: Session, *, user_id: int) -> dict[NotificationKind, KindPreference]:
    """Return the user's wishes for every kind."""
    rows = {r.kind: r for r in session.exec(select(NotificationPreference).where(
        NotificationPreference.user_id == user_id)).all()}
    return {kind: KindPreference(inbox=rows[kind].inbox, push=rows[kind].push) if kind in rows
            else KindPreference() for kind in NotificationKind}


def set_preferences(session: Session, *, user_id: int,
                    kinds: dict[NotificationKind, KindPreference]) -> dict[NotificationKind, KindPreference]:
    """Store the user's wishes for the kinds given; the others keep theirs."""
    for kind, wish in kinds.items():
        row = session.get(NotificationPreference, (user_id, kind)) or NotificationPreference(
            user_id=user_id, kind=kind)
        row.inbox, row.push = wish.inbox, wish.push
        session.add(row)
    session.commit()
    return preferences(session, user_id=user_id)


def register_device(session: Session, *, user_id: int, data: DeviceCreate,
                    providers: dict[str, PushProvider]) -> Device:
    """Register a device with a provider the platform sends through; the same address again is the same device."""
    provider = providers.get(data.provider)
    if provider is None:
        raise Invalid("unknown_push_provider", "Use one of: {providers}.",
                      params={"providers": ", ".join(sorted(providers))})
    provider.check_address(data.address)
    device = session.exec(select(Device).where(Device.user_id == user_id, Device.provider == data.provider,
                                               Device.address == data.address)).first()
    if device is None:
        device = Device(user_id=user_id, provider=data.provider, address=data.address,
                        secret=secrets.token_urlsafe(32))
        session.add(device)
        session.commit()
    return device


def remove_device(session: Session, *, user_id: int, device_id: int) -> None:
    """Stop pushing to one of the user's devices; someone else's is 404."""
    device = session.get(Device, device_id)
    if device is None or device.user_id != user_id:
        raise NotFound("device_not_found", "No such device.")
    session.delete(device)
    session.commit()


def user_devices(session: Session, *, user_id: int) -> list[Device]:
    return list(session.exec(select(Device).where(Device.user_id == user_id).order_by(Device.id)).all())
