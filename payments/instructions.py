"""Recording payment instructions: what the platform owes the provider to do, in the caller's transaction.

A capture, cancel or refund is written in the same transaction as the state change that causes
it, so the change and the money it moves commit together or not at all; `payments.runner`
carries them out after commit.
"""
import secrets

from sqlalchemy import func
from sqlmodel import Session, select

from payments.models import InstructionState, Payment, PaymentInstruction, PaymentStatus

CAPTURED = (PaymentStatus.succeeded, PaymentStatus.partially_refunded)
UNPAID = (PaymentStatus.creating, PaymentStatus.pending, PaymentStatus.failed)


def instruct(session: Session, payment: Payment, kind: str, *, amount: int | None = None,
             reason: str = "") -> PaymentInstruction:
    """Record one instruction for a payment; its key, kept with it, makes every retry the same call."""
    key = f"{payment.idempotency_key}-{kind}-{secrets.token_hex(8)}"
    instruction = PaymentInstruction(payment_id=payment.id, kind=kind, amount=amount, reason=reason[:64],
                                     idempotency_key=key)
    session.add(instruction)
    session.flush()
    return instruction


def refundable(session: Session, payment: Payment) -> int:
    """Return what was captured and is neither refunded nor already instructed to be."""
    owed = session.exec(select(func.coalesce(func.sum(PaymentInstruction.amount), 0)).where(
        PaymentInstruction.payment_id == payment.id, PaymentInstruction.kind == "refund",
        PaymentInstruction.state == InstructionState.pending)).one()
    return payment.amount_captured - payment.amount_refunded - int(owed or 0)  # coalesce: never None


def settle(session: Session, payment: Payment, *, keep_fen: int, reason: str) -> PaymentInstruction | None:
    """Record what keeping `keep_fen` of a payment takes: capture it, or cancel or refund the rest."""
    if payment.status == PaymentStatus.authorised:
        if keep_fen > 0:
            return instruct(session, payment, "capture", amount=min(keep_fen, payment.amount), reason=reason)
        return instruct(session, payment, "cancel", reason=reason)
    if payment.status in CAPTURED:
        give_back = refundable(session, payment) - keep_fen
        return instruct(session, payment, "refund", amount=give_back, reason=reason) if give_back > 0 else None
    if payment.status in UNPAID:
        # Nobody may pay for what is gone; if they already did, the runner refunds it.
        return instruct(session, payment, "cancel", reason=reason)
    return None


def open_instructions(session: Session, payment_id: int) -> list[PaymentInstruction]:
    """Return a payment's instructions not yet carried out, oldest first."""
    return list(session.exec(select(PaymentInstruction).where(
        PaymentInstruction.payment_id == payment_id, PaymentInstruction.state != InstructionState.done)
        .order_by(PaymentInstruction.id)).all())
