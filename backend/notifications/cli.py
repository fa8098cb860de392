"""`flask notifications run`: send the reminders that are due and retry pushes, once or every N seconds.

Features register their reminders (offers about to lapse, bookings about to start); each one
records its notifications with a dedupe key, so running twice sends nothing twice.
"""
import time
from collections.abc import Callable
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session

from backend.dbtypes import utcnow

# functions (session, now) -> how many notifications they recorded
REMINDERS: list[Callable[[Session, datetime], int]] = []

notifications_cli = AppGroup("notifications", help="Notification reminders and push retries.")


def register_reminder(reminder) -> None:
    """Add a function that records the reminders due at a moment."""
    if reminder not in REMINDERS:
        REMINDERS.append(reminder)


def run_once(app, now: datetime | None = None) -> dict[str, int]:
    """Record due reminders (sent as each commits), then retry the pushes that are due."""
    now = now or utcnow()
    reminded = 0
    for reminder in REMINDERS:
        with Session(app.extensions["db_engine"], expire_on_commit=False) as session:
            reminded += reminder(session, now)
            session.commit()
    return {"reminders": reminded, **app.extensions["notifications"].retry_due(now)}


@notifications_cli.command("run")
@click.option("--every", type=int, default=0, help="repeat every N seconds (0: once)")
def run_command(every):
    """Send due reminders (waiting-list offers about to lapse, bookings about to start) and retry pushes."""
    while True:
        counts = run_once(current_app)
        click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
        if not every:
            return
        time.sleep(every)
