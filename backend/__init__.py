"""Application factory of the Chongqing mobility experience platform."""
from flask import request
from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from backend import cli, config, db, errors, observability, ratelimit, redis_client
from backend.dbtypes import MAX_ID
from backend.errors import ApiError

SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


class IdConverter(IntegerConverter):
    """`<int:...>` in paths: ids the database can hold; any larger number is no such path (404)."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits, min, max, signed)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _nul_refused(where: str) -> ApiError:
    return ApiError(422, "validation_error", "Text may not contain NUL characters.",
                    [{"field": where, "message": "contains a NUL character", "type": "string_nul"}])


def _reject_unusable_input():
    """Refuse a JSON body that does not parse, and NUL characters anywhere, before any view sees them.

    PostgreSQL text cannot hold NUL: stored or compared, it fails the query (a 500, not a 422).
    """
    if _has_nul(request.args.to_dict(flat=False)):
        raise _nul_refused("query")
    if request.content_length and request.is_json:
        try:
            body = request.get_json()
        except BadRequest as exc:
            raise ApiError(400, "malformed_json", "The body could not be parsed as JSON.") from exc
        # JSON can only carry NUL escaped: the walk runs only for bodies that hold the escape,
        # so a batch of thousands of telemetry rows is not walked on every call.
        if b"\\u0000" in request.get_data() and _has_nul(body):
            raise _nul_refused("body")


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
    # Before any route is added: rules bind their converters when they are created.
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(config.settings_from_env())
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False
    app.before_request(_reject_unusable_input)

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
