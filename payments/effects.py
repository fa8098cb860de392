"""The one place where a provider's news changes a payment, its ledger and its payable.

Webhooks, direct gateway answers and reconciliation all come through `apply_state` and
`apply_refund`. Each transition happens once: news that is old or repeated changes nothing,
and a payment whose money has moved is never downgraded.
"""
from typing import Protocol

from sqlmodel import Session, select

from backend.dbtypes import utcnow
from payments.gateway import GatewayPayment
from payments.instructions import instruct, refundable
from payments.models import FINAL, PAID, LedgerEntry, Payment, PaymentInstruction, PaymentStatus


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
# Still waiting for money: a declined attempt may be followed by one that pays.
WAITING = (PaymentStatus.pending, PaymentStatus.failed)


def register_payable(payable_type: str, handler: Payable) -> None:
    """Tell payments how to apply outcomes to one kind of payable."""
    _PAYABLES[payable_type] = handler


def find_payment(session: Session, **where) -> Payment | None:
    """Return a payment by a unique column, freshly read."""
    return session.exec(select(Payment).filter_by(**where)
                        .execution_options(populate_existing=True)).first()


def locked_payment(session: Session, **where) -> Payment:
    """Return a payment known to exist, row-locked and freshly read."""
    return session.exec(select(Payment).filter_by(**where).with_for_update()).one()


def record(session: Session, payment: Payment, *movements: tuple[str, int, str]) -> bool:
    """Add a ledger entry per (kind, amount, reference) not already there; tell whether any was new."""
    # The payment row is locked, so no one else records for it meanwhile. One read and one
    # insert for all of a change's movements (a charge and its fee).
    references = [reference for _, _, reference in movements]
    there = set(session.exec(select(LedgerEntry.reference).where(LedgerEntry.reference.in_(references))).all())
    new = [LedgerEntry(payment_id=payment.id, payable_type=payment.payable_type, payable_id=payment.payable_id,
                       kind=kind, amount=amount, currency=payment.currency, reference=reference)
           for kind, amount, reference in movements if reference not in there]
    session.add_all(new)
    session.flush()
    return bool(new)


def _set(payment: Payment, status: PaymentStatus) -> None:
    payment.status, payment.updated_at = status, utcnow()


def apply_state(session: Session, payment: Payment, remote: GatewayPayment) -> PaymentInstruction | None:
    """Bring a payment up to the provider's state and tell its payable; return what it now owes.

    Money that arrives for a payable that can no longer be had is sent back by an instruction
    recorded here, in the same transaction: a crash after commit cannot lose it.
    """
    handler = _PAYABLES[payment.payable_type]
    if _arrived(payment, remote):
        _set(payment, PaymentStatus.succeeded)
        payment.amount_captured = remote.amount_received
        fee = [("fee", remote.fee, f"{remote.id}:fee")] if remote.fee else []
        record(session, payment, ("charge", remote.amount_received, f"{remote.id}:charge"), *fee)
        if not handler.on_succeeded(session, payment.payable_id):
            _apply_refunds(session, payment, remote)
            return instruct(session, payment, "refund", amount=refundable(session, payment),
                            reason="payable_unavailable")
    elif _authorised(payment, remote):
        _set(payment, PaymentStatus.authorised)
        on_authorised = getattr(handler, "on_authorised", None)
        if on_authorised is not None and not on_authorised(session, payment.payable_id):
            return instruct(session, payment, "cancel", reason="payable_unavailable")
    elif _canceled(payment, remote):
        _set(payment, PaymentStatus.canceled)
        handler.on_failed(session, payment.payable_id)
    _apply_refunds(session, payment, remote)
    return None


def _arrived(payment: Payment, remote: GatewayPayment) -> bool:
    return remote.status == "succeeded" and payment.status not in PAID


def _authorised(payment: Payment, remote: GatewayPayment) -> bool:
    return remote.status == "requires_capture" and payment.status in WAITING


def _canceled(payment: Payment, remote: GatewayPayment) -> bool:
    return remote.status == "canceled" and payment.status not in FINAL


def _fails(payment: Payment) -> bool:
    return payment.status == PaymentStatus.pending


def moves(payment: Payment, remote: GatewayPayment) -> bool:
    """Tell whether applying the provider's state (apply_failure, then apply_state) would change the payment."""
    return (_arrived(payment, remote) or _authorised(payment, remote) or _canceled(payment, remote)
            or (bool(remote.decline_code) and _fails(payment))
            or remote.amount_refunded > payment.amount_refunded)  # a refund not recorded yet


def _apply_refunds(session: Session, payment: Payment, remote: GatewayPayment) -> None:
    for refund_id, amount in remote.refunds:
        apply_refund(session, payment, refund_id=refund_id, amount=amount)


def apply_failure(session: Session, payment: Payment) -> None:
    """Record a declined attempt; the payable keeps its hold, so the payer may retry until it lapses."""
    if _fails(payment):
        _set(payment, PaymentStatus.failed)


def apply_refusal(session: Session, payment: Payment) -> None:
    """Close a payment the provider refused to create: nothing was taken, so its payable lets go."""
    if payment.status == PaymentStatus.creating:
        _set(payment, PaymentStatus.canceled)
        _PAYABLES[payment.payable_type].on_failed(session, payment.payable_id)


def apply_refund(session: Session, payment: Payment, *, refund_id: str, amount: int) -> None:
    """Record one refund once and update the payment's refunded total."""
    if not record(session, payment, ("refund", -amount, refund_id)):
        return
    payment.amount_refunded += amount
    full = payment.amount_refunded >= payment.amount_captured
    _set(payment, PaymentStatus.refunded if full else PaymentStatus.partially_refunded)
