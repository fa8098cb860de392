"""Redis client: a real server when REDIS_URL is set, an in-process fakeredis otherwise."""
import logging
from functools import wraps

import fakeredis
import redis
from flask import current_app

log = logging.getLogger(__name__)


def make_redis(url: str | None) -> redis.Redis:
    """Return a Redis client for the URL, or a fakeredis one when there is none."""
    if url:
        return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
    return fakeredis.FakeRedis(decode_responses=True)


def get_redis() -> redis.Redis:
    """Return the current app's Redis client."""
    return current_app.extensions["redis"]


def init_app(app) -> None:
    """Attach the Redis client to the app."""
    app.extensions["redis"] = make_redis(app.config["REDIS_URL"])


def best_effort(call):
    """Let a Redis call fail quietly while Redis is down, for what the platform can do without.

    The call then answers None and the outage is logged.
    """
    @wraps(call)
    def wrapper(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except redis.RedisError as exc:
            log.warning("%s skipped, Redis unavailable: %s", call.__name__, exc)
            return None
    return wrapper
