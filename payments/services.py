"""Paying for payables: start, capture, cancel and refund through whichever gateway is configured.

Each call commits the caller's work first and talks to the gateway outside any transaction,
then applies the gateway's answer through `payments.effects` like a webhook would.
"""
import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.money import Money
from payments import effects
from payments.gateway import CaptureMethod, PaymentGateway
from payments.models import LedgerEntry, LedgerPublic, Payment, PaymentPublic, PaymentStatus

log = logging.getLogger(__name__)


def payment_for(session: Session, payable_type: str, payable_id: int) -> Payment | None:
    """Return the payment of a payable, if one was started."""
    return session.exec(select(Payment).where(Payment.payable_type == payable_type,
                                              Payment.payable_id == payable_id)
                        .execution_options(populate_existing=True)).first()


def start_payment(session: Session, gateway: PaymentGateway, *, payable_type: str, payable_id: int,
                  user_id: int, amount: int, currency: str = "CNY",
                  capture_method: CaptureMethod = "automatic", description: str = "") -> Payment:
    """Create the payable's payment once, however often it is asked for."""
    key = f"{payable_type}-{payable_id}-payment"
    existing = session.exec(select(Payment).where(Payment.idempotency_key == key)).first()
    if existing:
        return existing
    session.commit()  # hold no connection while the gateway answers
    remote = gateway.create_payment(amount=amount, currency=currency, capture_method=capture_method,
                                    metadata={"payable_type": payable_type, "payable_id": str(payable_id),
                                              "description": description},
                                    idempotency_key=key)
    payment = Payment(payable_type=payable_type, payable_id=payable_id, user_id=user_id,
                      gateway=gateway.name, gateway_payment_id=remote.id, idempotency_key=key,
                      amount=amount, currency=currency, capture_method=capture_method,
                      status=PaymentStatus.pending, client_secret=remote.client_secret)
    try:
        with write_transaction(session):
            session.add(payment)
    except IntegrityError:
        # A concurrent caller stored the same gateway payment first: theirs is ours.
        return session.exec(select(Payment).where(Payment.idempotency_key == key)).one()
    return payment


def _apply(session: Session, gateway: PaymentGateway, payment_id: int, remote) -> Payment:
    """Apply a gateway answer to the payment and run what it asks for next."""
    with write_transaction(session):
        payment = effects.locked_payment(session, id=payment_id)
        follow_up = effects.apply_state(session, payment, remote)
    run_follow_up(session, gateway, follow_up)
    return payment


def run_follow_up(session: Session, gateway: PaymentGateway, follow_up: effects.FollowUp | None) -> None:
    """Give the money back for a payable that could not be fulfilled."""
    if follow_up is None:
        return
    payment = session.get(Payment, follow_up.payment_id)
    if follow_up.action == "refund":
        refund_payment(session, gateway, payment=payment, amount=None, reason="payable_unavailable")
    else:
        cancel_payment(session, gateway, payment=payment)


def capture_payment(session: Session, gateway: PaymentGateway, *, payment: Payment, amount: int) -> Payment:
    """Capture the final amount of an authorised payment (at most what was authorised)."""
    session.commit()
    remote = gateway.capture(payment_id=payment.gateway_payment_id, amount=min(amount, payment.amount),
                             idempotency_key=f"{payment.idempotency_key}-capture")
    return _apply(session, gateway, payment.id, remote)


def cancel_payment(session: Session, gateway: PaymentGateway, *, payment: Payment) -> Payment:
    """Cancel a payment that has not taken money (an authorisation or an unpaid one)."""
    session.commit()
    remote = gateway.cancel(payment_id=payment.gateway_payment_id,
                            idempotency_key=f"{payment.idempotency_key}-cancel")
    return _apply(session, gateway, payment.id, remote)


def refund_payment(session: Session, gateway: PaymentGateway, *, payment: Payment,
                   amount: int | None = None, reason: str) -> Payment:
    """Refund part of a captured payment, or all that is left of it when amount is None."""
    session.commit()
    fresh = session.get(Payment, payment.id, populate_existing=True)
    left = fresh.amount_captured - fresh.amount_refunded
    amount = left if amount is None else min(amount, left)
    if amount <= 0:
        return fresh
    session.commit()  # hold no connection while the gateway answers
    refund = gateway.refund(payment_id=fresh.gateway_payment_id, amount=amount,
                            idempotency_key=f"{fresh.idempotency_key}-refund-{fresh.amount_refunded}-{amount}")
    with write_transaction(session):
        locked = effects.locked_payment(session, id=fresh.id)
        effects.apply_refund(session, locked, refund_id=refund.id, amount=refund.amount)
    # The ledger holds the money; the log keeps why it went back, for support and audits.
    log.info("refunded %s %s of payment %s (%s %s): %s", refund.amount, locked.currency, locked.id,
             locked.payable_type, locked.payable_id, reason)
    return locked


def payment_public(payment: Payment) -> PaymentPublic:
    """Return what the app needs to show and complete a payment."""
    return PaymentPublic(id=payment.id, status=payment.status, gateway=payment.gateway,
                         amount=Money(amount=payment.amount, currency=payment.currency),
                         amount_captured=payment.amount_captured,
                         amount_refunded=payment.amount_refunded,
                         capture_method=payment.capture_method, client_secret=payment.client_secret)


def ledger_of(session: Session, *, payable_type: str, payable_id: int) -> list[LedgerPublic]:
    """Return a payable's charges, refunds and fees in order."""
    rows = session.exec(select(LedgerEntry).where(LedgerEntry.payable_type == payable_type,
                                                  LedgerEntry.payable_id == payable_id)
                        .order_by(LedgerEntry.id)).all()
    return [LedgerPublic(kind=r.kind, amount=Money(amount=r.amount, currency=r.currency),
                         reference=r.reference, created_at=r.created_at) for r in rows]
