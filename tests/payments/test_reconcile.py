"""`flask payments reconcile` repairs payments whose webhooks never arrived."""
import pytest

from backend.db import write_transaction
from payments import effects, services
from payments.gateway import GatewayPayment
from payments.models import PAID, LedgerEntry, Payment, PaymentStatus
from payments.reconcile import reconcile
from tests.factories import statements_run

VISA = "4242424242424242"


def test_reconcile_applies_what_the_lost_webhooks_said(app, session, gateway, payer, probe, monkeypatch):
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: None)
    paid = services.start_payment(session, gateway, payable_type="probe", payable_id=1,
                                  user_id=payer[0].id, amount=3000)
    gateway.confirm(payment_id=paid.gateway_payment_id, card_number=VISA)
    untouched = services.start_payment(session, gateway, payable_type="probe", payable_id=2,
                                       user_id=payer[0].id, amount=1000)

    changes = reconcile(session, gateway)
    assert len(changes) == 1 and "pending -> succeeded" in changes[0]
    session.commit()
    assert services.payment_for(session, "probe", 1).status == PaymentStatus.succeeded
    assert services.payment_for(session, "probe", untouched.payable_id).status == PaymentStatus.pending
    assert probe.succeeded == [1]
    assert reconcile(session, gateway) == []


def test_reconcile_command_reports(app, session, gateway, payer, probe, monkeypatch):
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: None)
    paid = services.start_payment(session, gateway, payable_type="probe", payable_id=3,
                                  user_id=payer[0].id, amount=3000)
    gateway.confirm(payment_id=paid.gateway_payment_id, card_number=VISA)
    session.commit()
    output = app.test_cli_runner().invoke(args=["payments", "reconcile"]).output
    assert "1 payment(s) repaired" in output and "pending -> succeeded" in output


def test_reconcile_locks_and_writes_nothing_for_payments_the_provider_agrees_with(
        app, session, gateway, payer, probe, monkeypatch):
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: None)
    for payable_id in (11, 12, 13):
        services.start_payment(session, gateway, payable_type="probe", payable_id=payable_id,
                               user_id=payer[0].id, amount=1000)
    session.commit()
    with statements_run(app) as seen:
        assert reconcile(session, gateway) == []
    assert not [s for s in seen if "FOR UPDATE" in s or s.lstrip().upper().startswith(("UPDATE", "INSERT"))], seen


def test_the_five_minute_reconcile_asks_only_about_payments_awaiting_their_payer(
        app, session, gateway, payer, probe, monkeypatch):
    """The hourly one asks about every open payment: an authorisation may lapse at the provider."""
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: None)
    waiting, paid = (services.start_payment(session, gateway, payable_type="probe", payable_id=payable_id,
                                            user_id=payer[0].id, amount=1000) for payable_id in (21, 22))
    gateway.confirm(payment_id=paid.gateway_payment_id, card_number=VISA)
    reconcile(session, gateway)  # the lost webhook's news: paid is succeeded here too
    asked, retrieve = [], gateway.retrieve
    monkeypatch.setattr(gateway, "retrieve", lambda *, payment_id: asked.append(payment_id) or retrieve(
        payment_id=payment_id))
    jobs = {job.name: job for job in app.extensions["jobs"]}
    assert (jobs["payments-reconcile-awaiting"].every_s, jobs["payments-reconcile"].every_s) == (300, 3600)

    jobs["payments-reconcile-awaiting"].run(app, session)
    assert asked == [waiting.gateway_payment_id]
    asked.clear()
    jobs["payments-reconcile"].run(app, session)
    assert sorted(asked) == sorted([waiting.gateway_payment_id, paid.gateway_payment_id])


LOCAL = [PaymentStatus.pending, PaymentStatus.failed, PaymentStatus.authorised, PaymentStatus.succeeded,
         PaymentStatus.partially_refunded, PaymentStatus.refunded, PaymentStatus.canceled]
REMOTE = [(status, decline, refunded) for status in ("requires_payment_method", "requires_capture", "succeeded",
                                                      "canceled")
          for decline in (None, "card_declined") for refunded in (0, 500)]


@pytest.mark.parametrize("local", LOCAL)
def test_moves_says_exactly_when_an_answer_changes_a_payment(session, payer, probe, local):
    """The predicate reconcile skips by and what apply_failure and apply_state do agree, case by case."""
    captured = 3000 if local in PAID else 0
    refunded = {PaymentStatus.partially_refunded: 500, PaymentStatus.refunded: 3000}.get(local, 0)
    payment = Payment(payable_type="probe", payable_id=1, user_id=payer[0].id, gateway="sandbox",
                      gateway_payment_id="pi_moves", idempotency_key=f"moves-{local.value}", amount=3000,
                      currency="CNY", capture_method="automatic", status=local, amount_captured=captured,
                      amount_refunded=refunded)
    session.add(payment)
    session.flush()
    if refunded:  # what the ledger holds for a payment with refunds: their references
        session.add(LedgerEntry(payment_id=payment.id, payable_type="probe", payable_id=1, kind="refund",
                                amount=-refunded, currency="CNY", reference="re_moves"))
    session.commit()
    for status, decline, remote_refunded in REMOTE:
        remote = GatewayPayment(id="pi_moves", status=status, amount=3000, currency="CNY",
                                amount_received=3000 if status == "succeeded" else 0,
                                amount_refunded=max(remote_refunded, refunded),
                                refunds=[("re_moves", max(remote_refunded, refunded))] if remote_refunded or refunded
                                else [], decline_code=decline)
        before = (payment.status, payment.amount_captured, payment.amount_refunded)
        predicted = effects.moves(payment, remote)
        with pytest.raises(Undone), write_transaction(session):  # applied, looked at, rolled back
            if decline:
                effects.apply_failure(session, payment)
            effects.apply_state(session, payment, remote)
            moved = (payment.status, payment.amount_captured, payment.amount_refunded) != before
            raise Undone
        assert predicted == moved, (local, status, decline, remote_refunded)


class Undone(Exception):
    """Raised to roll a trial back."""
