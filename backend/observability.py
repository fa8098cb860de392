"""Liveness, readiness, Prometheus metrics and the spec at the paths the contract fixes."""
import time

from flask import Blueprint, Response, g, redirect, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from backend.db import get_engine
from backend.errors import problem
from backend.redis_client import get_redis

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["method", "endpoint"])

bp = Blueprint("service", __name__)


@bp.get("/health")
def health():
    """Answer that the process is alive."""
    return {"status": "ok"}


@bp.get("/ready")
def ready():
    """Answer 200 only when the database and Redis both answer."""
    checks = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    response = problem(503, "not_ready", "; ".join(f"{k}: {v}" for k, v in checks.items()))
    return response


@bp.get("/metrics")
def metrics():
    """Expose Prometheus metrics."""
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/docs")
def docs():
    """Send the reader to the Swagger UI served from the package."""
    return redirect("/docs/swagger")


def _start_timer():
    g.request_started = time.perf_counter()


def _record(response):
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    started = g.get("request_started")
    if started is not None:
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    return response


def init_app(app) -> None:
    """Register the service endpoints and request metrics."""
    app.register_blueprint(bp)
    app.add_url_rule("/openapi.json", "openapi_json", lambda: app.api_doc)
    app.before_request(_start_timer)
    app.after_request(_record)
