"""The HTTP layer: /api/v1 blueprints, request/response schemas and the OpenAPI spec."""


def init_app(app) -> None:
    """Set up the domain packages the views use and register every /api/v1 blueprint."""
    import payments
    from booking.bookings import cli as bookings_cli, payables
    from booking.events import orders
    from mobile_api import accounts, bookings, events, organiser, sites, timeline
    from mobile_api import payments as payment_views

    payments.init_app(app)
    payables.register()
    orders.register()
    bookings_cli.init_app(app)
    for module in (accounts, sites, bookings, events, organiser, payment_views, timeline):
        app.register_api(module.bp)
