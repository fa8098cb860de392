"""Leader leases in Redis: one holder at a time, renewed while it works, lapsing if it dies."""
import redis

# Compare-and-renew and compare-and-delete run as scripts: atomic on one key, so they hold on
# Redis Cluster too, where WATCH/MULTI across a client's connections does not.
_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0"""
_DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0"""


def acquire(r: redis.Redis, key: str, owner: str, ttl_ms: int) -> bool:
    """Take or renew the lease; False while another owner holds it."""
    if r.set(key, owner, nx=True, px=ttl_ms):
        return True
    return bool(r.eval(_RENEW_IF_OWNER, 1, key, owner, ttl_ms))


def release(r: redis.Redis, key: str, owner: str) -> None:
    """Give up the lease if this owner still holds it."""
    r.eval(_DELETE_IF_OWNER, 1, key, owner)
