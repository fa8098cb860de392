"""What a payment's outcome does to a booking; payments calls these inside its own transaction."""
from datetime import datetime

from sqlmodel import Session, select

from backend.dbtypes import utcnow
from booking.bookings.billing import PAYABLE_TYPE
from booking.bookings.models import Booking, BookingStatus
from payments.effects import register_payable

PAID = {BookingStatus.confirmed, BookingStatus.checked_in, BookingStatus.completed}


def _locked(session: Session, booking_id: int) -> Booking | None:
    # Read afresh under the lock (backend.db), not as the request last wrote it.
    return session.exec(select(Booking).where(Booking.id == booking_id).with_for_update()).first()


def _expire(booking: Booking, now: datetime) -> None:
    booking.status, booking.active, booking.updated_at = BookingStatus.expired, False, now


class BookingPayable:
    """Confirms a held booking when paid and releases it when payment fails."""

    def on_succeeded(self, session: Session, payable_id: int) -> bool:
        """Confirm the booking; False when it can no longer be had (the payment is refunded)."""
        now = utcnow()
        booking = _locked(session, payable_id)
        if booking is None:
            return False
        if booking.status in PAID:
            return True
        if booking.status != BookingStatus.held or booking.hold_expires_at is None or booking.hold_expires_at <= now:
            if booking.status == BookingStatus.held:
                _expire(booking, now)
            return False
        booking.status, booking.hold_expires_at, booking.updated_at = BookingStatus.confirmed, None, now
        return True

    on_authorised = on_succeeded

    def on_failed(self, session: Session, payable_id: int) -> None:
        """Release the hold of an unpaid booking; a paid one is never downgraded."""
        # No booking returns to `held`: one the session already holds in another status (the
        # cancel whose payment this is) is left as it is without reading and locking it again.
        known = session.identity_map.get(Session.identity_key(Booking, payable_id))
        if known is not None and known.status != BookingStatus.held:
            return
        booking = _locked(session, payable_id)
        if booking is not None and booking.status == BookingStatus.held:
            _expire(booking, utcnow())


def register() -> None:
    """Tell payments how to apply payment outcomes to bookings."""
    register_payable(PAYABLE_TYPE, BookingPayable())
