"""A user's own live stream over real HTTP on both backends: new notifications as they are
created, replay from the inbox after Last-Event-ID, heartbeat and the per-user limit."""
from backend.db import write_transaction
from backend.notifications import services
from backend.notifications.models import NotificationKind
from tests.factories import bearer, make_user

PATH = "/api/v1/me/stream"


def _notify(session, user, n: int) -> int:
    with write_transaction(session):  # as features record them; the outbox publishes after the commit
        notification = services.notify(session, user_id=user.id, kind=NotificationKind.event_changed,
                                       title=(f"改期 {n}", f"Moved {n}"), body=("新时间", "New time"),
                                       data={"event_id": n})
    return notification.id


def test_a_new_notification_reaches_the_open_stream_in_the_callers_language(app, session, open_stream, quick):
    user, stranger = make_user(session), make_user(session)
    stream = open_stream(PATH, {**bearer(app, session, user), "Accept-Language": "en"})
    assert stream.response.status_code == 200
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    assert stream.next("retry")["retry"] == "3000"
    assert stream.next("comment", timeout=5) == "heartbeat"  # subscribed: nothing to replay yet
    _notify(session, stranger, 0)
    created = _notify(session, user, 1)
    event = stream.next("notification")
    assert int(event["id"]) == created
    assert event["data"]["title"] == "Moved 1" and event["data"]["kind"] == "event_changed"
    assert event["data"]["data"] == {"event_id": 1} and event["data"]["read_at"] is None
    inbox = open_stream(PATH, {**bearer(app, session, user), "Accept-Language": "zh-CN",
                               "Last-Event-ID": str(created - 1)})
    assert inbox.next("notification")["data"]["title"] == "改期 1"  # the same one, read from the inbox


def test_resume_after_last_event_id_replays_what_was_missed_then_goes_on_live(app, session, open_stream, quick):
    user = make_user(session)
    headers = bearer(app, session, user)
    first = open_stream(PATH, headers)
    first.next("comment", timeout=5)
    seen = _notify(session, user, 1)
    assert int(first.next("notification")["id"]) == seen
    first.close()
    missed = [_notify(session, user, n) for n in (2, 3)]  # while the user is away
    again = open_stream(PATH, {**headers, "Last-Event-ID": str(seen)})
    replayed = [int(again.next("notification")["id"]) for _ in missed]
    assert replayed == missed
    later = _notify(session, user, 4)
    assert int(again.next("notification")["id"]) == later  # live after the replay, nothing twice


def test_the_user_stream_counts_toward_the_users_five(app, session, open_stream):
    user = make_user(session)
    headers = bearer(app, session, user)
    five = [open_stream(PATH, headers) for _ in range(5)]
    assert [s.response.status_code for s in five] == [200] * 5
    sixth = open_stream(PATH, headers)
    assert sixth.response.status_code == 429 and sixth.response.json()["code"] == "too_many_streams"


def test_the_user_stream_needs_a_token(client):
    assert client.get(PATH).status_code == 401


def test_a_last_event_id_beyond_any_row_id_is_refused_on_both_streams(app, client, session):
    # It reached the replay query and overflowed PostgreSQL's integer (500) before.
    headers = {**bearer(app, session, make_user(session)), "Last-Event-ID": "5643880960623846"}
    for path in (PATH, "/api/v1/rides/1/events"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 422 and answer.json["code"] == "validation_error", (path, answer.json)
