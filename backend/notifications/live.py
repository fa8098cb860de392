"""What a user's live stream says: each new notification as it is created, replayed from the inbox.

The outbox publishes every committed notification once on its user's live channel; a stream
renders the published message in the language it was opened in. A client back after a
disconnection sends the last id it saw and first gets what the inbox holds after it, so
nothing recorded meanwhile is missed. The database is read when the stream opens, never after.
"""
from datetime import datetime

from sqlmodel import Session, select

from backend.i18n import pick
from backend.notifications.models import Notification, NotificationPublic
from backend.notifications.services import notification_public

REPLAY_LIMIT = 100  # a client away longer reads the rest from the inbox

# An event for the stream: (name, JSON, id); the HTTP layer formats it.
Event = tuple[str, str, int]


class InboxWatch:
    """One stream's view of a user's notifications: the ids it already sent."""

    def __init__(self, *, user_id: int, language: str, seen: int | None):
        self.user_id, self.language, self.seen = user_id, language, seen
        self.replayed: set[int] = set()

    def opening(self, session: Session) -> tuple[list[Event], bool]:
        """Replay the notifications after the last one the client saw (none on a first connection)."""
        if self.seen is None:
            return [], False
        missed = session.exec(select(Notification).where(Notification.user_id == self.user_id,
                                                         Notification.id > self.seen)
                              .order_by(Notification.id).limit(REPLAY_LIMIT)).all()
        self.replayed = {n.id for n in missed}
        return [self._event(notification_public(n, language=self.language)) for n in missed], False

    def render(self, message) -> tuple[list[Event], bool]:
        """Turn a published notification into its event, unless the replay already sent it."""
        data = message.data
        if data["id"] in self.replayed:
            return [], False
        public = NotificationPublic(
            id=data["id"], kind=data["kind"], data=data["data"], read_at=None,
            title=pick(data["title"]["zh-CN"], data["title"]["en"], self.language),
            body=pick(data["body"]["zh-CN"], data["body"]["en"], self.language),
            created_at=datetime.fromisoformat(data["created_at"]))
        return [self._event(public)], False

    @staticmethod
    def _event(public: NotificationPublic) -> Event:
        return "notification", public.model_dump_json(), public.id
