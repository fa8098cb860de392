"""Where bookings meet payments: ask for the price, keep the fee, give the rest back."""
from sqlmodel import Session

from booking.bookings import pricing
from booking.bookings.models import Booking
from booking.sites.models import Resource
from payments import services as payments

PAYABLE_TYPE = "booking"
# Energy is priced on completion: authorise a ceiling now, capture the settled price later.
SETTLED_ON_COMPLETION = {"charger", "h2_dispenser"}


def request_payment(session: Session, gateway, *, booking: Booking) -> None:
    """Start paying for a held booking (nothing to pay for a free one)."""
    if booking.price_fen == 0:
        return
    manual = booking.kind in SETTLED_ON_COMPLETION
    amount = booking.price_fen
    if manual:
        resource = session.get(Resource, booking.resource_id)
        amount = pricing.authorisation_ceiling(booking.kind, resource.attributes,
                                               booking.start_at, booking.end_at)
    payments.start_payment(session, gateway, payable_type=PAYABLE_TYPE, payable_id=booking.id,
                           user_id=booking.user_id, amount=amount, currency=booking.currency,
                           capture_method="manual" if manual else "automatic",
                           description=f"booking {booking.id}")


def payment_view(session: Session, booking: Booking) -> dict | None:
    """Return the booking's payment as the app sees it, if there is one."""
    payment = payments.payment_for(session, PAYABLE_TYPE, booking.id)
    return payments.payment_public(payment).model_dump(mode="json") if payment else None


def settle(session: Session, gateway, *, booking: Booking, keep_fen: int) -> None:
    """Keep `keep_fen` of what the booking paid or authorised and release the rest."""
    payment = payments.payment_for(session, PAYABLE_TYPE, booking.id)
    if payment is None:
        return
    if payment.status == "authorised":
        if keep_fen > 0:
            payments.capture_payment(session, gateway, payment=payment,
                                     amount=min(keep_fen, payment.amount))
        else:
            payments.cancel_payment(session, gateway, payment=payment)
    elif payment.status in ("succeeded", "partially_refunded"):
        refundable = payment.amount_captured - payment.amount_refunded - keep_fen
        if refundable > 0:
            payments.refund_payment(session, gateway, payment=payment, amount=refundable,
                                    reason=f"booking {booking.id} {booking.status.value}")
    elif payment.status == "pending":
        payments.cancel_payment(session, gateway, payment=payment)
