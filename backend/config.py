"""Settings read from the environment, with the embedded defaults of `make run`."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET_KEY = "dev-only-secret-change-me-in-production-0123456789"


def _int(name, default):
    return int(os.environ.get(name, default))


def settings_from_env() -> dict:
    """Return Flask config keys built from environment variables."""
    instance = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
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
        "REGISTER_RATE_LIMIT": os.environ.get("REGISTER_RATE_LIMIT", "20 per hour"),
        # Telemetry batches of a few thousand positions fit well inside 2 MiB.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        "INSTANCE_DIR": str(instance),
        # `make run` turns this on: dispatchers and the demo fleet run as threads of the server.
        "EMBEDDED_DISPATCH": os.environ.get("EMBEDDED_DISPATCH", "") == "1",
    }
