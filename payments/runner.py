"""Carrying out payment instructions after commit, retried with backoff until the provider answers.

An instruction is claimed by moving its next attempt a minute ahead before the provider is
called, so two runners (or a runner and a webhook delivered during its own call) never call
at once, and one that dies mid-call is picked up again when the claim lapses. The provider
sees the instruction's idempotency key on every attempt: a call that timed out after the
provider acted is answered, not repeated.
"""
import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import update
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.dbtypes import utcnow
from payments import creation, effects
from payments.exceptions import ProviderRefused
from payments.gateway import PaymentGateway
from payments.models import InstructionState, Payment, PaymentInstruction

log = logging.getLogger(__name__)
CLAIM = timedelta(seconds=60)
BACKOFF_S = (5, 30, 120, 600, 1800, 3600)
ROUNDS = 5  # an instruction may lead to another (a refused cancel becomes a refund): follow a few


def backoff(attempts: int) -> timedelta:
    """Return how long to wait before the next attempt after `attempts` failed ones."""
    return timedelta(seconds=BACKOFF_S[min(attempts, len(BACKOFF_S)) - 1])


def _claim(session: Session, instruction_id: int, now: datetime) -> tuple[PaymentInstruction, Payment] | None:
    """Claim a due instruction; return it and its payment, read in the claim's transaction."""
    with write_transaction(session):
        claimed = session.exec(update(PaymentInstruction).where(
            PaymentInstruction.id == instruction_id, PaymentInstruction.state == InstructionState.pending,
            PaymentInstruction.next_attempt_at <= now)
            .values(next_attempt_at=now + CLAIM, attempts=PaymentInstruction.attempts + 1))
        if claimed.rowcount != 1:
            return None
        # What the runner reads of them never changes once written (a missing provider id is
        # read afresh by `_created`), so rows the session already holds are not read again.
        instruction = session.get_one(PaymentInstruction, instruction_id)
        return instruction, session.get_one(Payment, instruction.payment_id)


def _call(gateway: PaymentGateway, instruction: PaymentInstruction, payment: Payment):
    """Ask the provider to do what the instruction says; return its answer."""
    key = instruction.idempotency_key
    assert payment.gateway_payment_id is not None  # _created asked the provider for it first
    if instruction.kind == "capture":
        assert instruction.amount is not None  # only a cancel leaves it out
        return gateway.capture(payment_id=payment.gateway_payment_id, amount=instruction.amount,
                               idempotency_key=key)
    if instruction.kind == "cancel":
        return gateway.cancel(payment_id=payment.gateway_payment_id, idempotency_key=key)
    return gateway.refund(payment_id=payment.gateway_payment_id, amount=instruction.amount,
                          idempotency_key=key)


def _created(session: Session, gateway: PaymentGateway, payment: Payment) -> Payment:
    """Return the payment with its provider id, sending its recorded create call first if it never got one."""
    if payment.gateway_payment_id is not None:
        return payment
    return creation.ask_provider(session, gateway, payment.id).payment


def _finish(session: Session, instruction: PaymentInstruction, answer, *, state: InstructionState,
            error: str | None = None) -> PaymentInstruction | None:
    """Apply the provider's answer (if any) to the payment and close the instruction, in one transaction.

    Return what the answer owes in turn (money that arrived for a payable gone is refunded).
    """
    owed = None
    with write_transaction(session):
        payment = effects.locked_payment(session, id=instruction.payment_id)
        if instruction.kind == "refund" and state == InstructionState.done:
            effects.apply_refund(session, payment, refund_id=answer.id, amount=answer.amount)
        elif answer is not None:
            owed = effects.apply_state(session, payment, answer)
        instruction.state, instruction.last_error, instruction.done_at = state, error, utcnow()
        session.add(instruction)
    log.info("payment %s: %s %s (%s) %s", payment.id, instruction.kind, instruction.amount or "",
             instruction.reason, state.value)
    return owed


def _retry_later(session: Session, instruction_id: int, exc: Exception, now: datetime) -> None:
    with write_transaction(session):
        instruction = session.get_one(PaymentInstruction, instruction_id, populate_existing=True)
        instruction.last_error = f"{type(exc).__name__}: {exc}"[:500]
        instruction.next_attempt_at = now + backoff(instruction.attempts)
    log.warning("payment instruction %s failed (attempt %s), retrying later: %s",
                instruction_id, instruction.attempts, instruction.last_error)


class Ran(NamedTuple):
    """What carrying out one instruction came to."""
    answered: bool  # the provider answered (done, or refused for good)
    owed: PaymentInstruction | None  # a further instruction its answer led to


def execute(session: Session, gateway: PaymentGateway, instruction_id: int, *,
            now: datetime | None = None) -> Ran:
    """Carry out one due instruction; tell whether the provider answered and what that owes."""
    now = now or utcnow()
    claimed = _claim(session, instruction_id, now)
    if claimed is None:
        return Ran(False, None)  # not due, done, or another runner has it
    instruction, payment = claimed  # the claim committed: no connection is held while the provider answers
    try:
        payment = _created(session, gateway, payment)
        answer = _call(gateway, instruction, payment)
    except ProviderRefused as exc:
        # An answer, not an outage: record the provider's state (which may owe a refund instead);
        # a payment the provider refused to create holds nothing to act on.
        remote = payment.gateway_payment_id and gateway.retrieve(payment_id=payment.gateway_payment_id)
        return Ran(True, _finish(session, instruction, remote or None, state=InstructionState.failed,
                                 error=f"{exc.code}: {exc.detail}"[:500]))
    except Exception as exc:  # the provider did not answer (error, timeout): try again later
        _retry_later(session, instruction_id, exc, now)
        return Ran(False, None)
    return Ran(True, _finish(session, instruction, answer, state=InstructionState.done))


def due(session: Session, *, now: datetime, payment_ids=None, limit: int = 200) -> list[int]:
    """Return the ids of pending instructions whose next attempt is due, oldest first."""
    query = select(PaymentInstruction.id).where(PaymentInstruction.state == InstructionState.pending,
                                                PaymentInstruction.next_attempt_at <= now)
    if payment_ids is not None:
        query = query.where(PaymentInstruction.payment_id.in_(payment_ids))
    return list(session.exec(query.order_by(PaymentInstruction.id).limit(limit)).all())


def _run(session: Session, gateway: PaymentGateway, instruction_id: int, now: datetime | None) -> Ran:
    try:
        return execute(session, gateway, instruction_id, now=now)
    except Exception:  # one bad instruction must not stop the others
        session.rollback()
        log.exception("payment instruction %s could not be run", instruction_id)
        return Ran(False, None)


def run_due(session: Session, gateway: PaymentGateway, *, payment_ids=None,
            now: datetime | None = None) -> int:
    """Carry out every due instruction (of some payments, or all); return how many were answered."""
    answered, tried = 0, set()
    for _ in range(ROUNDS):
        ids = [i for i in due(session, now=now or utcnow(), payment_ids=payment_ids) if i not in tried]
        if not ids:
            break
        for instruction_id in ids:
            tried.add(instruction_id)
            answered += _run(session, gateway, instruction_id, now).answered
    return answered


def run_after_commit(session: Session, gateway: PaymentGateway, *instructions: PaymentInstruction | None) -> None:
    """Try the instructions a request just committed, and those their answers lead to; the runner retries the rest.

    They are claimed by id, without looking for due ones first: other due instructions of the
    same payments are the scheduled runner's.
    """
    todo = sorted(i.id for i in instructions if i is not None)
    for _ in range(ROUNDS):
        todo = [ran.owed.id for ran in (_run(session, gateway, i, None) for i in todo) if ran.owed is not None]
