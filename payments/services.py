"""Paying for payables: start a payment, show it and its ledger.

Captures, cancels and refunds are recorded as instructions (`payments.instructions`) in the
transaction that causes them and carried out by `payments.runner` after commit.
"""
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.money import Money
from payments import effects, instructions
from payments.exceptions import PaymentDeclined
from payments.gateway import CaptureMethod, GatewayPayment, OffSession, PaymentGateway
from payments.models import LedgerEntry, LedgerPublic, Payment, PaymentInstruction, PaymentPublic, PaymentStatus
from payments.runner import run_after_commit


def payment_for(session: Session, payable_type: str, payable_id: int) -> Payment | None:
    """Return the payment of a payable, if one was started."""
    return session.exec(select(Payment).where(Payment.payable_type == payable_type,
                                              Payment.payable_id == payable_id)
                        .execution_options(populate_existing=True)).first()


def start_payment(session: Session, gateway: PaymentGateway, *, payable_type: str, payable_id: int,
                  user_id: int, amount: int, currency: str = "CNY",
                  capture_method: CaptureMethod = "automatic", description: str = "",
                  off_session: OffSession | None = None) -> Payment:
    """Create the payable's payment once, however often it is asked for.

    With `off_session` the provider charges a saved method at once and the answer is applied
    here (402 payment_declined when it is declined); otherwise the payer confirms it later.
    """
    key = f"{payable_type}-{payable_id}-payment"
    existing = session.exec(select(Payment).where(Payment.idempotency_key == key)).first()
    if existing:
        return existing
    session.commit()  # hold no connection while the gateway answers
    remote = gateway.create_payment(amount=amount, currency=currency, capture_method=capture_method,
                                    metadata={"payable_type": payable_type, "payable_id": str(payable_id),
                                              "description": description},
                                    idempotency_key=key, off_session=off_session)
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
    return payment if off_session is None else _apply_off_session(session, gateway, payment, remote)


def _apply_off_session(session: Session, gateway: PaymentGateway, payment: Payment,
                       remote: GatewayPayment) -> Payment:
    """Apply the provider's answer to an off-session attempt; refuse with 402 if it was declined."""
    with write_transaction(session):
        locked = effects.locked_payment(session, id=payment.id)
        if remote.decline_code:
            effects.apply_failure(session, locked)
        owed = effects.apply_state(session, locked, remote)
    run_after_commit(session, gateway, owed)
    if remote.decline_code:
        raise PaymentDeclined()
    return locked


def settle_payable(session: Session, *, payable_type: str, payable_id: int, keep_fen: int,
                   reason: str) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of a payable's payment and releasing the rest.

    The payment is read, not locked: payments lock the payment before the payable, so locking
    it here after the payable could deadlock. Whatever moves meanwhile is settled by the runner
    (a cancel the provider refuses because the money arrived becomes a refund).
    """
    payment = payment_for(session, payable_type, payable_id)
    if payment is None:
        return None
    return instructions.settle(session, payment, keep_fen=keep_fen, reason=reason)


def payment_public(payment: Payment) -> PaymentPublic:
    """Return what the app needs to show and complete a payment."""
    return PaymentPublic(id=payment.id, status=payment.status, gateway=payment.gateway,
                         amount=Money(amount=payment.amount, currency=payment.currency),
                         amount_captured=payment.amount_captured,
                         amount_refunded=payment.amount_refunded,
                         capture_method=payment.capture_method, client_secret=payment.client_secret)


def ledger_of(session: Session, payment: Payment) -> list[LedgerPublic]:
    """Return a payment's charges, refunds and fees in order, then what is instructed but not yet done."""
    rows = session.exec(select(LedgerEntry).where(LedgerEntry.payment_id == payment.id)
                        .order_by(LedgerEntry.id)).all()
    moved = [LedgerPublic(kind=r.kind, amount=Money(amount=r.amount, currency=r.currency),
                          reference=r.reference, created_at=r.created_at) for r in rows]
    # A refund owed shows negative like a made one; a capture owed positive; a cancel moves nothing.
    sign = {"refund": -1, "capture": 1, "cancel": 0}
    owed = [LedgerPublic(kind=i.kind, amount=Money(amount=sign[i.kind] * (i.amount or 0), currency=payment.currency),
                         reference=i.idempotency_key, created_at=i.created_at, state=i.state.value)
            for i in instructions.open_instructions(session, payment.id)]
    return moved + owed
