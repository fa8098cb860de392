"""Rate limits (Flask-Limiter), stored in Redis when there is one so all workers share them."""
from flask import current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def login_account() -> str:
    """Key a login attempt on the account it tries, whatever address it comes from."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return f"account:{email.strip().lower()}" if isinstance(email, str) else get_remote_address()


def configured(name: str):
    """Return a callable limit read from the app's config at request time."""
    return lambda: current_app.config[name]


def init_app(app) -> None:
    """Bind the limiter to the app's storage."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    # Redis down: each worker keeps limiting in memory rather than failing every limited request.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
    # Flask-Limiter checks every request for limits beyond the decorated views'; there are none
    # unless configured (RATELIMIT_DEFAULT, RATELIMIT_APPLICATION, RATELIMIT_META), and looking
    # for them was 12% of a worker's samples serving /health. Decorated views still check in
    # their decorator.
    hooks = app.before_request_funcs[None]
    hooks[hooks.index(limiter._check_request_limit)] = _check_limits_beyond_views


def _check_limits_beyond_views() -> None:
    """Check the default, application, meta and blueprint limits, if there are any."""
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits or limiter._meta_limits or manager._blueprint_limits:
        limiter._check_request_limit()
