"""Where bookings meet payments: ask for the price, keep the fee, give the rest back."""
from sqlmodel import Session, select

from booking.bookings import pricing
from booking.bookings.models import Booking
from booking.sites.models import Resource
from payments import services as payments
from payments import wallet
from payments.models import Payment, PaymentInstruction, PaymentPublic

PAYABLE_TYPE = "booking"
# Energy is priced on completion: authorise a ceiling now, capture the settled price later.
SETTLED_ON_COMPLETION = {"charger", "h2_dispenser"}


def request_payment(session: Session, gateway, *, booking: Booking, pay_with_wallet: bool = False) -> None:
    """Start paying for a held booking (nothing to pay for a free one).

    One tap (`pay_with_wallet`) charges the wallet's default at once; charging and hydrogen, paid
    after the service, authorise against it whenever the user has one.
    """
    if booking.price_fen == 0:
        return
    manual = booking.kind in SETTLED_ON_COMPLETION
    amount = booking.price_fen
    if manual:
        resource = session.get_one(Resource, booking.resource_id)
        amount = pricing.authorisation_ceiling(booking.kind, resource.attributes,
                                               booking.start_at, booking.end_at)
    method = (wallet.default_method(session, gateway, user_id=booking.user_id) if pay_with_wallet
              else wallet.default_or_none(session, gateway, user_id=booking.user_id) if manual else None)
    wallet.start(session, gateway, method=method, payable_type=PAYABLE_TYPE, payable_id=booking.id,
                 user_id=booking.user_id, amount=amount, currency=booking.currency,
                 capture_method="manual" if manual else "automatic", description=f"booking {booking.id}")


def payment_view(session: Session, booking: Booking) -> PaymentPublic | None:
    """Return the booking's payment as the app sees it, if there is one."""
    return payment_views(session, [booking]).get(booking.id)


def payment_views(session: Session, bookings: list[Booking]) -> dict[int, PaymentPublic]:
    """Return the payments of bookings as the app sees them, by booking id (those that have one), in one query."""
    rows = session.exec(select(Payment).where(Payment.payable_type == PAYABLE_TYPE,
                                              Payment.payable_id.in_([b.id for b in bookings]))
                        .execution_options(populate_existing=True)).all()
    return {payment.payable_id: payments.payment_public(payment) for payment in rows}


def settle(session: Session, *, booking: Booking, keep_fen: int) -> PaymentInstruction | None:
    """Record, in the caller's transaction, keeping `keep_fen` of what the booking paid or authorised."""
    return payments.settle_payable(session, payable_type=PAYABLE_TYPE, payable_id=booking.id, keep_fen=keep_fen,
                                   reason=f"booking {booking.id} {booking.status.value}")
