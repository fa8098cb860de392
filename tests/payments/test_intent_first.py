"""A payment is recorded before the provider is asked, so a crash or a failed call loses nothing."""
from datetime import timedelta
from unittest import mock

import pytest
from sqlmodel import func, select

from backend.dbtypes import utcnow
from payments import instructions, services
from payments.exceptions import PaymentDeclined, ProviderRefused
from payments.gateway import OffSession
from payments.models import LedgerEntry, Payment, PaymentStatus, SandboxIntent
from payments.reconcile import reconcile
from tests.payments.faults import run_runner

DECLINES_AFTER_SAVING = "4000000000000341"


def _intents(session) -> int:
    session.commit()
    return session.exec(select(func.count()).select_from(SandboxIntent)).one()


def _age(session, payment_id: int) -> None:
    """Make a payment old enough for reconcile to take its create call as unanswered."""
    session.get(Payment, payment_id).created_at = utcnow() - timedelta(minutes=5)
    session.commit()


def _answer_lost(gateway):
    """The provider acts on the create call, then the answer never arrives (a crash or a timeout)."""
    real = gateway.create_payment

    def lost(**kwargs):
        real(**kwargs)
        raise TimeoutError("read timed out")
    return mock.patch.object(gateway, "create_payment", lost)


def _start(session, gateway, payer, payable_id: int, **extra):
    return services.start_payment(session, gateway, payable_type="probe", payable_id=payable_id,
                                  user_id=payer[0].id, amount=2500, **extra)


def _off_session(session, gateway, payer, card: str = "4242424242424242") -> OffSession:
    customer = gateway.create_customer(user_id=payer[0].id, idempotency_key=f"customer-{payer[0].id}")
    method = gateway.save_method(customer_id=customer, method=card, idempotency_key=f"method-{card}")
    return OffSession(customer_id=customer, method_id=method.id)


def test_an_unreachable_provider_leaves_the_intent_recorded_and_the_next_call_finishes_it(
        session, gateway, payer, probe):
    with mock.patch.object(gateway, "create_payment", side_effect=ConnectionError("provider unreachable")):
        with pytest.raises(ConnectionError):
            _start(session, gateway, payer, 1)
    recorded = services.payment_for(session, "probe", 1)
    assert recorded.status == PaymentStatus.creating and recorded.gateway_payment_id is None
    assert recorded.provider_request["metadata"]["payable_id"] == "1"

    payment = _start(session, gateway, payer, 1)
    assert payment.id == recorded.id and payment.status == PaymentStatus.pending
    assert payment.gateway_payment_id and payment.client_secret
    assert _intents(session) == 1


def test_reconcile_sends_a_lost_create_call_again_and_the_provider_answers_with_the_same_payment(
        session, gateway, payer, probe):
    with _answer_lost(gateway), pytest.raises(TimeoutError):
        _start(session, gateway, payer, 2)
    assert _intents(session) == 1  # the provider made it; we have no id for it yet
    payment_id = services.payment_for(session, "probe", 2).id

    assert reconcile(session, gateway) == []  # too young: its first call may still be in flight
    _age(session, payment_id)
    changes = reconcile(session, gateway)

    assert changes == [f"payment {payment_id}: creating -> pending"]
    payment = session.get(Payment, payment_id, populate_existing=True)
    intent = session.exec(select(SandboxIntent)).one()
    assert payment.gateway_payment_id == intent.id and _intents(session) == 1


def test_an_off_session_charge_whose_answer_was_lost_is_recorded_once(session, gateway, payer, probe):
    saved = _off_session(session, gateway, payer)
    with _answer_lost(gateway), pytest.raises(TimeoutError):
        _start(session, gateway, payer, 3, off_session=saved)
    payment_id = services.payment_for(session, "probe", 3).id
    _age(session, payment_id)

    assert reconcile(session, gateway) == [f"payment {payment_id}: creating -> succeeded"]
    assert reconcile(session, gateway) == []
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.payment_id == payment_id)).all()
    assert [e.amount for e in entries if e.kind == "charge"] == [2500]
    assert probe.succeeded == [3] and _intents(session) == 1


def test_a_declined_off_session_charge_is_recorded_as_failed(session, gateway, payer, probe):
    saved = _off_session(session, gateway, payer, card=DECLINES_AFTER_SAVING)
    with pytest.raises(PaymentDeclined):
        _start(session, gateway, payer, 4, off_session=saved)
    assert services.payment_for(session, "probe", 4).status == PaymentStatus.failed


def test_a_create_call_the_provider_refuses_closes_the_payment_and_lets_the_payable_go(
        session, gateway, payer, probe):
    refused = ProviderRefused("payment_method_unknown", "No such saved payment method.")
    with mock.patch.object(gateway, "create_payment", side_effect=refused), pytest.raises(ProviderRefused):
        _start(session, gateway, payer, 5)
    assert services.payment_for(session, "probe", 5).status == PaymentStatus.canceled
    assert probe.failed == [5]


def test_the_runner_creates_an_unanswered_payment_before_cancelling_it(app, session, gateway, payer, probe):
    with mock.patch.object(gateway, "create_payment", side_effect=ConnectionError("provider unreachable")):
        with pytest.raises(ConnectionError):
            _start(session, gateway, payer, 6)
    payment = services.payment_for(session, "probe", 6)
    instructions.settle(session, payment, keep_fen=0, reason="booking_expired")
    session.commit()

    run_runner(app, session)

    payment = session.get(Payment, payment.id, populate_existing=True)
    intent = session.exec(select(SandboxIntent)).one()
    assert payment.status == PaymentStatus.canceled and intent.status == "canceled"
    assert intent.id == payment.gateway_payment_id
