"""The HTTP layer: /api/v1 blueprints, request/response schemas and the OpenAPI spec."""


def init_app(app) -> None:
    """Register every /api/v1 blueprint, the operator console's pages and the spec (the services are composed)."""
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
    from robotaxi_dispatch import console

    idempotency.init_app(app)
    console.init_app(app)
    for module in (accounts, sites, bookings, chargers, events, organiser, rides, fleet, payment_views, timeline,
                   wallet, notifications):
        app.register_api(module.bp)
    openapi.init_app(app)
