"""Settings read from the environment, with the embedded defaults of `make run`."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-secret-change-me-in-production-0123456789"
DEVELOPMENT = "development"
MIN_SECRET_KEY_CHARS = 32


class InsecureSettings(RuntimeError):
    """The app was asked to run outside development mode with a key anyone can read."""


def _int(name, default):
    return int(os.environ.get(name, default))


def settings_from_env() -> dict:
    """Return Flask config keys built from environment variables."""
    instance = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))
    return {
        # Anything but `development` is production: the safe side is the default.
        "APP_ENV": os.environ.get("APP_ENV", "production"),
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
        # Keys replaced by a rotation, comma-separated: they still verify old ticket codes.
        "SECRET_KEY_PREVIOUS": os.environ.get("SECRET_KEY_PREVIOUS", ""),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{instance / 'platform.db'}"),
        # Unset means an in-process fakeredis: the embedded default needs no server.
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY") or None,
        # Unset with the sandbox: derived from SECRET_KEY.
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_PAYMENT_METHOD_TYPES": os.environ.get("STRIPE_PAYMENT_METHOD_TYPES", "card"),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE") or None,
        "ACCESS_TOKEN_TTL_S": _int("ACCESS_TOKEN_TTL_S", 900),
        "REFRESH_TOKEN_TTL_S": _int("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # Per account, from any address: guessing one account's password from many addresses.
        "LOGIN_ACCOUNT_RATE_LIMIT": os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "10 per minute"),
        "REGISTER_RATE_LIMIT": os.environ.get("REGISTER_RATE_LIMIT", "20 per hour"),
        # Telemetry batches of a few thousand positions fit well inside 2 MiB.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        # Requests a process serves at once (backend/admission.py): the pool's 10 + 20 connections
        # over at most three a request.
        "REQUESTS_AT_ONCE": _int("REQUESTS_AT_ONCE", 10),
        "INSTANCE_DIR": str(instance),
        # `make run` turns this on: dispatchers and the demo fleet run as threads of the server.
        "EMBEDDED_DISPATCH": os.environ.get("EMBEDDED_DISPATCH", "") == "1",
        # `json` (one object per line, with the request id) for log collectors; `plain` leaves
        # Python's default logging alone.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # `make run` turns this on too: the scheduler (expiry, no-shows, payment instructions,
        # reconcile) runs as a thread of the server; production runs `flask jobs run` instead.
        "EMBEDDED_JOBS": os.environ.get("EMBEDDED_JOBS", "") == "1",
        # Webhook devices on private or loopback addresses: allowed on a developer's machine only.
        "PUSH_WEBHOOK_ALLOW_PRIVATE": os.environ.get(
            "PUSH_WEBHOOK_ALLOW_PRIVATE", "0" if os.environ.get("SECRET_KEY") else "1") == "1",
        # Push services besides the webhook sender, comma-separated (fcm, apns), and their credentials:
        # required outside development for every provider listed (see README, Notifications).
        "PUSH_PROVIDERS": os.environ.get("PUSH_PROVIDERS", ""),
        "FCM_SERVICE_ACCOUNT_FILE": os.environ.get("FCM_SERVICE_ACCOUNT_FILE") or None,
        "FCM_API_URL": os.environ.get("FCM_API_URL") or None,
        "APNS_KEY_FILE": os.environ.get("APNS_KEY_FILE") or None,
        "APNS_KEY_ID": os.environ.get("APNS_KEY_ID") or None,
        "APNS_TEAM_ID": os.environ.get("APNS_TEAM_ID") or None,
        "APNS_TOPIC": os.environ.get("APNS_TOPIC") or None,
        "APNS_API_URL": os.environ.get("APNS_API_URL") or None,
        # Live streams (Server-Sent Events): open per user across all servers, per server process,
        # the longest one (then the client reconnects with Last-Event-ID), heartbeat, client retry.
        "SSE_MAX_STREAMS_PER_USER": _int("SSE_MAX_STREAMS_PER_USER", 5),
        "SSE_MAX_STREAMS_PER_PROCESS": _int("SSE_MAX_STREAMS_PER_PROCESS", 10_000),
        "SSE_MAX_S": _int("SSE_MAX_S", 15 * 60),
        "SSE_HEARTBEAT_S": float(os.environ.get("SSE_HEARTBEAT_S", 15)),
        "SSE_RETRY_MS": _int("SSE_RETRY_MS", 3000),
        # Behind load balancers: how many proxies' X-Forwarded-* headers to trust (0: none).
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Unset: /metrics answers only callers on loopback or private addresses.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
    }


def check_secrets(settings) -> None:
    """Refuse to run outside development mode with the development key or a short one.

    The development key is in this repository: tokens signed with it can be minted offline.
    """
    if settings.get("APP_ENV") == DEVELOPMENT:
        return
    key = settings.get("SECRET_KEY") or ""
    if key == DEV_SECRET_KEY or DEV_SECRET_KEY in (settings.get("SECRET_KEY_PREVIOUS") or ""):
        raise InsecureSettings("SECRET_KEY is the public development key: set SECRET_KEY "
                               "(64 random characters) or APP_ENV=development.")
    if len(key) < MIN_SECRET_KEY_CHARS:
        raise InsecureSettings(f"SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters.")
