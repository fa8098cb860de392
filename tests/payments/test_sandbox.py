"""The sandbox gateway through the payment services: Stripe's state machine, ledger, idempotency."""
from unittest import mock

from sqlmodel import func, select

from backend.db import write_transaction
from payments import services
from payments.effects import register_payable
from payments.gateway import OffSession
from payments.instructions import instruct, refundable
from payments.models import LedgerEntry, PaymentStatus, SandboxIntent
from payments.runner import run_after_commit
from payments.sandbox import DECLINED_CARD
from payments.stripe_gateway import StripeGateway
from tests.factories import bearer, make_user

VISA = "4242424242424242"


def start(session, gateway, payer, payable_id=1, amount=5000, capture="automatic"):
    return services.start_payment(session, gateway, payable_type="probe", payable_id=payable_id,
                                  user_id=payer[0].id, amount=amount, capture_method=capture)


def reload(session, payment):
    session.commit()  # end the read snapshot SQLite keeps for an open transaction
    return services.payment_for(session, "probe", payment.payable_id)


def carry_out(session, gateway, payment, kind, amount=None):
    """Instruct the payment's provider as a service would, then run the instruction after commit."""
    with write_transaction(session):
        payment = services.payment_for(session, payment.payable_type, payment.payable_id)
        if kind == "refund" and amount is None:
            amount = refundable(session, payment)
        made = instruct(session, payment, kind, amount=amount, reason="test")
    run_after_commit(session, gateway, made)


def ledger(session, payment):
    return [(e.kind, e.amount) for e in session.exec(
        select(LedgerEntry).where(LedgerEntry.payment_id == payment.id).order_by(LedgerEntry.id))]


def test_same_payable_twice_gives_one_payment(session, gateway, payer, probe, monkeypatch):
    calls = []
    create = gateway.create_payment
    monkeypatch.setattr(gateway, "create_payment", lambda **kw: calls.append(kw) or create(**kw))
    first, second = start(session, gateway, payer), start(session, gateway, payer)
    assert first.id == second.id and len(calls) == 1
    assert calls[0]["idempotency_key"] == first.idempotency_key
    assert session.exec(select(func.count()).select_from(SandboxIntent)).one() == 1


def test_pay_confirms_payable_and_writes_ledger(session, gateway, payer, probe):
    payment = start(session, gateway, payer)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    payment = reload(session, payment)
    assert payment.status == PaymentStatus.succeeded and payment.amount_captured == 5000
    assert probe.succeeded == [1]
    assert ledger(session, payment) == [("charge", 5000), ("fee", 30)]


def test_declined_card_fails_and_may_be_retried(session, gateway, payer, probe):
    payment = start(session, gateway, payer)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=DECLINED_CARD)
    assert reload(session, payment).status == PaymentStatus.failed
    assert probe.failed == [] and probe.succeeded == []  # the payable keeps its hold
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert reload(session, payment).status == PaymentStatus.succeeded and probe.succeeded == [1]


def test_authorise_then_capture_the_final_amount(session, gateway, payer, probe):
    payment = start(session, gateway, payer, capture="manual", amount=9000)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert reload(session, payment).status == PaymentStatus.authorised and probe.authorised == [1]
    carry_out(session, gateway, payment, "capture", 6420)
    payment = reload(session, payment)
    assert payment.status == PaymentStatus.succeeded and payment.amount_captured == 6420
    assert ledger(session, payment)[0] == ("charge", 6420)


def test_cancel_an_authorisation(session, gateway, payer, probe):
    payment = start(session, gateway, payer, capture="manual")
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    carry_out(session, gateway, payment, "cancel")
    assert reload(session, payment).status == PaymentStatus.canceled
    assert probe.failed == [1]


def test_partial_then_full_refund(session, gateway, payer, probe):
    payment = start(session, gateway, payer)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    carry_out(session, gateway, payment, "refund", 1500)
    assert reload(session, payment).status == PaymentStatus.partially_refunded
    carry_out(session, gateway, payment, "refund")
    payment = reload(session, payment)
    assert payment.status == PaymentStatus.refunded and payment.amount_refunded == 5000
    assert [e for e in ledger(session, payment) if e[0] == "refund"] == [("refund", -1500),
                                                                         ("refund", -3500)]


def test_success_for_an_unfulfillable_payable_is_refunded(session, gateway, payer, probe):
    probe.fulfillable = False
    payment = start(session, gateway, payer)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    payment = reload(session, payment)
    assert payment.status == PaymentStatus.refunded and payment.amount_refunded == 5000
    assert [k for k, _ in ledger(session, payment)] == ["charge", "fee", "refund"]
    assert ledger(session, payment)[-1] == ("refund", -5000)


def test_payable_without_on_authorised_is_captured(session, gateway, payer):
    class PaidOnly:
        """A payable that only cares about money taken or not (bookings, orders)."""
        succeeded = []

        def on_succeeded(self, session, payable_id):
            self.succeeded.append(payable_id)
            return True

        def on_failed(self, session, payable_id):
            raise AssertionError("not expected")

    register_payable("paid_only", PaidOnly())
    payment = services.start_payment(session, gateway, payable_type="paid_only", payable_id=4,
                                     user_id=payer[0].id, amount=800, capture_method="manual")
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert services.payment_for(session, "paid_only", 4).status == PaymentStatus.authorised
    carry_out(session, gateway, payment, "capture", 800)
    assert services.payment_for(session, "paid_only", 4).status == PaymentStatus.succeeded
    assert PaidOnly.succeeded == [4]


def test_payment_api_is_the_payers_own(client, session, gateway, payer, probe):
    payment = start(session, gateway, payer)
    url = f"/api/v1/payments/{payment.id}"
    detail = client.get(url, headers=payer[1]).json
    assert detail["status"] == "pending" and detail["amount"] == {"amount": 5000, "currency": "CNY"}
    stranger = bearer(client.application, session, make_user(session))
    assert client.get(url, headers=stranger).status_code == 404
    assert client.post(f"{url}/sandbox/confirm", json={"card_number": VISA}, headers=stranger).status_code == 404
    bad = client.post(f"{url}/sandbox/confirm", json={"card_number": "4242424242424241"}, headers=payer[1])
    assert bad.status_code == 422 and bad.json["code"] == "invalid_card"
    paid = client.post(f"{url}/sandbox/confirm", json={"card_number": VISA}, headers=payer[1]).json
    assert paid["status"] == "succeeded" and [e["kind"] for e in paid["ledger"]] == ["charge", "fee"]
    again = client.post(f"{url}/sandbox/confirm", json={"card_number": VISA}, headers=payer[1])
    assert again.status_code == 409 and again.json["code"] == "payment_not_confirmable"


def test_sandbox_confirm_is_404_with_stripe(client, session, gateway, payer, probe, monkeypatch):
    payment = start(session, gateway, payer)
    monkeypatch.setitem(client.application.extensions, "payment_gateway",
                        StripeGateway("sk_test_unused", api_base="http://127.0.0.1:9"))
    answer = client.post(f"/api/v1/payments/{payment.id}/sandbox/confirm",
                         json={"card_number": VISA}, headers=payer[1])
    assert answer.status_code == 404 and answer.content_type == "application/problem+json"


def test_a_used_key_answers_with_its_intent_and_charges_once(session, gateway, payer):
    customer = gateway.create_customer(user_id=payer[0].id, idempotency_key="used-key-customer")
    card = gateway.save_method(customer_id=customer, method=VISA, idempotency_key="used-key-card")
    with mock.patch.object(gateway.outbox, "send", wraps=gateway.outbox.send) as send:
        answers = [gateway.create_payment(amount=2500, currency="CNY", capture_method="automatic",
                                          metadata={}, idempotency_key="probe-77-payment",
                                          off_session=OffSession(customer_id=customer, method_id=card.id))
                   for _ in range(2)]
    assert answers[0].id == answers[1].id and answers[1].status == "succeeded"
    assert answers[1].amount_received == 2500 and send.call_count == 1  # charged and reported once
    session.commit()
    assert session.exec(select(func.count()).select_from(SandboxIntent)
                        .where(SandboxIntent.idempotency_key == "probe-77-payment")).one() == 1
