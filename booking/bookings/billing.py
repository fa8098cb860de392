"""Where bookings meet payments: ask for the price, keep the fee, give the rest back."""
from sqlalchemy import and_
from sqlmodel import Session

from booking.bookings import pricing
from booking.bookings.models import Booking
from booking.sites.models import Resource
from payments import services as payments
from payments import wallet
from payments.gateway import OffSession
from payments.models import Payment, PaymentInstruction, PaymentPublic

PAYABLE_TYPE = "booking"
# Energy is priced on completion: authorise a ceiling now, capture the settled price later.
SETTLED_ON_COMPLETION = {"charger", "h2_dispenser"}
PAYMENT_OF_BOOKING = and_(Payment.payable_type == PAYABLE_TYPE, Payment.payable_id == Booking.id)


def intend_payment(session: Session, gateway, *, booking: Booking, resource: Resource, one_tap: bool) -> Payment:
    """Record, in the hold's transaction, the payment a held booking of the resource asks for.

    One tap charges the wallet's default at once (402 payment_method_required without one, which
    undoes the hold); charging and hydrogen, paid after the service, authorise against the default
    whenever the user has one. `wallet.send` asks the provider once the hold is committed.
    """
    manual = booking.kind in SETTLED_ON_COMPLETION
    amount = booking.price_fen
    if manual:
        amount = pricing.authorisation_ceiling(booking.kind, resource.attributes,
                                               booking.start_at, booking.end_at)
    return payments.intend_payment(session, gateway, payable_type=PAYABLE_TYPE, payable_id=booking.id,
                                   user_id=booking.user_id, amount=amount, currency=booking.currency,
                                   capture_method="manual" if manual else "automatic",
                                   description=f"booking {booking.id}",
                                   off_session=_method(session, gateway, booking, one_tap))


def _method(session: Session, gateway, booking: Booking, one_tap: bool) -> OffSession | None:
    """Return the saved method a booking's payment charges at once, if any."""
    if one_tap:
        return wallet.default_method(session, gateway, user_id=booking.user_id)
    if booking.kind in SETTLED_ON_COMPLETION:
        return wallet.default_or_none(session, gateway, user_id=booking.user_id)
    return None


def with_payment(query):
    """Add each booking's payment (None before one is started) to a query of bookings."""
    return query.add_columns(Payment).outerjoin(Payment, PAYMENT_OF_BOOKING)


def payment_view(payment: Payment | None) -> PaymentPublic | None:
    """Return a booking's payment as the app sees it, if there is one."""
    return None if payment is None else payments.payment_public(payment)


def settle(session: Session, *, booking: Booking, keep_fen: int) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of what the booking paid or authorised."""
    return payments.settle_payable(session, payable_type=PAYABLE_TYPE, payable_id=booking.id, keep_fen=keep_fen,
                                   reason=_settled(booking))


def settle_payment(session: Session, payment: Payment | None, *, booking: Booking,
                   keep_fen: int) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of the booking's payment as read with the booking."""
    return payments.settle(session, payment, keep_fen=keep_fen, reason=_settled(booking))


def _settled(booking: Booking) -> str:
    """Return why a booking's payment is settled, as its instructions record it."""
    return f"booking {booking.id} {booking.status.value}"
