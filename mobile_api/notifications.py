"""The caller's notification inbox, per-kind preferences, and the devices pushes go to."""
from datetime import datetime

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.exceptions import Invalid, NotFound, TooManyRequests, Unavailable
from backend.i18n import current_language
from backend.notifications import services
from backend.notifications.live import InboxWatch
from backend.notifications.models import (
    DeviceCreate,
    DevicePublic,
    DeviceRegistered,
    KindPreference,
    NotificationKind,
    NotificationPublic,
    PreferencesUpdate,
)
from backend.notifications.outbox import channel
from mobile_api.http import (
    BEARER,
    QueryParams,
    decode_keyset,
    json_response,
    keyset_page,
    require_principal,
    token_expires_at,
)
from mobile_api.live import LiveStream, StreamHeaders, open_stream, stream_deadline
from mobile_api.openapi import operation, stream

bp = APIBlueprint("notifications", __name__, url_prefix="/api/v1/me", abp_tags=[Tag(
    name="notifications", description="The caller's notification inbox, per-kind preferences, and push devices.")])


class InboxQuery(QueryParams):
    unread: bool = Field(default=False, description="only the unread ones")
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class NotificationPath(BaseModel):
    notification_id: int


class DevicePath(BaseModel):
    device_id: int


class InboxPage(BaseModel):
    """The caller's notifications, newest first, with the unread count."""

    items: list[NotificationPublic]
    next_cursor: str | None = None
    unread_count: int


class UnreadCount(BaseModel):
    """How many notifications are unread."""

    unread_count: int


class MarkedRead(BaseModel):
    """How many notifications were marked read."""

    marked: int


class Preferences(BaseModel):
    """The caller's wishes per kind of notification."""

    kinds: dict[NotificationKind, KindPreference]


class DeviceList(BaseModel):
    """The caller's registered devices."""

    items: list[DevicePublic]


@bp.get("/notifications", security=BEARER, **operation("listNotifications", {200: InboxPage}))
def inbox(query: InboxQuery):
    """The caller's notifications, newest first, with the unread count."""
    principal, session = require_principal(), get_session()
    rows = services.inbox(session, user_id=principal.user_id, unread_only=query.unread, limit=query.limit + 1,
                          cursor=decode_keyset(query.cursor, datetime, int))
    items, cursor = keyset_page(rows, limit=query.limit, key=lambda n: (n.created_at, n.id))
    language = current_language()
    return json_response(InboxPage(items=[services.notification_public(n, language=language) for n in items],
                                   next_cursor=cursor,
                                   unread_count=services.unread_count(session, user_id=principal.user_id)))


@bp.get("/stream", security=BEARER, **operation(
    "streamNotifications", {200: stream("`notification` events (as in listNotifications) with `id:` as they are "
                                        "created, the ones after `Last-Event-ID` replayed first")},
    raises=(TooManyRequests, Unavailable)))
def notification_stream(header: StreamHeaders):
    """Server-Sent Events: each new notification of the caller as it is created (with `id:`;
    after `Last-Event-ID` the ones missed are replayed from the inbox first)."""
    principal = require_principal()
    watch = InboxWatch(user_id=principal.user_id, language=current_language(), seen=header.last_event_id)
    return open_stream(LiveStream(kind="user", channel=channel(principal.user_id), user_id=principal.user_id,
                                  ends_at=stream_deadline(token_expires_at()), opening=watch.opening,
                                  render=watch.render))


@bp.get("/notifications/unread-count", security=BEARER, **operation("countUnreadNotifications", {200: UnreadCount}))
def unread_count():
    """How many of the caller's notifications are unread (the app's badge)."""
    principal = require_principal()
    return json_response(UnreadCount(unread_count=services.unread_count(get_session(), user_id=principal.user_id)))


@bp.post("/notifications/<int:notification_id>/read", security=BEARER,
         **operation("markNotificationRead", {200: NotificationPublic}, raises=(NotFound,)))
def mark_read(path: NotificationPath):
    """Mark one notification read; another user's is 404, as if it did not exist."""
    principal = require_principal()
    notification = services.mark_read(get_session(), user_id=principal.user_id,
                                       notification_id=path.notification_id)
    return json_response(services.notification_public(notification, language=current_language()))


@bp.post("/notifications/read-all", security=BEARER, **operation("markAllNotificationsRead", {200: MarkedRead}))
def mark_all_read():
    """Mark every unread notification read."""
    principal = require_principal()
    return json_response(MarkedRead(marked=services.mark_all_read(get_session(), user_id=principal.user_id)))


@bp.get("/notification-preferences", security=BEARER,
        **operation("getNotificationPreferences", {200: Preferences}))
def get_preferences():
    """Per kind: keep it in the inbox (and live), and push it to devices. Both on by default."""
    principal = require_principal()
    return json_response(Preferences(kinds=services.preferences(get_session(), user_id=principal.user_id)))


@bp.put("/notification-preferences", security=BEARER, **operation(
    "setNotificationPreferences", {200: Preferences},
    example={"kinds": {"ride_arriving": {"inbox": True, "push": False}}}))
def put_preferences(body: PreferencesUpdate):
    """Change the wishes of the kinds sent; the other kinds keep theirs."""
    principal = require_principal()
    return json_response(Preferences(kinds=services.set_preferences(get_session(), user_id=principal.user_id,
                                                                    kinds=body.kinds)))


@bp.get("/devices", security=BEARER, **operation("listDevices", {200: DeviceList}))
def list_devices():
    """The devices the caller's notifications are pushed to."""
    principal = require_principal()
    return json_response(DeviceList(items=[DevicePublic(**d.model_dump()) for d in services.user_devices(
        get_session(), user_id=principal.user_id)]))


@bp.post("/devices", security=BEARER, **operation(
    "registerDevice", {201: DeviceRegistered}, raises=(Invalid,),
    example={"provider": "webhook", "address": "https://push.example.com/devices/7f3a"}))
def register_device(body: DeviceCreate):
    """Register a device (webhook URL, or a push service's token); answers the secret that signs each push."""
    principal = require_principal()
    device = services.register_device(get_session(), user_id=principal.user_id, data=body,
                                      providers=current_app.extensions["push_providers"])
    return json_response(DeviceRegistered(**device.model_dump()), 201)


@bp.delete("/devices/<int:device_id>", security=BEARER,
           **operation("removeDevice", {204: {"description": "Removed"}}, raises=(NotFound,)))
def remove_device(path: DevicePath):
    """Stop pushing to a device; another user's is 404."""
    principal = require_principal()
    services.remove_device(get_session(), user_id=principal.user_id, device_id=path.device_id)
    return "", 204
