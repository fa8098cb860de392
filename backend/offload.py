"""Run a CPU-heavy call that releases the GIL on a native thread when gevent drives the process.

Under gunicorn's gevent worker every request of a worker shares one loop: a 200 ms argon2 hash
run on it would stall all of them, open streams included. argon2 releases the GIL, so on one of
gevent's native threads it runs beside the loop (and on the other core). Elsewhere the call is
made directly.
"""
from gevent import get_hub, monkey


def off_loop(call, *args):
    """Return call(*args), computed off the gevent loop when there is one."""
    if monkey.is_module_patched("threading"):
        return get_hub().threadpool.apply(call, args)
    return call(*args)
