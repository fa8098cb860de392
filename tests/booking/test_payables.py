"""A payment's news decides on the booking as it is under the lock, not as the session last saw it."""
from datetime import timedelta

from backend.db import write_transaction
from booking.bookings.models import Booking, BookingStatus
from booking.bookings.payables import BookingPayable
from tests.booking.conftest import book


def test_payment_news_after_a_concurrent_cancel_does_not_confirm_the_booking(client, world, session):
    booking = book(client, world, "swap_lane", after=timedelta(hours=2)).json
    session.commit()  # a fresh snapshot: the request committed after the session's last read
    seen = session.get_one(Booking, booking["id"])
    assert seen.status == BookingStatus.held
    client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)  # meanwhile, elsewhere
    with write_transaction(session):
        confirmed = BookingPayable().on_succeeded(session, booking["id"])
    assert confirmed is False and seen.status == BookingStatus.cancelled  # the money goes back
