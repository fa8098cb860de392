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


def request_payment(session: Session, gateway, *, booking: Booking, resource: Resource,
                    wallet_method: OffSession | None = None) -> Payment | None:
    """Start paying for a held booking of the resource; return its payment (none for a free one).

    One tap charges `wallet_method` (the wallet's default, read before holding) at once; charging
    and hydrogen, paid after the service, authorise against the default whenever the user has one.
    """
    if booking.price_fen == 0:
        return None
    manual = booking.kind in SETTLED_ON_COMPLETION
    amount = booking.price_fen
    if manual:
        amount = pricing.authorisation_ceiling(booking.kind, resource.attributes,
                                               booking.start_at, booking.end_at)
    method = wallet_method or (wallet.default_or_none(session, gateway, user_id=booking.user_id) if manual else None)
    return wallet.start(session, gateway, method=method, payable_type=PAYABLE_TYPE, payable_id=booking.id,
                        user_id=booking.user_id, amount=amount, currency=booking.currency,
                        capture_method="manual" if manual else "automatic", description=f"booking {booking.id}")


def with_payment(query):
    """Add each booking's payment (None before one is started) to a query of bookings."""
    return query.add_columns(Payment).outerjoin(Payment, and_(Payment.payable_type == PAYABLE_TYPE,
                                                              Payment.payable_id == Booking.id))


def payment_view(payment: Payment | None) -> PaymentPublic | None:
    """Return a booking's payment as the app sees it, if there is one."""
    return None if payment is None else payments.payment_public(payment)


def settle(session: Session, *, booking: Booking, keep_fen: int) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of what the booking paid or authorised."""
    return payments.settle_payable(session, payable_type=PAYABLE_TYPE, payable_id=booking.id, keep_fen=keep_fen,
                                   reason=f"booking {booking.id} {booking.status.value}")
