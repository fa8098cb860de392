"""Redis client: a server or a cluster when REDIS_URL is set, an in-process fakeredis otherwise.

Every key that is used together with another carries its region or user as a hash tag
(`dispatch:{liangjiang}:requests`), so the same code runs on one server and on Redis Cluster.
"""
import logging
from functools import wraps

import fakeredis
import redis
from flask import current_app
from redis.cluster import RedisCluster

log = logging.getLogger(__name__)


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def make_redis(url: str | None) -> redis.Redis:
    """Return a client for `redis://`, `redis+cluster://` (any one node), or fakeredis when unset."""
    if not url:
        return fakeredis.FakeRedis(decode_responses=True)
    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        # RedisCluster speaks the same commands; it finds the other nodes from the one named.
        # Not a Redis subclass, so typed apart, but every command used here is the same.
        return RedisCluster.from_url(  # type: ignore[return-value]
            f"{CLUSTER_SCHEMES[scheme]}://{rest}", decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


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
