"""The HTTP layer: /api/v1 blueprints, request/response schemas and the OpenAPI spec."""


def init_app(app) -> None:
    """Set up the domain packages the views use and register every /api/v1 blueprint."""
    import booking.jobs
    import payments
    from backend.notifications.cli import register_reminder
    from booking.bookings import cli as bookings_cli
    from booking.bookings import notices as booking_notices
    from booking.bookings import payables, slot_cache
    from booking.bookings.fleet import FleetChargingDesk
    from booking.chargers import cli as chargers_cli
    from booking.events import notices as event_notices
    from booking.events import orders
    from mobile_api import (
        accounts,
        bookings,
        chargers,
        events,
        fleet,
        idempotency,
        notifications,
        openapi,
        organiser,
        rides,
        sites,
        timeline,
        wallet,
    )
    from mobile_api import payments as payment_views
    from robotaxi_dispatch import cli as dispatch_cli
    from robotaxi_dispatch import console, embedded
    from robotaxi_dispatch.rides import services as ride_services

    payments.init_app(app)
    register_reminder(event_notices.offers_expiring)
    register_reminder(booking_notices.starting_soon)
    payables.register()
    orders.register()
    ride_services.register()
    slot_cache.register(app.extensions["db_engine"], app.extensions["redis"])
    # Dispatch books chargers through the booking service without importing it.
    app.extensions["charging_desk"] = FleetChargingDesk(app.extensions["payment_gateway"])
    dispatch_cli.init_app(app)
    embedded.init_app(app)
    console.init_app(app)
    bookings_cli.init_app(app)
    chargers_cli.init_app(app)
    booking.jobs.init_app(app)
    idempotency.init_app(app)
    for module in (accounts, sites, bookings, chargers, events, organiser, rides, fleet, payment_views, timeline,
                   wallet, notifications):
        app.register_api(module.bp)
    openapi.init_app(app)
