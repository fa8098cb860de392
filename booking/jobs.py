"""The booking service's background jobs: lapsed holds and orders expire, no-shows are recorded."""
from backend import jobs
from backend.db import write_transaction
from backend.dbtypes import utcnow
from booking.bookings.services import sweep
from booking.events.orders import expire_orders


def _sweep_bookings(app, session):
    counts = sweep(session, app.extensions["payment_gateway"])
    return counts if any(counts.values()) else None


def _expire_orders(app, session):
    with write_transaction(session):
        return expire_orders(session, now=utcnow()) or None


def init_app(app) -> None:
    """Register the jobs with the app's scheduler."""
    jobs.register(app, jobs.Job("bookings-sweep", 15, _sweep_bookings))
    jobs.register(app, jobs.Job("orders-expire", 15, _expire_orders))
