"""Compare unfinished payments with the provider and repair drift, as a missed webhook would have."""
from sqlmodel import Session, select

from backend.db import write_transaction
from payments import effects
from payments.gateway import PaymentGateway
from payments.models import Payment, PaymentStatus
from payments.services import run_follow_up

OPEN = (PaymentStatus.pending, PaymentStatus.authorised, PaymentStatus.succeeded,
        PaymentStatus.partially_refunded)


def reconcile(session: Session, gateway: PaymentGateway) -> list[str]:
    """Bring every open payment of this gateway up to the provider's state; say what changed."""
    changes = []
    ids = session.exec(select(Payment.id).where(Payment.gateway == gateway.name,
                                                Payment.status.in_(OPEN))).all()
    for payment_id in ids:
        before = session.get(Payment, payment_id, populate_existing=True)
        seen = (before.status, before.amount_captured, before.amount_refunded)
        session.commit()  # hold no connection while the gateway answers
        remote = gateway.retrieve(payment_id=before.gateway_payment_id)
        with write_transaction(session):
            payment = effects.locked_payment(session, id=payment_id)
            follow_up = effects.apply_state(session, payment, remote)
            now = (payment.status, payment.amount_captured, payment.amount_refunded)
        run_follow_up(session, gateway, follow_up)
        if now != seen:
            changes.append(f"payment {payment_id} ({payment.payable_type} {payment.payable_id}): "
                           f"{seen[0].value} -> {now[0].value}, captured {seen[1]} -> {now[1]}, "
                           f"refunded {seen[2]} -> {now[2]}")
    return changes
