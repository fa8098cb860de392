"""The HTTP layer: /api/v1 blueprints, request/response schemas and the OpenAPI spec."""


def init_app(app) -> None:
    """Register every /api/v1 blueprint."""
    from mobile_api import accounts, sites

    for module in (accounts, sites):
        app.register_api(module.bp)
