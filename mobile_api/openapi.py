"""What the spec says beyond each view's models: its id, the errors it raises, headers, examples.

A view declares itself with `operation(...)`, passed to its route decorator; `init_app` then
finishes the generated spec once: problem+json answers for the declared error families and for
what any request may meet (400, 401, 413, 422, 503), `Accept-Language` and `Idempotency-Key`,
response headers, request examples and the security scheme.
"""
from typing import Any

from backend import exceptions as domain
from backend.errors import PROBLEM_JSON, STATUS_BY_FAMILY, FieldError, Problem

REF = "#/components/schemas/{model}"
PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}}
HIDDEN_404 = ("Another user's object is answered 404 on purpose, exactly like one that does not "
              "exist, so that ids reveal nothing.")

# Errors any request may meet, before a view runs or beside it.
ANY_REQUEST = {
    "422": "validation_error: a parameter or the body breaks the schema (each field in `errors`).",
    "503": "database_unavailable: the database is restarting; retry after `Retry-After` seconds.",
}
WITH_BODY = {
    "400": "malformed_json: the body is not JSON.",
    "413": "payload_too_large: the body is over the size limit.",
}
WITH_TOKEN = {"401": "unauthenticated or invalid_token: no valid access token was sent."}
KEY_REUSED = ("idempotency_key_reused or idempotency_request_in_progress: the Idempotency-Key came "
              "with another body, or its first request is still running.")

PARAMETERS = {
    "AcceptLanguage": {
        "name": "Accept-Language", "in": "header", "required": False,
        "description": "`zh-CN` (default) or `en`: the language of names and of error titles and details.",
        "schema": {"type": "string", "example": "zh-CN"}},
    "IdempotencyKey": {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "description": ("Makes the request safe to retry: the same key and body answer the first answer "
                        "again (with `Idempotent-Replayed: true`); the same key with another body is 409 "
                        "`idempotency_key_reused`. Kept a day, per caller."),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
}
HEADERS = {
    "IdempotentReplayed": {"description": "`true` when this answer is a replay of an earlier request "
                                          "with the same Idempotency-Key.", "schema": {"type": "string"}},
    "RetryAfter": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
}
SECURITY_DESCRIPTION = ("The access token from `POST /api/v1/auth/login` (JWT, short-lived), sent as "
                        "`Authorization: Bearer <token>`; refresh it with `POST /api/v1/auth/refresh`.")
TIMES = ("Times are RFC 3339 with an offset: people-facing times are given in Asia/Shanghai "
         "(`+08:00`); any offset is accepted in requests. Money is integer fen with a currency; "
         "points are WGS84 `{lat, lon}`; areas are GeoJSON. Errors are `application/problem+json` "
         "with a stable `code`; another user's object is answered 404, as if it did not exist.")


def stream(description: str) -> dict:
    """Return the documented answer of a Server-Sent Events stream."""
    return {"description": description, "content": {"text/event-stream": {"schema": {"type": "string"}}}}


def operation(operation_id: str, ok: dict, *, raises: tuple = (), idempotent: bool = False,
              example: dict | None = None) -> dict:
    """Return a route's OpenAPI arguments: its id, its answers, and the domain errors it raises."""
    responses = {**ok}
    for status, description in _problems(raises).items():
        responses[status] = {"description": description, "content": PROBLEM}
    extensions: dict[str, Any] = {"x-idempotent": True} if idempotent else {}
    if example is not None:
        extensions["x-example"] = example
    return {"operation_id": operation_id, "responses": responses, "openapi_extensions": extensions}


def _problems(raises: tuple) -> dict[int, str]:
    """Group declared exception classes by HTTP status, described by their docstrings."""
    by_status: dict[int, list[str]] = {}
    for kind in raises:
        family = next(k for k in kind.__mro__ if k in STATUS_BY_FAMILY)
        by_status.setdefault(STATUS_BY_FAMILY[family], []).append(_describe(kind))
    return {status: " ".join(lines) for status, lines in by_status.items()}


def _describe(kind: type) -> str:
    text = (kind.__doc__ or kind.__name__).strip()
    return f"{text} {HIDDEN_404}" if kind is domain.NotFound else text


def finish(spec: dict) -> None:
    """Add what every operation shares to a generated spec, in place."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("ValidationErrorModel", None)  # the 422 served is a Problem, not this model
    for model in (FieldError, Problem):
        schema = model.model_json_schema(ref_template=REF)
        schema.pop("$defs", None)  # each model is a component of its own
        schemas[model.__name__] = schema
    components["parameters"] = PARAMETERS
    components["headers"] = HEADERS
    for scheme in components.get("securitySchemes", {}).values():
        scheme["description"] = SECURITY_DESCRIPTION
    spec["info"]["description"] = TIMES
    for path_item in spec["paths"].values():
        for op in path_item.values():
            _finish_operation(op)


def _finish_operation(op: dict) -> None:
    responses = op.setdefault("responses", {})
    shared = {**ANY_REQUEST, **(WITH_BODY if "requestBody" in op else {}),
              **(WITH_TOKEN if op.get("security") else {})}
    for status, description in shared.items():
        if status not in responses or "application/json" in responses[status].get("content", {}):
            responses[status] = {"description": description, "content": PROBLEM}
    for status in ("429", "503"):
        if status in responses:
            responses[status]["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    parameters = op.setdefault("parameters", [])
    parameters.append({"$ref": "#/components/parameters/AcceptLanguage"})
    if op.pop("x-idempotent", False):
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
        conflict = responses.setdefault("409", {"description": "", "content": PROBLEM})
        conflict["description"] = f"{conflict['description']} {KEY_REUSED}".strip()
        for status, answer in responses.items():
            if status.startswith("2"):
                answer["headers"] = {"Idempotent-Replayed": {"$ref": "#/components/headers/IdempotentReplayed"}}
    example = op.pop("x-example", None)
    if example is not None:
        for media in op["requestBody"]["content"].values():
            media["example"] = example


def init_app(app) -> None:
    """Finish the spec each time flask-openapi3 generates it."""
    generate = app.generate_spec_json

    def generate_and_finish():
        generate()
        finish(app.spec_json)

    app.generate_spec_json = generate_and_finish
