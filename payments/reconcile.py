"""Compare unfinished payments with the provider and repair drift, as a missed webhook would have.

It also carries out the payment instructions still pending, so a refund or capture whose call
failed or crashed is finished by the same command. A payment the provider took while its
booking stayed `held` (the webhook was lost) is confirmed here, or refunded when its hold has
lapsed and the slot is gone.
"""
import logging
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.dbtypes import utcnow
from payments import creation, effects, runner, services
from payments.exceptions import ProviderRefused
from payments.gateway import PaymentGateway
from payments.models import Payment, PaymentStatus

log = logging.getLogger(__name__)
# A younger `creating` payment may still have its first create call in flight.
UNANSWERED_AFTER = timedelta(minutes=1)

OPEN = (PaymentStatus.pending, PaymentStatus.failed, PaymentStatus.authorised, PaymentStatus.succeeded,
        PaymentStatus.partially_refunded)
# Where only a webhook brings the news: the payer confirms (or retries with another card) in the
# app, and a lost webhook leaves a booking held while its money is taken. The other open payments
# move when the platform asks (the runner applies the provider's answer) or, rarely, by the
# provider's own hand (a lapsed authorisation, a refund from its dashboard).
AWAITING_PAYER = (PaymentStatus.pending, PaymentStatus.failed)


def reconcile(session: Session, gateway: PaymentGateway, *, since: datetime | None = None,
              statuses: tuple[PaymentStatus, ...] = OPEN) -> list[str]:
    """Run pending instructions, then bring open payments (in `statuses`, changed since `since`) up to
    the provider's state."""
    done = runner.run_due(session, gateway)
    changes = [f"{done} pending payment instruction(s) carried out"] if done else []
    changes += resume_unanswered(session, gateway)
    query = select(Payment.id).where(Payment.gateway == gateway.name, Payment.status.in_(statuses))
    if since is not None:
        query = query.where(Payment.updated_at >= since)
    for payment_id in session.exec(query.order_by(Payment.id)).all():
        change = _repair(session, gateway, payment_id)
        if change:
            changes.append(change)
    return changes


def resume_unanswered(session: Session, gateway: PaymentGateway) -> list[str]:
    """Send again the create calls that a crash or a provider failure left without an answer."""
    query = select(Payment.id).where(Payment.gateway == gateway.name, Payment.status == PaymentStatus.creating,
                                     Payment.created_at < utcnow() - UNANSWERED_AFTER)
    changes = []
    for payment_id in session.exec(query.order_by(Payment.id)).all():
        try:
            asked = creation.ask_provider(session, gateway, payment_id)
        except ProviderRefused as exc:
            changes.append(f"payment {payment_id}: creating -> canceled ({exc.code})")
            continue
        except Exception:  # the provider is still away: the next run tries again
            session.rollback()
            log.exception("payment %s: create call still unanswered", payment_id)
            continue
        runner.run_after_commit(session, gateway, asked.owed)
        changes.append(f"payment {payment_id}: creating -> {asked.payment.status.value}")
    return changes


def _repair(session: Session, gateway: PaymentGateway, payment_id: int) -> str | None:
    """Apply the provider's state to one payment; say what changed, if anything."""
    before = session.get_one(Payment, payment_id, populate_existing=True)
    seen = (before.status, before.amount_captured, before.amount_refunded)
    session.commit()  # hold no connection while the gateway answers
    assert before.gateway_payment_id is not None  # only payments the provider knows are repaired
    remote = gateway.retrieve(payment_id=before.gateway_payment_id)
    if not effects.moves(before, remote):  # the usual answer: no lock and no write for it
        return None
    payment = services.apply_answer(session, gateway, payment_id, remote)
    now = (payment.status, payment.amount_captured, payment.amount_refunded)
    if now == seen:
        return None
    return (f"payment {payment_id} ({payment.payable_type} {payment.payable_id}): "
            f"{seen[0].value} -> {now[0].value}, captured {seen[1]} -> {now[1]}, "
            f"refunded {seen[2]} -> {now[2]}")
