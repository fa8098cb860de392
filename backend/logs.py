"""Logs as JSON lines carrying a request id, so one request can be followed across processes.

A ride keeps the id of the request that created it, and the dispatcher logs its assignment
under that id; a background job's lines carry the id of its run instead.
"""
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it looks like one: it ends up in every log line of the request.
_USABLE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_run_id: ContextVar[str | None] = ContextVar("job_run_id", default=None)


@contextmanager
def bound(var: ContextVar[str | None], value: str | None) -> Iterator[None]:
    """Stamp the lines logged inside the block with `value` (a request id, a job run id)."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


class _WithRequestId(logging.Filter):
    """Stamp each record with the request id or job run of the work that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_run_id = job_run_id.get()
        return True


def configure(level: str) -> None:
    """Send every record to standard error as one JSON object per line."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_run_id)s",
                                       rename_fields={"asctime": "time", "levelname": "level"}))
    handler.addFilter(_WithRequestId())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _take_request_id() -> None:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    request_id.set(sent if _USABLE_ID.match(sent) else uuid.uuid4().hex)


def _echo_request_id(response):
    response.headers[REQUEST_ID_HEADER] = request_id.get() or ""
    return response


def init_app(app: Flask) -> None:
    """Give every request an id (the caller's X-Request-ID or a new one) and log as JSON."""
    if app.config["LOG_FORMAT"] == "json" and not app.testing:
        configure(app.config["LOG_LEVEL"])
    app.before_request(_take_request_id)
    app.after_request(_echo_request_id)
