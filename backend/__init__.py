"""Application factory of the Chongqing mobility experience platform."""
from flask import request
from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import BadRequest

from backend import cli, config, db, errors, observability, ratelimit, redis_client
from backend.errors import ApiError

SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def _reject_malformed_json():
    """Refuse a JSON body that does not parse, before any view sees it."""
    if request.content_length and request.is_json:
        try:
            request.get_json()
        except BadRequest as exc:
            raise ApiError(400, "malformed_json", "The body could not be parsed as JSON.") from exc


def create_app(test_config: dict | None = None) -> OpenAPI:
    """Create and configure the app; `test_config` overrides settings from the environment."""
    app = OpenAPI(
        __name__,
        info=Info(title="Chongqing mobility experience API", version="1.0.0"),
        security_schemes=SECURITY_SCHEMES,
        doc_prefix="/docs",
        doc_url="/openapi.json",
        validation_error_callback=errors.validation_problem,
        validation_error_status=422,
    )
    app.config.from_mapping(config.settings_from_env())
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False
    app.before_request(_reject_malformed_json)

    errors.init_app(app)
    db.init_app(app)
    redis_client.init_app(app)
    ratelimit.init_app(app)
    observability.init_app(app)
    cli.init_app(app)

    # Feature packages register themselves; imported here so backend stays importable alone.
    import mobile_api

    mobile_api.init_app(app)
    return app
