"""Errors as application/problem+json with a stable machine-readable `code`."""
import logging

from flask import Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from backend import exceptions as domain
from backend.exceptions import DomainError
from backend.i18n import current_language, translate
from backend.i18n import title as title_of

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

RETRY_AFTER_S = 2

# The one table from a domain exception's family to its HTTP status.
STATUS_BY_FAMILY = {
    domain.BadRequest: 400, domain.Unauthenticated: 401, domain.PaymentRequired: 402,
    domain.Forbidden: 403, domain.NotFound: 404, domain.Conflict: 409, domain.Invalid: 422,
    domain.TooManyRequests: 429, domain.Unavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
}


class FieldError(BaseModel):
    """One field that failed validation."""

    field: str = Field(description="dotted path of the field; `body` or `query` for the whole")
    message: str = Field(description="what is wrong, in English")
    type: str = Field(description="machine-readable kind, e.g. `missing`, `greater_than`")


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with a stable machine-readable `code`."""

    type: str = Field(description="URI naming the error code")
    title: str = Field(description="short summary of the code, in the Accept-Language language")
    status: int = Field(description="the HTTP status")
    detail: str = Field(description="why this request failed, translated where the text is fixed")
    code: str = Field(description="stable code clients branch on, e.g. `slot_taken`, `validation_error`")
    errors: list[FieldError] | None = Field(default=None, description="each invalid field (422)")


def problem(status: int, code: str, detail: str = "", errors: list | None = None,
            title: str | None = None, params: dict | None = None) -> Response:
    """Build a problem+json response in the caller's language; `detail` may be a template of `params`."""
    language = current_language()
    body = Problem(type=f"https://errors.cq-mobility.example/{code}",
                   title=title_of(code, language) or title or code, status=status,
                   detail=translate(detail, language, **(params or {})) if detail else "",
                   code=code, errors=errors)
    return Response(body.model_dump_json(exclude_none=True), status=status, mimetype=PROBLEM_JSON)


def field_errors(exc: ValidationError) -> list[dict]:
    """Turn pydantic errors into `{field, message, type}` items."""
    items = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if p not in ("body", "query", "path", "header")]
        items.append({"field": ".".join(loc) or "body", "message": err["msg"], "type": err["type"]})
    return items


def validation_problem(exc: ValidationError) -> Response:
    """Answer a request that failed schema validation."""
    errors = field_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem(400, "malformed_json", "The body could not be parsed as JSON.", errors)
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem(422, "validation_error", f"Invalid field(s): {fields}", errors)


def status_of(exc: DomainError) -> int:
    """Return the HTTP status of a domain exception's family."""
    return next(STATUS_BY_FAMILY[kind] for kind in type(exc).__mro__ if kind in STATUS_BY_FAMILY)


def _handle_domain_error(exc: DomainError):
    response = problem(status_of(exc), exc.code, exc.template, exc.errors, params=exc.params)
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _handle_http(exc: HTTPException):
    status = exc.code or 500
    code = _HTTP_CODES.get(status, "http_error")
    response = problem(status, code, exc.description or "", title=exc.name)
    # 405 names the methods the path does take (Allow), as HTTP requires.
    response.headers.extend((name, value) for name, value in exc.get_headers() if name == "Allow")
    return response


def _handle_database_down(exc: OperationalError):
    # The pool's pre-ping reconnects on the next request once the server is back.
    log.warning("database unavailable: %s", exc.orig)
    response = problem(503, "database_unavailable", "The database is restarting; retry in a moment.")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def busy() -> Response:
    """Answer 503 `database_busy` with Retry-After: back-pressure in a rush, not a failure."""
    response = problem(503, "database_busy", "The server is busy; retry in a moment.")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _handle_pool_exhausted(exc: PoolTimeout):
    # Every connection of this process is busy (a rush).
    log.warning("database connections exhausted: %s", exc)
    return busy()


def _handle_unexpected(exc: Exception):
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "An unexpected error occurred; it has been logged.")


def init_app(app) -> None:
    """Answer every error, including 404/405/413/500, as problem+json."""
    app.register_error_handler(DomainError, _handle_domain_error)
    app.register_error_handler(ValidationError, validation_problem)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(PoolTimeout, _handle_pool_exhausted)
    app.register_error_handler(Exception, _handle_unexpected)
