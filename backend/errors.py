"""Errors as application/problem+json with a stable machine-readable `code`."""
import logging

from flask import Response, json
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from backend.i18n import current_language

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Titles per stable code, in both languages; unknown codes fall back to the HTTP phrase.
TITLES = {
    "validation_error": ("请求参数无效", "Invalid request"),
    "malformed_json": ("请求体不是有效的 JSON", "Request body is not valid JSON"),
    "not_found": ("未找到", "Not found"),
    "method_not_allowed": ("不支持该请求方法", "Method not allowed"),
    "payload_too_large": ("请求体过大", "Request body too large"),
    "rate_limited": ("请求过于频繁", "Too many requests"),
    "internal_error": ("服务器内部错误", "Internal server error"),
    "unauthenticated": ("需要登录", "Authentication required"),
    "invalid_token": ("令牌无效或已过期", "Token invalid or expired"),
    "invalid_credentials": ("邮箱或密码错误", "Wrong email or password"),
    "refresh_token_reused": ("刷新令牌已被使用", "Refresh token already used"),
    "forbidden": ("无权执行此操作", "Not allowed"),
    "email_taken": ("该邮箱已注册", "Email already registered"),
    "unknown_role": ("未知角色", "Unknown role"),
    "not_a_member": ("不是该组织成员", "Not a member of that organisation"),
    "database_unavailable": ("数据库暂时不可用", "Database temporarily unavailable"),
}
RETRY_AFTER_S = 2

_HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
}


class ApiError(Exception):
    """A domain error that maps to a problem+json answer."""

    def __init__(self, status: int, code: str, detail: str = "", errors: list | None = None):
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors


def problem(status: int, code: str, detail: str = "", errors: list | None = None,
            title: str | None = None) -> Response:
    """Build a problem+json response."""
    zh, en = TITLES.get(code, (title or code, title or code))
    body = {
        "type": f"https://errors.cq-mobility.example/{code}",
        "title": en if current_language() == "en" else zh,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)


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


def _handle_api_error(exc: ApiError):
    return problem(exc.status, exc.code, exc.detail, exc.errors)


def _handle_http(exc: HTTPException):
    code = _HTTP_CODES.get(exc.code, "http_error")
    return problem(exc.code or 500, code, exc.description or "", title=exc.name)


def _handle_database_down(exc: OperationalError):
    # The pool's pre-ping reconnects on the next request once the server is back.
    log.warning("database unavailable: %s", exc.orig)
    response = problem(503, "database_unavailable", "The database is restarting; retry in a moment.")
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _handle_unexpected(exc: Exception):
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "An unexpected error occurred; it has been logged.")


def init_app(app) -> None:
    """Answer every error, including 404/405/413/500, as problem+json."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(ValidationError, validation_problem)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(Exception, _handle_unexpected)
