"""The sandbox delivers its webhook events after answering, and loses none to a failing handler or a crash."""
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from payments import services, webhook_secret
from payments.models import PaymentStatus, SandboxEvent
from payments.sandbox import SandboxGateway
from tests.payments.test_webhooks import post

VISA = "4242424242424242"


@pytest.fixture
def gate(app):
    """A sandbox that delivers in the background, through a gate the test opens, to the app's webhook."""
    opened, delivered = threading.Event(), []
    webhook = app.extensions["payment_gateway"]._deliver

    def deliver(payload, signature):
        assert opened.wait(10), "the test never let the event through"
        webhook(payload, signature)
        delivered.append(payload)

    gateway = SandboxGateway(app.extensions["db_engine"], webhook_secret=webhook_secret(app), deliver=deliver,
                             background=True)
    return gateway, opened, delivered


def kept_events(session) -> list[SandboxEvent]:
    session.commit()  # a fresh snapshot
    return list(session.exec(select(SandboxEvent)).all())


def status(session, payable_id: int) -> PaymentStatus:
    session.commit()
    payment = services.payment_for(session, "probe", payable_id)
    assert payment is not None
    return payment.status


def wait_for(check, seconds: float = 10) -> None:
    deadline = utcnow() + timedelta(seconds=seconds)
    while not check():
        assert utcnow() < deadline, "the background delivery never came"
        threading.Event().wait(0.02)


def test_the_call_answers_before_its_event_is_delivered(session, gate, payer, probe):
    gateway, opened, delivered = gate
    payment = services.start_payment(session, gateway, payable_type="probe", payable_id=1,
                                     user_id=payer[0].id, amount=5000)
    answer = gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert answer.status == "succeeded"  # the provider has the money ...
    assert status(session, 1) == PaymentStatus.pending and len(kept_events(session)) == 1  # ... its news waits
    opened.set()
    wait_for(lambda: not kept_events(session))  # taken by the webhook, then forgotten
    assert status(session, 1) == PaymentStatus.succeeded and probe.succeeded == [1] and len(delivered) == 1


def test_an_event_the_webhook_fails_to_take_is_sent_again_by_the_job(session, gateway, payer, probe, monkeypatch):
    payment = services.start_payment(session, gateway, payable_type="probe", payable_id=2,
                                     user_id=payer[0].id, amount=5000)
    webhook = gateway._deliver

    def down(payload, signature):
        raise ConnectionError("the platform is restarting")

    monkeypatch.setattr(gateway, "_deliver", down)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert status(session, 2) == PaymentStatus.pending and len(kept_events(session)) == 1
    monkeypatch.setattr(gateway, "_deliver", webhook)
    assert gateway.outbox.deliver_due() == 0  # not yet: the first retry waits
    assert gateway.outbox.deliver_due(utcnow() + timedelta(minutes=1)) == 1
    assert status(session, 2) == PaymentStatus.succeeded and probe.succeeded == [2]
    assert kept_events(session) == []


def test_an_event_a_crash_left_unsent_is_delivered_by_the_job(session, gateway, payer, probe, monkeypatch):
    payment = services.start_payment(session, gateway, payable_type="probe", payable_id=3,
                                     user_id=payer[0].id, amount=5000)
    with monkeypatch.context() as patch:
        patch.setattr(gateway.outbox, "send", lambda event: None)  # the process died after the commit
        gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert status(session, 3) == PaymentStatus.pending and len(kept_events(session)) == 1
    assert gateway.outbox.deliver_due(utcnow() + timedelta(minutes=1)) == 1
    assert status(session, 3) == PaymentStatus.succeeded and probe.succeeded == [3]


def test_confirming_answers_the_paid_payment_without_waiting_for_the_webhook(app, client, session, gate, payer,
                                                                             probe, monkeypatch):
    gateway, opened, delivered = gate
    monkeypatch.setitem(app.extensions, "payment_gateway", gateway)
    payment = services.start_payment(session, gateway, payable_type="probe", payable_id=4,
                                     user_id=payer[0].id, amount=5000)
    paid = client.post(f"/api/v1/payments/{payment.id}/sandbox/confirm", headers=payer[1],
                       json={"card_number": VISA})
    assert paid.status_code == 200 and paid.json["status"] == "succeeded"
    assert [e["kind"] for e in paid.json["ledger"]] == ["charge", "fee"] and probe.succeeded == [4]
    assert not delivered  # the event is still on its way
    opened.set()
    wait_for(lambda: not kept_events(session))
    assert probe.succeeded == [4] and status(session, 4) == PaymentStatus.succeeded  # it brought no news


def test_an_event_with_no_news_is_not_read_back_from_the_provider(app, client, session, gateway, payer, probe,
                                                                   monkeypatch):
    kept = []
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: kept.append(payload))
    payment = services.start_payment(session, gateway, payable_type="probe", payable_id=5,
                                     user_id=payer[0].id, amount=5000)
    answer = gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    services.apply_answer(session, gateway, payment.id, answer)
    asked = []
    monkeypatch.setattr(gateway, "retrieve", lambda **kwargs: asked.append(kwargs))
    receipt = post(client, app, kept[-1])
    assert receipt.status_code == 200 and receipt.json == {"received": True, "duplicate": True}
    assert asked == [] and probe.succeeded == [5]
