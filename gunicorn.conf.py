"""gunicorn settings shared by `make run` and production: gevent workers, or threads for the API.

An open Server-Sent Event stream waits on an event for its next message, so under gevent it costs
a greenlet and a socket rather than one of a few threads: thousands stay open while ordinary
requests keep being served. psycopg 3, redis-py and the embedded dispatcher's threads all run
cooperatively once gevent has patched the standard library. Production runs a second server from
this file on its own port for the stream routes (Procfile's `streams`), so that the fan-out to
thousands of streams never shares a worker's loop with ordinary requests.

The API's own server (Procfile's `web`) runs threads instead (`WORKER_CLASS=gthread`): a request
is a few milliseconds of Python between database calls, and a gevent loop never preempts, so a
read waits behind the whole burst of every write its worker admitted, while the interpreter
switches threads every 5 ms. With 500 evening users on this 2-core machine, nearby availability's
p50 / p95 were 740 / 3,800 ms on gevent workers and 40 / 300 ms on threads (README, "Load").
"""
import gc
import os
import tempfile
import threading
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = os.environ.get("WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("THREADS", "8"))  # per gthread worker: at most this many requests at once
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "12000"))
backlog = 4096  # a burst of clients reconnecting at once waits to be accepted rather than being refused
timeout = 120
graceful_timeout = 10
wsgi_app = "wsgi:app"

# Each worker writes its metrics here and /metrics adds them up (prometheus_client multiprocess).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cq-prometheus-"))


def on_starting(server):
    """Start with no samples left over from an earlier run in the metrics directory."""
    for leftover in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        leftover.unlink()


def child_exit(server, worker):
    """Drop a dead worker's live gauges (open streams) from the totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """End the worker's open streams cleanly as soon as it is told to stop, not at the graceful timeout."""
    # What the worker loaded lives as long as it does: leave it out of every full collection,
    # which thousands of open streams' objects already make long enough.
    gc.freeze()
    def watch():
        while worker.alive:
            threading.Event().wait(0.5)
        worker.wsgi.extensions["live_hub"].close_all()

    threading.Thread(target=watch, name="stream-closer", daemon=True).start()
