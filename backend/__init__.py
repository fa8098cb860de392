"""Application factory of the Chongqing mobility experience platform."""
import re
from typing import Any

import numpy as np
from flask import request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_openapi3 import Info, OpenAPI, SecurityScheme
from werkzeug.exceptions import BadRequest as UnreadableBody
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from backend import (
    admission,
    cli,
    config,
    db,
    errors,
    jobs,
    logs,
    notifications,
    observability,
    ratelimit,
    realtime,
    redis_client,
)
from backend.dbtypes import MAX_ID
from backend.exceptions import BadRequest, DomainError, Invalid

SECURITY_SCHEMES: dict[str, SecurityScheme | dict[str, Any]] = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def _up_to(limit: int) -> str:
    """Return a regular expression for the decimal numbers from 0 to `limit`."""
    digits, options = str(limit), [rf"\d{{1,{len(str(limit)) - 1}}}"]
    for i, d in enumerate(digits):
        rest = len(digits) - i - 1
        if int(d) > 0:
            options.append(digits[:i] + f"[0-{int(d) - 1}]" + rf"\d{{{rest}}}")
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` in paths: ids the database can hold; any larger number is no such path (404).

    The pattern itself admits only numbers up to MAX_ID: a larger one must not match the path at
    all, or Werkzeug would answer 405 when another method's rule has the same path.
    """

    regex = _up_to(MAX_ID)

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits, min, max, signed)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, opened without building the cookie's signer when none was sent.

    The API keeps no session (callers send tokens), yet Flask opens one for every request, and
    building the signer was 7% of a worker's samples serving /health.
    """

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


MAX_JSON_DEPTH = 32
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# Kept for the depth count: brackets and the quotes that tell which of them sit inside strings.
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[list(b"[{")], _DEPTH_STEP[list(b"]}")] = 1, -1


def json_depth(raw: bytes) -> int:
    """Return how deep a JSON text nests, without parsing it: brackets inside strings do not count.

    Vectorised, so a 2 MiB body costs milliseconds: escaped backslashes and quotes are dropped
    (JSON pairs backslashes from the left), what is left keeps only brackets and quotes, and a
    bracket after an odd number of quotes is inside a string.
    """
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    if not text:
        return 0
    chars = np.frombuffer(text, dtype=np.uint8)
    steps = _DEPTH_STEP[chars]
    steps[np.cumsum(chars == ord('"'), dtype=np.int32) & 1 == 1] = 0
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _unstorable(text: str) -> bool:
    """Tell whether text holds what no database column can store: NUL or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _has_unstorable(value) -> bool:
    if isinstance(value, str):
        return _unstorable(value)
    if isinstance(value, dict):
        return any(_has_unstorable(k) or _has_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unstorable(v) for v in value)
    return False


def _unstorable_refused(where: str) -> DomainError:
    return Invalid("validation_error", "Text may not contain NUL characters or lone surrogates.",
                   [{"field": where, "message": "contains a NUL character or a lone surrogate",
                     "type": "string_unstorable"}])


def _reject_unusable_input():
    """Refuse a JSON body that does not parse or nests too deep, and unstorable text anywhere.

    PostgreSQL text cannot hold NUL and UTF-8 cannot hold a lone surrogate: stored, either fails
    the query (a 500, not a 422). Deep nesting is refused before the parser recurses into it.
    """
    if _has_unstorable(request.args.to_dict(flat=False)):
        raise _unstorable_refused("query")
    # The raw body, not Content-Length, says whether there is one: a chunked body has no length.
    raw = request.get_data() if request.is_json else b""
    if raw:
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise Invalid("json_too_deep", "JSON may nest at most {depth} levels.",
                          params={"depth": MAX_JSON_DEPTH})
        try:
            body = request.get_json()
        except UnreadableBody as exc:
            raise BadRequest("malformed_json", "The body could not be parsed as JSON.") from exc
        # JSON can only carry NUL or a lone surrogate escaped: the walk runs only for bodies
        # that hold such an escape, so a batch of thousands of telemetry rows is not walked.
        if _UNSTORABLE_ESCAPE.search(raw) and _has_unstorable(body):
            raise _unstorable_refused("body")


def create_app(test_config: dict | None = None, *, http: bool = True) -> OpenAPI:
    """Create and configure the app; `test_config` overrides settings from the environment.

    `http=False` leaves out the HTTP layer (mobile_api), for processes that serve no requests.
    """
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
    config.check_secrets(app.config)
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.ensure_ascii = False
    app.session_interface = CookieSessions()
    logs.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # Behind load balancers the client is the address they forwarded: rate limits key on it.
        hops = app.config["TRUSTED_PROXIES"]
        # Flask's documented way to wrap its WSGI callable, which mypy sees as a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.before_request(_reject_unusable_input)

    errors.init_app(app)
    db.init_app(app)
    redis_client.init_app(app)
    realtime.init_app(app)
    ratelimit.init_app(app)
    observability.init_app(app)
    cli.init_app(app)
    jobs.init_app(app)
    notifications.init_app(app)

    # Imported here so backend stays importable alone, below the packages it composes.
    from backend import composition

    composition.compose(app, http=http)
    admission.init_app(app)
    return app
