"""Background jobs that run by themselves: hold and order expiry, no-shows, payment instructions, reconcile.

Feature packages register their jobs (`register`); one scheduler runs them, each at its own
interval, while it holds the leader lease in Redis, so however many processes start one, a
job runs in one place at a time. `make run` starts it as a thread of the server
(`EMBEDDED_JOBS=1`); production runs `flask jobs run` as its own process (standbys wait for
the lease). A job that fails is logged and tried again at its next turn.
"""
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import click
import redis
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from backend import leases, logs

log = logging.getLogger(__name__)
LEASE_KEY = "jobs:leader"
LEASE_MS = 30_000
TICK_S = 2.0


@dataclass(frozen=True)
class Job:
    """A job: what it is called, how often it runs, and what it does with a fresh session."""
    name: str
    every_s: float
    run: Callable[[object, Session], object]  # (app, session) -> a summary to log


def register(app, job: Job) -> None:
    """Add a job to the app's scheduler."""
    app.extensions.setdefault("jobs", []).append(job)


class Scheduler:
    """Runs the app's jobs at their intervals while holding the leader lease."""

    def __init__(self, app, *, owner: str | None = None):
        self.app = app
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._last: dict[str, float] = {}

    def tick(self, clock: float | None = None) -> dict[str, object]:
        """Run every job whose turn has come; return what each one did."""
        clock = time.monotonic() if clock is None else clock
        done = {}
        for job in self.app.extensions.get("jobs", []):
            if clock - self._last.get(job.name, float("-inf")) < job.every_s:
                continue
            self._last[job.name] = clock
            done[job.name] = self.run_job(job)
        return done

    def run_job(self, job: Job) -> object:
        """Run one job in its own session, its lines logged under a run id; a failure is logged, never raised."""
        with logs.bound(logs.job_run_id, f"{job.name}-{uuid.uuid4().hex[:12]}"):
            try:
                with self.app.app_context(), Session(self.app.extensions["db_engine"],
                                                     expire_on_commit=False) as session:
                    summary = job.run(self.app, session)
            except Exception:  # one failing job must not stop the others, nor the next turn
                log.exception("job %s failed", job.name)
                return "failed"
            if summary:
                log.info("job %s: %s", job.name, summary)
            return summary

    def run(self, stop: threading.Event) -> None:
        """Run jobs while holding the lease, until stopped; Redis or database outages are waited out."""
        store = self.app.extensions["redis"]
        while not stop.is_set():
            try:
                if leases.acquire(store, LEASE_KEY, self.owner, LEASE_MS):
                    self.tick()
            except (redis.RedisError, OperationalError) as exc:
                log.warning("scheduler waiting for Redis or the database: %s", exc)
            stop.wait(TICK_S)
        try:
            leases.release(store, LEASE_KEY, self.owner)
        except redis.RedisError:
            log.warning("scheduler lease left to expire")


def start(app, stop: threading.Event) -> threading.Thread:
    """Start the scheduler as a thread of this process."""
    thread = threading.Thread(target=Scheduler(app).run, args=(stop,), name="scheduler", daemon=True)
    thread.start()
    return thread


jobs_cli = AppGroup("jobs", help="Background jobs (expiry, no-shows, payment instructions, reconcile).")


@jobs_cli.command("run")
@click.option("--once", is_flag=True, help="run every job once and exit (no lease)")
def run_command(once):
    """Run the scheduler until interrupted (one leader at a time), or every job once."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy, typed as the Flask app
    if once:
        for name, summary in Scheduler(app).tick().items():
            click.echo(f"{name}: {summary}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("scheduler running: " + ", ".join(j.name for j in app.extensions.get("jobs", [])))
    try:
        Scheduler(app).run(stop)
    except KeyboardInterrupt:
        stop.set()


def init_app(app) -> None:
    """Register `flask jobs`, and start the scheduler thread in the embedded mode (EMBEDDED_JOBS)."""
    app.cli.add_command(jobs_cli)
    if app.config.get("EMBEDDED_JOBS"):
        start(app, threading.Event())
