"""Money of bookings, orders and events: a failing provider never loses it; the wallet pays in one tap.

Each fault case makes the provider raise before acting, act and then time out, or never be
called (the process died between commit and call); the state change answers 200 all the same,
the ledger shows the instruction pending, and after the runner the money is exact on both the
platform's books and the provider's.
"""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from booking.bookings import billing, services
from booking.bookings.models import Booking
from booking.events.models import Order
from payments.models import InstructionState, Payment, PaymentInstruction
from payments.reconcile import reconcile
from tests.booking.conftest import booking_body, next_slot, pay
from tests.factories import bearer, make_event, make_org, make_site, make_user, save_card
from tests.payments.faults import MODES, failing, money, refunded_in_full, run_runner

VISA, SAVES_THEN_DECLINES = "4242424242424242", "4000000000000341"


def paid_swap(client, world, days: int = 2) -> dict:
    start, end = next_slot("swap_lane", after=timedelta(days=days))
    booking = client.post("/api/v1/bookings", json=booking_body(world.resources["swap_lane"], start, end),
                          headers=world.headers).json
    assert pay(client, booking, world.headers).status_code == 200
    return booking


@pytest.mark.parametrize("mode", MODES)
def test_booking_cancel_refunds_exactly_once_whatever_the_provider_does(app, client, session, world, mode):
    booking = paid_swap(client, world)
    payment_id = booking["payment"]["id"]
    with failing(app.extensions["payment_gateway"], "refund", mode):
        cancelled = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)
        assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
        ledger = client.get(f"/api/v1/payments/{payment_id}", headers=world.headers).json["ledger"]
        if mode != "timeout":  # a timed-out refund was made: its webhook already booked it
            assert {"kind": "refund", "state": "pending"}.items() <= ledger[-1].items()
            assert ledger[-1]["amount"]["amount"] == -8000
        again = client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)
        assert again.status_code == 409
    run_runner(app, session)
    assert money(session, payment_id) == refunded_in_full(8000)
    run_runner(app, session)  # running again changes nothing
    assert money(session, payment_id)["provider_refunded"] == 8000


@pytest.fixture
def show(app, session):
    """A published event with a 100-seat tier at 100 yuan, and three citizens."""
    org = make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue")
    event = make_event(session, organisation=org, venue=venue)
    organiser = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    buyers = [bearer(app, session, make_user(session)) for _ in range(3)]
    return {"event": event, "organiser": organiser, "buyers": buyers}


def buy(client, show, headers, *, paid=True, **extra) -> dict:
    tier_id = client.get(f"/api/v1/events/{show['event'].id}").json["tiers"][0]["id"]
    placed = client.post(f"/api/v1/events/{show['event'].id}/orders", headers=headers,
                         json={"items": [{"tier_id": tier_id, "quantity": 2}], **extra})
    assert placed.status_code == 201, placed.json
    if paid:
        assert pay(client, placed.json, headers).status_code == 200
    return placed.json


@pytest.mark.parametrize("mode", MODES)
def test_order_cancel_refunds_exactly_once(app, client, session, show, mode):
    buyer = show["buyers"][0]
    placed = buy(client, show, buyer)
    with failing(app.extensions["payment_gateway"], "refund", mode):
        answer = client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=buyer)
        assert answer.status_code == 200 and answer.json["status"] == "cancelled"
    run_runner(app, session)
    assert money(session, placed["payment"]["id"]) == refunded_in_full(20000)


@pytest.mark.parametrize("mode", MODES)
def test_event_cancel_refunds_every_paid_order_though_one_refund_fails(app, client, session, show, mode):
    placed = [buy(client, show, headers) for headers in show["buyers"]]
    session.commit()
    unlucky = session.get(Payment, placed[1]["payment"]["id"]).gateway_payment_id
    with failing(app.extensions["payment_gateway"], "refund", mode, only_for=unlucky):
        answer = client.post(f"/api/v1/organiser/events/{show['event'].id}/cancel", headers=show["organiser"])
        assert answer.status_code == 200, answer.json
    if mode == "raise":  # the others were refunded at once, the failing one waits for the runner
        assert [money(session, p["payment"]["id"])["refunded"] for p in placed] == [20000, 0, 20000]
    run_runner(app, session)
    for p in placed:
        assert money(session, p["payment"]["id"]) == refunded_in_full(20000)


def test_event_cancel_while_a_buyer_pays_refunds_the_late_payment(app, client, session, show, monkeypatch):
    """The provider took the money but its news was lost: the cancel is refused, the money goes back."""
    gateway = app.extensions["payment_gateway"]
    buyer = show["buyers"][0]
    placed = buy(client, show, buyer, paid=False)
    session.commit()
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: None)
    gateway.confirm(payment_id=session.get(Payment, placed["payment"]["id"]).gateway_payment_id, card_number=VISA)
    monkeypatch.undo()

    answer = client.post(f"/api/v1/organiser/events/{show['event'].id}/cancel", headers=show["organiser"])
    assert answer.status_code == 200, answer.json
    run_runner(app, session)
    after = money(session, placed["payment"]["id"])
    assert after["provider_received"] == after["provider_refunded"] == after["refunded"] == 20000
    assert after["status"] == "refunded" and after["instructions"] == ["done", "failed"]
    assert client.get(f"/api/v1/orders/{placed['id']}", headers=buyer).json["status"] == "cancelled"


def test_an_instruction_left_by_a_crash_is_pending_until_reconcile_runs_it(app, client, session, world):
    booking = paid_swap(client, world)
    with failing(app.extensions["payment_gateway"], "refund", "crash"):
        client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)
    session.commit()
    pending = session.exec(select(PaymentInstruction)).one()
    assert pending.state == InstructionState.pending and pending.attempts == 0
    output = app.test_cli_runner().invoke(args=["payments", "reconcile"]).output
    assert "1 pending payment instruction(s) carried out" in output
    assert money(session, booking["payment"]["id"]) == refunded_in_full(8000)


def paid_but_news_lost(app, client, session, world, monkeypatch, days: int) -> dict:
    """Hold a slot and pay it at the provider, but lose the news of it (a crash, a lost webhook)."""
    start, end = next_slot("swap_lane", after=timedelta(days=days))
    booking = client.post("/api/v1/bookings", json=booking_body(world.resources["swap_lane"], start, end),
                          headers=world.headers).json
    gateway = app.extensions["payment_gateway"]
    session.commit()
    with monkeypatch.context() as patch:
        patch.setattr(gateway, "_deliver", lambda payload, signature: None)
        gateway.confirm(payment_id=session.get(Payment, booking["payment"]["id"]).gateway_payment_id,
                        card_number=VISA)
    return booking


def test_captured_but_unconfirmed_is_confirmed_or_refunded_by_reconcile(app, client, session, world, monkeypatch):
    kept = paid_but_news_lost(app, client, session, world, monkeypatch, days=1)
    lapsed = paid_but_news_lost(app, client, session, world, monkeypatch, days=2)
    session.exec(update(Booking).where(Booking.id == lapsed["id"]).values(
        hold_expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    app.test_cli_runner().invoke(args=["bookings", "sweep"])  # the lapsed hold's slot is given up
    assert client.get(f"/api/v1/bookings/{kept['id']}", headers=world.headers).json["status"] == "held"

    output = app.test_cli_runner().invoke(args=["payments", "reconcile"]).output
    assert "2 payment(s) repaired" in output
    assert client.get(f"/api/v1/bookings/{kept['id']}", headers=world.headers).json["status"] == "confirmed"
    assert client.get(f"/api/v1/bookings/{lapsed['id']}", headers=world.headers).json["status"] == "expired"
    assert money(session, lapsed["payment"]["id"]) == refunded_in_full(8000)


def test_one_tap_booking_and_a_declined_card_retried_within_the_hold(client, world):
    start, end = next_slot("swap_lane", after=timedelta(days=1))
    body = booking_body(world.resources["swap_lane"], start, end, pay_with_wallet=True)
    none = client.post("/api/v1/bookings", json=body, headers=world.headers)
    assert none.status_code == 402 and none.json["code"] == "payment_method_required"

    save_card(client, world.headers, SAVES_THEN_DECLINES)
    declined = client.post("/api/v1/bookings", json=body, headers=world.headers)
    assert declined.status_code == 201 and declined.json["status"] == "held"
    assert declined.json["payment"]["status"] == "failed"
    assert pay(client, declined.json, world.headers).status_code == 200  # another card, within the hold
    booking = client.get(f"/api/v1/bookings/{declined.json['id']}", headers=world.headers).json
    assert booking["status"] == "confirmed"

    visa = save_card(client, world.headers, VISA)
    client.post(f"/api/v1/me/payment-methods/{visa['id']}/default", headers=world.headers)
    start, end = next_slot("swap_lane", after=timedelta(days=2))
    one_tap = client.post("/api/v1/bookings", headers=world.headers,
                          json=booking_body(world.resources["swap_lane"], start, end, pay_with_wallet=True))
    assert one_tap.status_code == 201 and one_tap.json["status"] == "confirmed"
    assert one_tap.json["payment"]["status"] == "succeeded"


def test_charging_authorises_against_the_wallet_at_request_time(client, world):
    save_card(client, world.headers)
    start, end = next_slot("charger", after=timedelta(days=1))
    booked = client.post("/api/v1/bookings", json=booking_body(world.resources["charger"], start, end),
                         headers=world.headers)
    assert booked.status_code == 201 and booked.json["status"] == "confirmed"
    assert booked.json["payment"]["status"] == "authorised"


def test_one_tap_ticket_purchase(client, show):
    buyer = show["buyers"][0]
    save_card(client, buyer)
    placed = buy(client, show, buyer, paid=False, pay_with_wallet=True)
    assert placed["status"] == "paid" and len(placed["tickets"]) == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_no_show_keeps_its_fee_and_gets_the_rest_back_whatever_the_provider_does(app, client, session, world,
                                                                                  mode):
    booking = paid_swap(client, world)
    ended = datetime.fromisoformat(booking["end"]) + timedelta(minutes=1)
    gateway = app.extensions["payment_gateway"]
    with failing(gateway, "refund", mode):
        assert services.sweep(session, gateway, now=ended) == {"expired": 0, "no_show": 1}
    run_runner(app, session)
    after = money(session, booking["payment"]["id"])
    fee = 8000 * 20 // 100  # a swap lane's no-show fee
    assert (after["status"], after["refunded"], after["provider_refunded"]) == ("partially_refunded",
                                                                                8000 - fee, 8000 - fee)
    assert after["instructions"] == ["done"]


def _paid_for(session) -> list[tuple[str, str]]:
    """Return each payment's payable type and status, as committed now."""
    session.commit()  # a fresh snapshot
    return [(p.payable_type, p.status.value) for p in session.exec(
        select(Payment).execution_options(populate_existing=True)).all()]


def test_a_hold_and_its_payment_are_committed_before_the_provider_is_asked_and_reconcile_sends_it(
        app, client, session, world, monkeypatch):
    gateway, engine = app.extensions["payment_gateway"], app.extensions["db_engine"]
    seen_by_others = []

    def down(**kwargs):
        with Session(engine) as other:  # what any other connection sees while the provider is asked
            seen_by_others.extend(other.exec(select(Booking.status, Payment.status).join(
                Payment, (Payment.payable_type == "booking") & (Payment.payable_id == Booking.id))).all())
        raise ConnectionError("provider unreachable")

    monkeypatch.setattr(gateway, "create_payment", down)
    start, end = next_slot("swap_lane", after=timedelta(days=1))
    answer = client.post("/api/v1/bookings", json=booking_body(world.resources["swap_lane"], start, end),
                         headers=world.headers)
    assert answer.status_code == 500
    assert seen_by_others == [("held", "creating")]
    monkeypatch.undo()
    session.commit()  # a fresh snapshot
    payment = session.exec(select(Payment)).one()
    payment.created_at = utcnow() - timedelta(minutes=5)  # old enough for reconcile to take it as unanswered
    session.commit()
    reconcile(session, gateway)
    assert _paid_for(session) == [("booking", "pending")]


def test_a_hold_that_rolls_back_leaves_no_payment(app, client, session, world, monkeypatch):
    real = billing.intend_payment

    def then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("the hold's transaction fails after its payment was added")

    monkeypatch.setattr(billing, "intend_payment", then_fail)
    start, end = next_slot("swap_lane", after=timedelta(days=1))
    body = booking_body(world.resources["swap_lane"], start, end)
    assert client.post("/api/v1/bookings", json=body, headers=world.headers).status_code == 500
    assert _paid_for(session) == [] and session.exec(select(Booking)).all() == []
    monkeypatch.undo()
    assert client.post("/api/v1/bookings", json=body, headers=world.headers).status_code == 201  # the slot is free


def test_one_tap_without_a_card_holds_no_slot_and_no_seat(client, session, world, show):
    start, end = next_slot("swap_lane", after=timedelta(days=1))
    body = booking_body(world.resources["swap_lane"], start, end, pay_with_wallet=True)
    assert client.post("/api/v1/bookings", json=body, headers=world.headers).json["code"] == "payment_method_required"
    buyer = show["buyers"][0]
    tier_id = client.get(f"/api/v1/events/{show['event'].id}").json["tiers"][0]
    placed = client.post(f"/api/v1/events/{show['event'].id}/orders", headers=buyer, json={
        "items": [{"tier_id": tier_id["id"], "quantity": 2}], "pay_with_wallet": True})
    assert placed.status_code == 402 and placed.json["code"] == "payment_method_required"
    assert _paid_for(session) == [] and session.exec(select(Booking)).all() == []
    assert session.exec(select(Order)).all() == []
    assert client.get(f"/api/v1/events/{show['event'].id}").json["tiers"][0]["remaining"] == tier_id["remaining"]
