"""Liveness, readiness, Prometheus metrics and the spec at the paths the contract fixes.

Under gunicorn each worker is a process of its own: with PROMETHEUS_MULTIPROC_DIR set (the
gunicorn config sets it) every worker writes its samples there and /metrics adds them up, so a
scrape sees the whole server whichever worker answers it, dispatcher threads of the embedded
mode included (a dispatcher process of its own serves its metrics itself: `--metrics-port`).
"""
import hmac
import ipaddress
import os
import time

from flask import Blueprint, Response, abort, current_app, g, redirect, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
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


def _may_scrape() -> bool:
    """Scrapers bring the METRICS_TOKEN when one is set; otherwise they call from inside the network."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent.encode(), token.encode())
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@bp.get("/metrics")
def metrics():
    """Expose Prometheus metrics, of every worker, to the platform's own scrapers only."""
    if not _may_scrape():
        abort(404)  # as if there were no such page
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
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
