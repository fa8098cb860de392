"""Rules organisers and ticket holders rely on: the calendar, sales windows, moves and refunds."""
import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from backend.dbtypes import utcnow
from booking.events import rules
from booking.events.models import DEFAULT_REFUND_POLICY, Event, Order
from tests.booking.conftest import order, pay
from tests.factories import bearer, make_user


def organiser_url(show, tail=""):
    return f"/api/v1/organiser/events/{show['event_id']}{tail}"


def paid_order(client, show, quantity=2):
    placed = order(client, show, quantity=quantity).json
    assert pay(client, placed, show["citizen"]).status_code == 200
    return placed


def move_start(session, show, delta: timedelta) -> None:
    """Bring the event closer in time (or push it away), as the calendar would."""
    session.rollback()  # read what the app committed, not the session's last snapshot
    event = session.get(Event, show["event_id"], populate_existing=True)
    session.exec(update(Event).where(Event.id == event.id).values(
        starts_at=event.starts_at + delta, ends_at=event.ends_at + delta))
    session.commit()


def test_events_start_in_the_future_and_sales_end_by_the_start(client, show):
    now = utcnow()
    past = {"category": "culture", "title_zh": "旧展", "title_en": "Old show", "venue_site_id": show["venue"].id,
            "starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": (now + timedelta(hours=5)).isoformat()}
    answer = client.post("/api/v1/organiser/events", json=past, headers=show["organiser"])
    assert answer.status_code == 422 and answer.json["code"] == "event_in_past"
    late = {"name_zh": "晚", "name_en": "Late", "price_fen": 100, "quota": 5,
            "sales_start": now.isoformat(), "sales_end": (now + timedelta(days=11)).isoformat()}
    answer = client.post(organiser_url(show, "/tiers"), json=late, headers=show["organiser"])
    assert answer.status_code == 422 and answer.json["code"] == "sales_end_after_start"
    answer = client.patch(organiser_url(show, f"/tiers/{show['tier_id']}"), headers=show["organiser"],
                          json={"sales_end": (now + timedelta(days=10, hours=1)).isoformat()})
    assert answer.status_code == 422 and answer.json["code"] == "sales_end_after_start"


def test_a_draft_whose_start_passed_cannot_go_on_sale(client, session, show):
    now = utcnow()
    draft = client.post("/api/v1/organiser/events", headers=show["organiser"], json={
        "category": "culture", "title_zh": "展", "title_en": "Show", "venue_site_id": show["venue"].id,
        "starts_at": (now + timedelta(hours=2)).isoformat(), "ends_at": (now + timedelta(hours=5)).isoformat()}).json
    client.post(f"/api/v1/organiser/events/{draft['id']}/tiers", headers=show["organiser"], json={
        "name_zh": "票", "name_en": "Ticket", "price_fen": 100, "quota": 5, "sales_start": now.isoformat(),
        "sales_end": (now + timedelta(hours=1)).isoformat()})
    move_start(session, {"event_id": draft["id"]}, -timedelta(hours=3))
    answer = client.post(f"/api/v1/organiser/events/{draft['id']}/publish", headers=show["organiser"])
    assert answer.status_code == 409 and answer.json["code"] == "event_in_past"


def test_refund_tiers_by_time_before_the_event(client, session, show):
    public = client.get(f"/api/v1/events/{show['event_id']}").json
    assert public["refund_policy"] == DEFAULT_REFUND_POLICY
    early = paid_order(client, show)
    answer = client.post(f"/api/v1/orders/{early['id']}/cancel", headers=show["citizen"])
    assert answer.json["refunded"]["amount"] == 56000  # ten days before: all of it
    half = paid_order(client, show)
    move_start(session, show, -timedelta(days=7))  # now three days before
    answer = client.post(f"/api/v1/orders/{half['id']}/cancel", headers=show["citizen"])
    assert answer.status_code == 200 and answer.json["refunded"]["amount"] == 28000
    late = paid_order(client, show)
    move_start(session, show, -timedelta(days=2, hours=12))  # now twelve hours before
    answer = client.post(f"/api/v1/orders/{late['id']}/cancel", headers=show["citizen"])
    assert answer.status_code == 409 and answer.json["code"] == "refund_window_closed"


def test_a_policy_whose_refund_grows_near_the_event_is_refused(client, show):
    answer = client.patch(organiser_url(show), headers=show["organiser"], json={"refund_policy": [
        {"hours_before": 168, "percent": 50}, {"hours_before": 24, "percent": 100}]})
    assert answer.status_code == 422
    answer = client.patch(organiser_url(show), headers=show["organiser"], json={"refund_policy": [
        {"hours_before": 0, "percent": 0}, {"hours_before": 720, "percent": 90}]})
    assert answer.status_code == 200
    assert answer.json["refund_policy"] == [{"hours_before": 720, "percent": 90},
                                            {"hours_before": 0, "percent": 0}]


def test_published_event_moves_only_later_and_holders_may_leave_in_full(app, client, session, show):
    before = paid_order(client, show)
    start = client.get(f"/api/v1/events/{show['event_id']}").json["starts_at"]
    earlier = {"starts_at": (utcnow() + timedelta(days=9)).isoformat(),
               "ends_at": (utcnow() + timedelta(days=9, hours=8)).isoformat()}
    answer = client.patch(organiser_url(show), json=earlier, headers=show["organiser"])
    assert answer.status_code == 409 and answer.json["code"] == "event_moved_earlier"
    later = {"starts_at": (utcnow() + timedelta(days=12)).isoformat(),
             "ends_at": (utcnow() + timedelta(days=12, hours=8)).isoformat()}
    moved = client.patch(organiser_url(show), json=later, headers=show["organiser"])
    assert moved.status_code == 200 and moved.json["previous_starts_at"] == start
    notice = client.get("/api/v1/me/timeline", headers=show["citizen"]).json["items"][0]
    assert notice["detail"]["rescheduled_from"] == start and notice["detail"]["full_refund_on_cancel"] is True
    other = bearer(app, session, make_user(session))
    after = order(client, show, headers=other).json
    assert pay(client, after, other).status_code == 200
    move_start(session, show, -timedelta(days=11, hours=12))  # twelve hours before: the policy gives 0
    answer = client.post(f"/api/v1/orders/{before['id']}/cancel", headers=show["citizen"])
    assert answer.status_code == 200 and answer.json["refunded"]["amount"] == 56000
    answer = client.post(f"/api/v1/orders/{after['id']}/cancel", headers=other)
    assert answer.status_code == 409 and answer.json["code"] == "refund_window_closed"


def test_an_order_with_an_admitted_ticket_cannot_be_cancelled(client, show):
    placed = paid_order(client, show)
    code = client.get(f"/api/v1/orders/{placed['id']}", headers=show["citizen"]).json["tickets"][0]["code"]
    gate = client.post(organiser_url(show, "/check-ins"), json={"code": code}, headers=show["organiser"])
    assert gate.json["result"] == "admitted"
    answer = client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=show["citizen"])
    assert answer.status_code == 409 and answer.json["code"] == "ticket_used"
    assert client.get(f"/api/v1/orders/{placed['id']}", headers=show["citizen"]).json["status"] == "paid"


def test_gate_and_cancel_at_once_never_both_win(client, session, show, live_server):
    """The holder cancels while the gate scans: either admitted or refunded, never both."""
    outcomes = []
    for _ in range(8):
        placed = paid_order(client, show, quantity=1)
        code = client.get(f"/api/v1/orders/{placed['id']}", headers=show["citizen"]).json["tickets"][0]["code"]
        start, answers = threading.Barrier(2), {}

        def scan():
            start.wait()  # noqa: B023
            answers["gate"] = requests.post(f"{live_server}{organiser_url(show, '/check-ins')}", json={"code": code},  # noqa: B023
                                            headers=show["organiser"], timeout=30).json()["result"]

        def cancel():
            start.wait()  # noqa: B023
            answers["cancel"] = requests.post(f"{live_server}/api/v1/orders/{placed['id']}/cancel",  # noqa: B023
                                              headers=show["citizen"], timeout=30).status_code

        threads = [threading.Thread(target=scan), threading.Thread(target=cancel)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        session.rollback()
        stored = session.get(Order, placed["id"], populate_existing=True)
        admitted = answers["gate"] == "admitted"
        assert admitted != (answers["cancel"] == 200), answers
        assert (stored.refunded_fen > 0) == (not admitted), (answers, stored.refunded_fen)
        outcomes.append(admitted)
    assert len(outcomes) == 8


@pytest.mark.parametrize("hours_left,percent", [(24 * 10, 100), (168, 100), (100, 50), (24, 50), (23, 0), (-1, 0)])
def test_refund_percent_steps(hours_left, percent):
    now = utcnow()
    event = Event(starts_at=now + timedelta(hours=hours_left), refund_policy=DEFAULT_REFUND_POLICY)
    assert rules.refund_percent(event, Order(created_at=now - timedelta(days=1), total_fen=999), now) == percent
    assert rules.refund_due(Order(created_at=now, total_fen=999), event, now) == 999 * percent // 100
