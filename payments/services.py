"""Paying for payables: start a payment, show it and its ledger.

Captures, cancels and refunds are recorded as instructions (`payments.instructions`) in the
transaction that causes them and carried out by `payments.runner` after commit.
"""
from typing import Unpack

from sqlmodel import Session, select

from backend.db import write_transaction
from backend.money import Money
from payments import creation, effects, instructions
from payments.creation import Charge
from payments.exceptions import PaymentDeclined
from payments.gateway import GatewayPayment, OffSession, PaymentGateway
from payments.models import LedgerEntry, LedgerPublic, Payment, PaymentInstruction, PaymentPublic, PaymentStatus
from payments.runner import run_after_commit


def payment_for(session: Session, payable_type: str, payable_id: int) -> Payment | None:
    """Return the payment of a payable, if one was started."""
    return session.exec(select(Payment).where(Payment.payable_type == payable_type,
                                              Payment.payable_id == payable_id)
                        .execution_options(populate_existing=True)).first()


def start_payment(session: Session, gateway: PaymentGateway, *, off_session: OffSession | None = None,
                  **charge: Unpack[Charge]) -> Payment:
    """Create the payable's payment once, however often it is asked for.

    The payment is recorded in a transaction of its own before the provider is asked; a payment
    left `creating` by a failed call is sent again by the next call. With `off_session` the provider
    charges a saved method at once (402 payment_declined when it is declined); otherwise the payer
    confirms it later.
    """
    # Written first, read only when the key was taken: a payable is paid for once, so asking
    # again is the rare case.
    payment = creation.record_payment(session, creation.intent(gateway, off_session=off_session, **charge))
    if payment.status != PaymentStatus.creating:
        return payment
    return send_payment(session, gateway, payment)


def intend_payment(session: Session, gateway: PaymentGateway, *, off_session: OffSession | None = None,
                   **charge: Unpack[Charge]) -> Payment:
    """Add a new payable's payment (`creating`, with its create call) to the transaction that creates the payable.

    Committed with the payable, or rolled back with it; `send_payment` asks the provider after
    commit, and a crash before it answers leaves the payment `creating` for reconcile to send.
    """
    payment = creation.intent(gateway, off_session=off_session, **charge)
    session.add(payment)
    return payment


def send_payment(session: Session, gateway: PaymentGateway, payment: Payment) -> Payment:
    """Ask the provider for a committed `creating` payment and apply its answer (402 payment_declined if declined)."""
    asked = creation.ask_provider(session, gateway, payment.id, recorded=payment)
    run_after_commit(session, gateway, asked.owed)
    if asked.declined:
        raise PaymentDeclined()
    return asked.payment


def apply_answer(session: Session, gateway: PaymentGateway, payment_id: int, remote: GatewayPayment) -> Payment:
    """Bring a payment (and its payable) up to what the provider answered, then carry out what that owes."""
    with write_transaction(session):
        payment = effects.locked_payment(session, id=payment_id)
        if remote.decline_code:
            effects.apply_failure(session, payment)
        owed = effects.apply_state(session, payment, remote)
    run_after_commit(session, gateway, owed)
    return payment


def settle_payable(session: Session, *, payable_type: str, payable_id: int, keep_fen: int,
                   reason: str) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of a payable's payment and releasing the rest."""
    return settle(session, payment_for(session, payable_type, payable_id), keep_fen=keep_fen, reason=reason)


def settle(session: Session, payment: Payment | None, *, keep_fen: int, reason: str) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of a payment read with its payable (none: nothing).

    The payment is read, not locked: payments lock the payment before the payable, so locking
    it here after the payable could deadlock. Whatever moves meanwhile is settled by the runner
    (a cancel the provider refuses because the money arrived becomes a refund).
    """
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
