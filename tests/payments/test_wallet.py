"""The wallet: saving, listing, choosing and removing payment methods; paying exactly once."""
import threading
from collections import Counter

import requests
from sqlmodel import func, select

from payments.models import LedgerEntry, Payment, PaymentCustomer, SandboxIntent
from tests.factories import bearer, make_event, make_org, make_site, make_user, save_card

VISA, DECLINED = "4242424242424242", "4000000000000002"
METHODS = "/api/v1/me/payment-methods"


def test_save_list_choose_default_and_remove(client, session, app):
    me = bearer(app, session, make_user(session))
    first = save_card(client, me)
    assert first["default"] and first["last4"] == "4242" and first["brand"] == "visa"
    assert first["created_at"].endswith("+08:00")
    second = save_card(client, me, "5555555555554444")
    assert not second["default"]
    listed = client.post(f"{METHODS}/{second['id']}/default", headers=me).json["items"]
    assert [(m["id"], m["default"]) for m in listed] == [(second["id"], True), (first["id"], False)]
    left = client.delete(f"{METHODS}/{second['id']}", headers=me).json["items"]
    assert [(m["id"], m["default"]) for m in left] == [(first["id"], True)]  # the other one takes over
    stranger = bearer(app, session, make_user(session))
    assert client.delete(f"{METHODS}/{first['id']}", headers=stranger).status_code == 404
    assert client.get(METHODS, headers=stranger).json["items"] == []


def test_a_declined_or_invalid_card_is_not_saved(client, session, app):
    me = bearer(app, session, make_user(session))
    declined = client.post(METHODS, json={"card_number": DECLINED}, headers=me)
    assert declined.status_code == 402 and declined.json["code"] == "payment_declined"
    assert declined.content_type == "application/problem+json"
    invalid = client.post(METHODS, json={"card_number": "4242424242424241"}, headers=me)
    assert invalid.status_code == 422 and invalid.json["code"] == "invalid_card"
    missing = client.post(METHODS, json={}, headers=me)
    assert missing.status_code == 422
    assert client.get(METHODS, headers=me).json["items"] == []


def test_ten_concurrent_confirms_charge_once(app, client, session, live_server):
    org = make_org(session, kind="organiser")
    event_ = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    buyer = bearer(app, session, make_user(session))
    tier_id = client.get(f"/api/v1/events/{event_.id}").json["tiers"][0]["id"]
    placed = client.post(f"/api/v1/events/{event_.id}/orders", headers=buyer,
                         json={"items": [{"tier_id": tier_id, "quantity": 1}]}).json
    url = f"{live_server}/api/v1/payments/{placed['payment']['id']}/sandbox/confirm"
    barrier, answers = threading.Barrier(10), []

    def confirm():
        barrier.wait()
        answer = requests.post(url, json={"card_number": VISA}, headers=buyer, timeout=60)
        answers.append((answer.status_code, answer.json().get("code") or answer.json().get("status")))

    threads = [threading.Thread(target=confirm) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(answers)
    assert counts[(200, "succeeded")] == 1 and counts[(409, "payment_not_confirmable")] == 9, counts
    session.commit()
    payment = session.get(Payment, placed["payment"]["id"])
    intent = session.get(SandboxIntent, payment.gateway_payment_id)
    charges = session.exec(select(func.count()).select_from(LedgerEntry).where(
        LedgerEntry.payment_id == payment.id, LedgerEntry.kind == "charge")).one()
    assert (intent.amount_received, payment.amount_captured, charges) == (10000, 10000, 1)


def test_first_cards_saved_at_once_make_one_customer_with_one_default(app, session, live_server):
    user = make_user(session)
    me = bearer(app, session, user)
    cards = ["4242424242424242", "5555555555554444", "4000056655665556", "6200000000000005"]
    barrier, answers = threading.Barrier(len(cards)), []

    def save(card):
        barrier.wait()
        answer = requests.post(f"{live_server}{METHODS}", json={"card_number": card}, headers=me, timeout=60)
        answers.append((answer.status_code, answer.json().get("default")))

    threads = [threading.Thread(target=save, args=(card,)) for card in cards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [(201, False)] * 3 + [(201, True)], answers
    listed = requests.get(f"{live_server}{METHODS}", headers=me, timeout=60).json()["items"]
    assert len(listed) == 4 and sum(m["default"] for m in listed) == 1
    session.commit()
    assert session.exec(select(func.count()).select_from(PaymentCustomer)
                        .where(PaymentCustomer.user_id == user.id)).one() == 1
