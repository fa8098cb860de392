"""The composition root: the one module of backend that builds the app from the feature packages.

`create_app` calls `compose`: it builds the services into `app.extensions` and registers jobs and
commands, and only then lets the HTTP layer register its blueprints, unless the process serves no
requests (`flask --app worker dispatch run`), which so never imports it. Everywhere else
packages import only downward: backend, payments, robotaxi_dispatch, booking, then mobile_api
(tests/test_layers.py).
"""
import booking.jobs
import payments
from backend.notifications.cli import register_reminder
from booking.bookings import cli as bookings_cli
from booking.bookings import notices as booking_notices
from booking.bookings import payables, slot_cache
from booking.bookings.fleet import FleetChargingDesk
from booking.chargers import cli as chargers_cli
from booking.events import listing as event_listing
from booking.events import notices as event_notices
from booking.events import orders
from robotaxi_dispatch import cli as dispatch_cli
from robotaxi_dispatch import embedded
from robotaxi_dispatch.rides import scheduled as booked_rides
from robotaxi_dispatch.rides import services as ride_services


def compose(app, *, http: bool) -> None:
    """Build gateways, registries and desks, register reminders, jobs and commands, then (`http`) the HTTP layer."""
    payments.init_app(app)
    register_reminder(event_notices.offers_expiring)
    register_reminder(booking_notices.starting_soon)
    payables.register()
    orders.register()
    ride_services.register()
    booked_rides.register(app)
    # Dispatch pre-positions vehicles for people leaving events without importing the event service.
    booked_rides.register_demand_source("event_endings", event_listing.leaving)
    slot_cache.register(app.extensions["db_engine"], app.extensions["redis"])
    # Dispatch books chargers through the booking service without importing it.
    app.extensions["charging_desk"] = FleetChargingDesk(app.extensions["payment_gateway"])
    dispatch_cli.init_app(app)
    embedded.init_app(app)
    bookings_cli.init_app(app)
    chargers_cli.init_app(app)
    booking.jobs.init_app(app)
    if http:
        import mobile_api  # imported only here: a process that serves no requests never loads it

        mobile_api.init_app(app)
