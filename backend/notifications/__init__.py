"""Notifications: an inbox per user, per-kind preferences, devices, and push through one provider interface.

A feature records a notification with `services.notify()` in the transaction of the change that
causes it; once that transaction commits, the notification is published on the user's Redis
channel (for live streams) and pushed to the user's devices (`outbox.py`). The scheduler sends
the reminders that fall due and retries pushes (`cli.run_once`).
"""
from backend import jobs


def _reminders_and_retries(app, _session):
    from backend.notifications.cli import run_once

    counts = run_once(app)
    return counts if any(counts.values()) else None


def init_app(app) -> None:
    """Give the app its outbox (Redis and push providers), the CLI, and the scheduler's job."""
    from backend.notifications.cli import notifications_cli
    from backend.notifications.outbox import Outbox
    from backend.notifications.push import providers_from_config

    app.extensions["push_providers"] = providers_from_config(app.config)
    app.extensions["notifications"] = Outbox(app.extensions["db_engine"], app.extensions["redis"],
                                             app.extensions["push_providers"])
    app.cli.add_command(notifications_cli)
    jobs.register(app, jobs.Job("notifications", 30, _reminders_and_retries))
