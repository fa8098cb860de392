"""The wallet: payment methods a user saves once, a default, and paying with it off-session.

A user is the provider's customer once (Stripe Customer); a method is saved through the
provider (Stripe: a confirmed off-session SetupIntent; the sandbox: a test card). Pay-after
services (rides, charging) and one-tap purchases authorise against the default at request time.
"""
from typing import Unpack

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.exceptions import NotFound
from payments import services
from payments.creation import Charge
from payments.exceptions import PaymentDeclined, PaymentMethodRequired
from payments.gateway import OffSession, PaymentGateway, SavedMethod
from payments.models import Payment, PaymentCustomer, PaymentMethod, PaymentMethodPublic


def _customer(session: Session, gateway: PaymentGateway, user_id: int, *, lock: bool = False) -> PaymentCustomer | None:
    query = select(PaymentCustomer).where(PaymentCustomer.user_id == user_id, PaymentCustomer.gateway == gateway.name)
    return session.exec((query.with_for_update() if lock else query)
                        .execution_options(populate_existing=True)).first()


def _locked_customer(session: Session, gateway: PaymentGateway, user_id: int) -> PaymentCustomer:
    """Return the customer of a user who has saved a method, row-locked."""
    customer = _customer(session, gateway, user_id, lock=True)
    assert customer is not None  # saving a method made the customer first
    return customer


def save_method(session: Session, gateway: PaymentGateway, *, user_id: int, method: str,
                idempotency_key: str, make_default: bool = False) -> PaymentMethodPublic:
    """Save a payment method with the provider (402 payment_declined if refused); the first becomes default.

    A user becomes the provider's customer with their first method: both are stored in one transaction.
    """
    known = _customer(session, gateway, user_id)
    session.commit()  # hold no connection while the gateway answers
    # The same key names the same customer, however many first saves race.
    customer_id = known.customer_id if known else gateway.create_customer(
        user_id=user_id, idempotency_key=f"user-{user_id}-customer")
    saved = gateway.save_method(customer_id=customer_id, method=method, idempotency_key=idempotency_key)
    try:
        return _store_method(session, gateway, user_id, saved, make_default=make_default,
                             new_customer=None if known else customer_id)
    except IntegrityError:
        # A concurrent first save stored the customer first: the method joins it.
        return _store_method(session, gateway, user_id, saved, make_default=make_default, new_customer=None)


def _store_method(session: Session, gateway: PaymentGateway, user_id: int, saved: SavedMethod, *,
                  make_default: bool, new_customer: str | None) -> PaymentMethodPublic:
    """Store a method the provider saved, once however often it is replayed, and choose the default."""
    with write_transaction(session):
        # Saving the same provider method again (a replayed SetupIntent) keeps the one row.
        row = session.exec(select(PaymentMethod).where(PaymentMethod.gateway_method_id == saved.id)).first()
        if row is None:
            row = PaymentMethod(user_id=user_id, gateway=gateway.name, gateway_method_id=saved.id,
                                brand=saved.brand, last4=saved.last4)
            session.add(row)
            session.flush()
        if new_customer is not None:  # its unique (user, gateway) refuses a second one
            customer = PaymentCustomer(user_id=user_id, gateway=gateway.name, customer_id=new_customer,
                                       default_method_id=row.id)
            session.add(customer)
        else:
            customer = _locked_customer(session, gateway, user_id)
            if make_default or customer.default_method_id is None:
                customer.default_method_id = row.id
    return _public(row, default=customer.default_method_id)


def _public(method: PaymentMethod, *, default: int | None) -> PaymentMethodPublic:
    """Return a saved method as its owner sees it."""
    return PaymentMethodPublic(id=method.id, brand=method.brand, last4=method.last4, default=method.id == default,
                               created_at=method.created_at)


def list_methods(session: Session, gateway: PaymentGateway, *, user_id: int) -> list[PaymentMethodPublic]:
    """Return the user's saved methods, newest first, marking the default."""
    customer = _customer(session, gateway, user_id)
    default = customer.default_method_id if customer else None
    rows = session.exec(select(PaymentMethod).where(PaymentMethod.user_id == user_id,
                                                    PaymentMethod.gateway == gateway.name)
                        .order_by(PaymentMethod.id.desc())).all()
    return [_public(r, default=default) for r in rows]


def _own_method(session: Session, gateway: PaymentGateway, *, user_id: int, method_id: int) -> PaymentMethod:
    method = session.get(PaymentMethod, method_id, populate_existing=True)
    if method is None or method.user_id != user_id or method.gateway != gateway.name:
        raise NotFound("payment_method_not_found", "No such payment method.")
    return method


def set_default(session: Session, gateway: PaymentGateway, *, user_id: int, method_id: int) -> None:
    """Make one of the user's methods the default."""
    with write_transaction(session):
        method = _own_method(session, gateway, user_id=user_id, method_id=method_id)
        _locked_customer(session, gateway, user_id).default_method_id = method.id


def remove_method(session: Session, gateway: PaymentGateway, *, user_id: int, method_id: int) -> None:
    """Forget a method here and at the provider; the newest other one becomes the default."""
    with write_transaction(session):
        method = _own_method(session, gateway, user_id=user_id, method_id=method_id)
        customer = _locked_customer(session, gateway, user_id)
        session.delete(method)
        session.flush()
        if customer.default_method_id == method.id:
            customer.default_method_id = session.exec(select(PaymentMethod.id).where(
                PaymentMethod.user_id == user_id, PaymentMethod.gateway == gateway.name)
                .order_by(PaymentMethod.id.desc())).first()
    gateway.remove_method(method_id=method.gateway_method_id)


def default_or_none(session: Session, gateway: PaymentGateway, *, user_id: int) -> OffSession | None:
    """Return what to charge off-session for the user, or None without a default method (one query)."""
    row = session.exec(select(PaymentCustomer.customer_id, PaymentMethod.gateway_method_id)
                       .join(PaymentMethod, PaymentMethod.id == PaymentCustomer.default_method_id)
                       .where(PaymentCustomer.user_id == user_id, PaymentCustomer.gateway == gateway.name)).first()
    return OffSession(customer_id=row[0], method_id=row[1]) if row else None


def default_method(session: Session, gateway: PaymentGateway, *, user_id: int) -> OffSession:
    """Return what to charge off-session for the user; 402 payment_method_required without a default."""
    method = default_or_none(session, gateway, user_id=user_id)
    if method is None:
        raise PaymentMethodRequired()
    return method


def pay_with_default(session: Session, gateway: PaymentGateway, *, method: OffSession | None = None,
                     **charge: Unpack[Charge]) -> Payment:
    """Authorise (or, for automatic capture, charge) a payable against the user's default method.

    `method` is the default as the caller already read it. 402 payment_method_required without
    one, 402 payment_declined when the provider declines it.
    """
    return services.start_payment(session, gateway, **charge, off_session=method or default_method(
        session, gateway, user_id=charge["user_id"]))


def send(session: Session, gateway: PaymentGateway, payment: Payment) -> Payment:
    """Ask the provider for a payment its payable's transaction recorded: charged at once when it names a
    saved method (one tap), else confirmed by the payer.

    A declined wallet charge leaves the payment failed and the payable held, so the payer may
    retry with another card until the hold lapses.
    """
    try:
        return services.send_payment(session, gateway, payment)
    except PaymentDeclined:
        declined = services.payment_for(session, payment.payable_type, payment.payable_id)
        assert declined is not None  # recorded before the provider declined it
        return declined
