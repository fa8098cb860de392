"""The one place where a provider's news changes a payment, its ledger and its payable.

Webhooks, direct gateway answers and reconciliation all come through `apply_state` and
`apply_refund`. Each transition happens once: news that is old or repeated changes nothing,
and a payment whose money has moved is never downgraded.
"""
from dataclasses import dataclass
from typing import Protocol

from sqlmodel import Session, select

from backend.dbtypes import utcnow
from payments.gateway import GatewayPayment
from payments.models import FINAL, PAID, LedgerEntry, Payment, PaymentStatus


class Payable(Protocol):
    """What a kind of payable (booking, order, ride) does when its payment moves.

    Payables paid by authorisation (rides) may also define
    `on_authorised(session, payable_id) -> bool`: reserve the payable against the authorisation,
    False if it can no longer be had (the authorisation is then cancelled).
    """

    def on_succeeded(self, session: Session, payable_id: int) -> bool:
        """Fulfil the payable; False if it can no longer be fulfilled (the money goes back)."""

    def on_failed(self, session: Session, payable_id: int) -> None:
        """Release whatever the unpaid payable held."""


_PAYABLES: dict[str, Payable] = {}


def register_payable(payable_type: str, handler: Payable) -> None:
    """Tell payments how to apply outcomes to one kind of payable."""
    _PAYABLES[payable_type] = handler


@dataclass(frozen=True)
class FollowUp:
    """A gateway call to make after the transaction commits: 'refund' or 'cancel'."""
    action: str
    payment_id: int


def find_payment(session: Session, **where) -> Payment | None:
    """Return a payment by a unique column, freshly read."""
    return session.exec(select(Payment).filter_by(**where)
                        .execution_options(populate_existing=True)).first()


def locked_payment(session: Session, **where) -> Payment | None:
    """Return a payment, row-locked and freshly read."""
    query = select(Payment).filter_by(**where).with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def record(session: Session, payment: Payment, *, kind: str, amount: int, reference: str) -> bool:
    """Add a ledger entry unless the same movement is already there; tell whether it was new."""
    # The payment row is locked, so no one else records for it meanwhile.
    if session.exec(select(LedgerEntry.id).where(LedgerEntry.reference == reference)).first():
        return False
    session.add(LedgerEntry(payment_id=payment.id, payable_type=payment.payable_type,
                            payable_id=payment.payable_id, kind=kind, amount=amount,
                            currency=payment.currency, reference=reference))
    session.flush()
    return True


def _set(payment: Payment, status: PaymentStatus) -> None:
    payment.status, payment.updated_at = status, utcnow()


def apply_state(session: Session, payment: Payment, remote: GatewayPayment) -> FollowUp | None:
    """Bring a payment up to the provider's state and tell its payable; return what to do next."""
    handler = _PAYABLES[payment.payable_type]
    if remote.status == "succeeded" and payment.status not in PAID:
        _set(payment, PaymentStatus.succeeded)
        payment.amount_captured = remote.amount_received
        record(session, payment, kind="charge", amount=remote.amount_received, reference=f"{remote.id}:charge")
        if remote.fee:
            record(session, payment, kind="fee", amount=remote.fee, reference=f"{remote.id}:fee")
        if not handler.on_succeeded(session, payment.payable_id):
            return FollowUp("refund", payment.id)
    elif remote.status == "requires_capture" and payment.status == PaymentStatus.pending:
        _set(payment, PaymentStatus.authorised)
        on_authorised = getattr(handler, "on_authorised", None)
        if on_authorised is not None and not on_authorised(session, payment.payable_id):
            return FollowUp("cancel", payment.id)
    elif remote.status == "canceled" and payment.status not in FINAL:
        _set(payment, PaymentStatus.canceled)
        handler.on_failed(session, payment.payable_id)
    for refund_id, amount in remote.refunds:
        apply_refund(session, payment, refund_id=refund_id, amount=amount)
    return None


def apply_failure(session: Session, payment: Payment) -> None:
    """Record a failed attempt; only a payment still waiting for money can fail."""
    if payment.status == PaymentStatus.pending:
        _set(payment, PaymentStatus.failed)
        _PAYABLES[payment.payable_type].on_failed(session, payment.payable_id)


def apply_refund(session: Session, payment: Payment, *, refund_id: str, amount: int) -> None:
    """Record one refund once and update the payment's refunded total."""
    if not record(session, payment, kind="refund", amount=-amount, reference=refund_id):
        return
    payment.amount_refunded += amount
    full = payment.amount_refunded >= payment.amount_captured
    _set(payment, PaymentStatus.refunded if full else PaymentStatus.partially_refunded)
