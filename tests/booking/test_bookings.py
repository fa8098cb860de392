"""Booking lifecycle over HTTP: hold, pay, check in, complete, cancel, expire, no-show, outages."""
from datetime import datetime, timedelta

import pytest

from backend.dbtypes import utcnow
from booking.bookings import pricing, services
from booking.bookings.models import Booking
from tests.booking.conftest import book, booking_body, next_slot, pay


def later(monkeypatch, delta):
    """Move the booking services' clock forward."""
    now = utcnow() + delta
    monkeypatch.setattr(services, "utcnow", lambda: now)
    return now


def window(booking) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(booking["start"]), datetime.fromisoformat(booking["end"])


def test_charge_800v_book_pay_check_in_complete(client, world, monkeypatch):
    answer = book(client, world, "charger")
    assert answer.status_code == 201, answer.json
    booking = answer.json
    assert booking["status"] == "held" and booking["hold_expires_at"]
    assert booking["price"]["currency"] == "CNY" and booking["price"]["amount"] > 0
    assert booking["payment"]["client_secret"]
    assert booking["start"].endswith("+08:00")

    assert pay(client, booking, world.headers).status_code == 200
    booking = client.get(f"/api/v1/bookings/{booking['id']}", headers=world.headers).json
    assert booking["status"] == "confirmed"

    later(monkeypatch, window(booking)[0] - utcnow() + timedelta(minutes=1))
    checked = client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=world.headers)
    assert checked.status_code == 200 and checked.json["status"] == "checked_in"
    done = client.post(f"/api/v1/bookings/{booking['id']}/complete", headers=world.headers,
                       json={"energy_kwh": 42.5})
    assert done.status_code == 200, done.json
    settled = done.json
    assert settled["status"] == "completed"
    expected = pricing.charging_price(world.resources["charger"].attributes,
                                      *window(settled), 42.5)
    assert settled["final_price"]["amount"] == settled["settlement"]["total_fen"] == expected["total_fen"]
    assert settled["payment"]["amount_captured"] == expected["total_fen"]


def test_free_test_drive_confirms_at_once(client, world):
    answer = book(client, world, "test_drive_car")
    assert answer.status_code == 201
    assert answer.json["status"] == "confirmed" and answer.json["payment"] is None


@pytest.mark.parametrize("kind, completion", [
    ("swap_lane", {}), ("h2_dispenser", {"hydrogen_kg": 4.2}), ("track_session", {}),
    ("parking_bay", {}), ("test_drive_car", {}), ("charger", {"energy_kwh": 20})])
def test_every_kind_books_pays_checks_in_and_completes(client, world, monkeypatch, kind, completion):
    answer = book(client, world, kind)
    assert answer.status_code == 201, answer.json
    booking = answer.json
    if booking["status"] == "held":
        assert pay(client, booking, world.headers).status_code == 200
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=world.headers).json["status"] == "confirmed"
    later(monkeypatch, window(booking)[0] - utcnow() + timedelta(minutes=1))
    assert client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=world.headers).status_code == 200
    done = client.post(f"/api/v1/bookings/{booking['id']}/complete", headers=world.headers, json=completion).json
    assert done["status"] == "completed"
    if kind == "h2_dispenser":
        assert done["final_price"]["amount"] == round(4.2 * 3500)
    if done["payment"]:
        assert done["payment"]["amount_captured"] - done["payment"]["amount_refunded"] == done["final_price"]["amount"]


def test_same_slot_twice_is_taken(client, world):
    assert book(client, world, "charger").status_code == 201
    again = book(client, world, "charger", headers=world.other_headers)
    assert again.status_code == 409 and again.json["code"] == "slot_taken"
    assert again.content_type == "application/problem+json"


def test_lapsed_hold_frees_the_slot_and_sweeper_expires_it(app, client, world, session, monkeypatch):
    first = book(client, world, "swap_lane", after=timedelta(hours=1)).json
    later(monkeypatch, timedelta(minutes=11))
    second = book(client, world, "swap_lane", after=timedelta(minutes=49), headers=world.other_headers)
    assert second.status_code == 201, second.json
    assert client.get(f"/api/v1/bookings/{first['id']}", headers=world.headers).json["status"] == "expired"


def test_payment_after_hold_expired_is_refunded(client, world, monkeypatch):
    booking = book(client, world, "swap_lane", after=timedelta(hours=1)).json
    later(monkeypatch, timedelta(minutes=11))
    from booking.bookings import payables
    monkeypatch.setattr(payables, "utcnow", services.utcnow)
    pay(client, booking, world.headers)
    got = client.get(f"/api/v1/bookings/{booking['id']}", headers=world.headers).json
    assert got["status"] == "expired"
    assert got["payment"]["status"] == "refunded"


def test_cancel_before_cut_off_refunds_in_full(client, world):
    booking = book(client, world, "swap_lane", after=timedelta(hours=2)).json
    pay(client, booking, world.headers)
    cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers).json
    assert cancelled["status"] == "cancelled" and cancelled["fee"]["amount"] == 0
    assert cancelled["payment"]["status"] == "refunded"


def test_late_cancel_keeps_the_fee(client, world, monkeypatch):
    booking = book(client, world, "swap_lane", after=timedelta(hours=1)).json
    pay(client, booking, world.headers)
    later(monkeypatch, window(booking)[0] - utcnow() - timedelta(minutes=5))
    cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers).json
    assert cancelled["fee"]["amount"] == 8000 * 10 // 100
    assert cancelled["payment"]["amount_refunded"] == 8000 - 800
    again = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)
    assert again.status_code == 409 and again.json["code"] == "wrong_status"


def test_no_show_fee_by_the_sweeper(app, client, world, session):
    booking = book(client, world, "swap_lane").json
    pay(client, booking, world.headers)
    swept = services.sweep(session, app.extensions["payment_gateway"], now=utcnow() + timedelta(hours=3))
    assert swept["no_show"] == 1
    got = client.get(f"/api/v1/bookings/{booking['id']}", headers=world.headers).json
    assert got["status"] == "no_show" and got["fee"]["amount"] == 8000 * 20 // 100
    assert got["payment"]["status"] == "partially_refunded"
    assert got["payment"]["amount_refunded"] == 8000 - 1600


def test_someone_elses_booking_is_not_found(client, world):
    booking = book(client, world, "test_drive_car").json
    for path in ("", "/cancel", "/check-in"):
        method = client.get if not path else client.post
        answer = method(f"/api/v1/bookings/{booking['id']}{path}", headers=world.other_headers)
        assert answer.status_code == 404 and answer.json["code"] == "booking_not_found"
    mine = client.get("/api/v1/bookings", headers=world.other_headers).json
    assert mine["items"] == []


def test_bad_windows_are_refused(client, world):
    start, end = next_slot("charger")
    cases = [(end, start, "end_before_start"), (start + timedelta(minutes=7), end, "slot_not_on_grid"),
             (start - timedelta(days=1), end - timedelta(days=1), "in_the_past"),
             (start + timedelta(days=9), end + timedelta(days=9), "beyond_booking_window")]
    for s, e, code in cases:
        answer = client.post("/api/v1/bookings", json=booking_body(world.resources["charger"], s, e),
                             headers=world.headers)
        assert answer.status_code == 422 and answer.json["code"] == code, (code, answer.json)
    naive = client.post("/api/v1/bookings", headers=world.headers, json={
        "resource_id": world.resources["charger"].id, "start": "2026-12-01T10:00:00",
        "end": "2026-12-01T10:30:00"})
    assert naive.status_code == 422 and naive.json["code"] == "validation_error"
    missing = client.post("/api/v1/bookings", headers=world.headers,
                          json=booking_body(world.resources["charger"], start, end) | {"resource_id": 99999})
    assert missing.status_code == 404


def test_outage_disrupts_then_rebook_or_free_cancel(client, world):
    booking = book(client, world, "test_drive_car", after=timedelta(hours=3)).json
    resource = world.resources["test_drive_car"]
    outage = client.post(f"/api/v1/manage/sites/{world.site.id}/resources/{resource.id}/outages",
                         headers=world.operator_headers,
                         json={"start": booking["start"], "end": booking["end"], "reason": "recall"})
    assert outage.status_code == 201, outage.json
    assert outage.json["disrupted_bookings"] == [booking["id"]]
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=world.headers).json["disrupted"]
    blocked = book(client, world, "test_drive_car", after=timedelta(hours=3), headers=world.other_headers)
    assert blocked.status_code == 409 and blocked.json["code"] == "resource_unavailable"
    start, end = next_slot("test_drive_car", after=timedelta(hours=5))
    moved = client.post(f"/api/v1/bookings/{booking['id']}/rebook", headers=world.headers,
                        json={"start": start.isoformat(), "end": end.isoformat()})
    assert moved.status_code == 200, moved.json
    assert moved.json["disrupted"] is False and moved.json["start"] == start.isoformat()
    refused = client.post(f"/api/v1/manage/sites/{world.site.id}/resources/{resource.id}/outages",
                          headers=world.headers, json={"start": booking["start"], "end": booking["end"],
                                                       "reason": "x"})
    assert refused.status_code == 403


def test_idempotency_key_replays_and_refuses_reuse(client, world):
    start, end = next_slot("charger")
    body = booking_body(world.resources["charger"], start, end)
    headers = world.headers | {"Idempotency-Key": "book-1"}
    first = client.post("/api/v1/bookings", json=body, headers=headers)
    again = client.post("/api/v1/bookings", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    assert len(client.get("/api/v1/bookings", headers=world.headers).json["items"]) == 1
    other = client.post("/api/v1/bookings", json=body | {"quantity": 1, "end": (end + timedelta(minutes=30)).isoformat()},  # noqa: E501
                        headers=headers)
    assert other.status_code == 409 and other.json["code"] == "idempotency_key_reused"


def test_sweep_command_expires_lapsed_holds(app, client, world, session):
    booking = book(client, world, "swap_lane").json
    session.commit()  # a fresh read: SQLite shows a transaction the snapshot it began with
    session.get(Booking, booking["id"]).hold_expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    output = app.test_cli_runner().invoke(args=["bookings", "sweep"]).output
    assert "expired=1" in output
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=world.headers).json["status"] == "expired"


def test_bookings_in_the_timeline_latest_first(client, world):
    soon = book(client, world, "test_drive_car").json
    later_one = book(client, world, "test_drive_car", after=timedelta(hours=5)).json
    items = client.get("/api/v1/me/timeline", headers=world.headers).json["items"]
    assert [(i["type"], i["id"]) for i in items] == [("booking", later_one["id"]), ("booking", soon["id"])]
    assert client.get("/api/v1/me/timeline", headers=world.other_headers).json["items"] == []
    assert client.get("/api/v1/me/timeline").status_code == 401
