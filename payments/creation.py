"""Creating a payment: the intent is recorded before the provider is asked, and resumed after a crash.

The payment row is written first (status `creating`) with the exact create call, then the
provider is called with the row's idempotency key and its answer fills the row in. A crash or
timeout between the two leaves a `creating` row that the next caller, the instruction runner
or reconcile sends again, unchanged: the provider answers a repeated key with the payment it
already made, so nothing is charged twice and nothing the provider holds goes unrecorded.
"""
from dataclasses import asdict
from typing import NamedTuple, Required, TypedDict, cast

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db import write_transaction
from payments import effects
from payments.exceptions import ProviderRefused
from payments.gateway import CaptureMethod, GatewayPayment, OffSession, PaymentGateway
from payments.models import Payment, PaymentInstruction, PaymentStatus


class Asked(NamedTuple):
    """A recorded payment after its create call, and what the provider's answer left owing."""
    payment: Payment
    declined: bool
    owed: PaymentInstruction | None


class Charge(TypedDict, total=False):
    """What a payable asks to be paid (`intent`'s arguments but the saved method): the payable, its
    payer, the amount and how it is captured."""
    payable_type: Required[str]
    payable_id: Required[int]
    user_id: Required[int]
    amount: Required[int]
    currency: str
    capture_method: CaptureMethod
    description: str


def intent(gateway: PaymentGateway, *, payable_type: str, payable_id: int, user_id: int, amount: int,
           currency: str = "CNY", capture_method: CaptureMethod = "automatic", description: str = "",
           off_session: OffSession | None = None) -> Payment:
    """Return a payable's payment, not yet stored, with the create call its provider is to be sent."""
    return Payment(payable_type=payable_type, payable_id=payable_id, user_id=user_id, gateway=gateway.name,
                   idempotency_key=f"{payable_type}-{payable_id}-payment", amount=amount, currency=currency,
                   capture_method=capture_method, status=PaymentStatus.creating,
                   provider_request={"metadata": {"payable_type": payable_type, "payable_id": str(payable_id),
                                                  "description": description},
                                     "off_session": off_session and asdict(off_session)})


def record_payment(session: Session, payment: Payment) -> Payment:
    """Store a new payment in a transaction of its own unless its key is already stored; return the stored one."""
    try:
        with write_transaction(session):
            session.add(payment)
    except IntegrityError:
        # A concurrent caller recorded the same payable's payment first: theirs is ours.
        return session.exec(select(Payment).where(Payment.idempotency_key == payment.idempotency_key)).one()
    return payment


def ask_provider(session: Session, gateway: PaymentGateway, payment_id: int, *,
                 recorded: Payment | None = None) -> Asked:
    """Send a recorded payment's create call (again) and store the provider's answer.

    `recorded` is the payment as its caller has just written or read it (else it is read here).
    ProviderRefused (nothing was created) closes the payment as canceled, lets the payable go
    and is raised on; any other failure leaves the payment `creating` for a later retry.
    """
    payment = recorded or session.get_one(Payment, payment_id, populate_existing=True)
    request = payment.provider_request
    assert request is not None  # recorded with every payment still to create
    session.commit()  # hold no connection while the provider answers
    try:
        remote = gateway.create_payment(
            amount=payment.amount, currency=payment.currency,
            capture_method=cast(CaptureMethod, payment.capture_method),  # stored from a CaptureMethod
            metadata=request["metadata"], idempotency_key=payment.idempotency_key,
            off_session=request["off_session"] and OffSession(**request["off_session"]))
    except ProviderRefused:
        with write_transaction(session):
            effects.apply_refusal(session, effects.locked_payment(session, id=payment_id))
        raise
    return _store_answer(session, payment_id, remote)


def _store_answer(session: Session, payment_id: int, remote: GatewayPayment) -> Asked:
    """Fill a `creating` payment in from the provider's answer, once, however many callers race."""
    with write_transaction(session):
        # Filling the row in locks it and reads it back: one statement where a locked read and an
        # update take two.
        payment = session.exec(update(Payment).where(Payment.id == payment_id,
                                                     Payment.status == PaymentStatus.creating)
                               .values(gateway_payment_id=remote.id, client_secret=remote.client_secret,
                                       status=PaymentStatus.pending)
                               .returning(Payment).execution_options(populate_existing=True)).scalars().first()
        if payment is None:  # another caller stored it first
            return Asked(effects.locked_payment(session, id=payment_id), declined=False, owed=None)
        if remote.decline_code:
            effects.apply_failure(session, payment)
        owed = effects.apply_state(session, payment, remote)
    return Asked(payment, declined=bool(remote.decline_code), owed=owed)
