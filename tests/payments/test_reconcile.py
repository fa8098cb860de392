"""`flask payments reconcile` repairs payments whose webhooks never arrived."""
from payments import services
from payments.models import PaymentStatus
from payments.reconcile import reconcile

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
