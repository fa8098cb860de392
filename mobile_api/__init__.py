"""The HTTP layer: /api/v1 blueprints, request/response schemas and the OpenAPI spec."""


def init_app(app) -> None:
    """Set up the domain packages the views use and register every /api/v1 blueprint."""
    import payments
    from booking.bookings import cli as bookings_cli, payables
    from booking.bookings.fleet import FleetChargingDesk
    from booking.events import orders
    from mobile_api import accounts, bookings, events, fleet, organiser, rides, sites, timeline
    from mobile_api import payments as payment_views
    from robotaxi_dispatch import cli as dispatch_cli, console, embedded
    from robotaxi_dispatch.rides import services as ride_services

    payments.init_app(app)
    payables.register()
    orders.register()
    ride_services.register()
    # Dispatch books chargers through the booking service without importing it.
    app.extensions["charging_desk"] = FleetChargingDesk(app.extensions["payment_gateway"])
    dispatch_cli.init_app(app)
    embedded.init_app(app)
    console.init_app(app)
    bookings_cli.init_app(app)
    for module in (accounts, sites, bookings, events, organiser, rides, fleet, payment_views, timeline):
        app.register_api(module.bp)
