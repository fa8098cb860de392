"""`flask bookings sweep`: expire lapsed holds and record no-shows, once or every N seconds."""
import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session

from booking.bookings.services import sweep

bookings_cli = AppGroup("bookings", help="Bookings housekeeping.")


@bookings_cli.command("sweep")
@click.option("--every", type=int, default=0, help="repeat every N seconds (0: once)")
def sweep_command(every):
    """Expire lapsed holds and mark unattended bookings as no-shows (fees through payments)."""
    while True:
        with Session(current_app.extensions["db_engine"], expire_on_commit=False) as session:
            counts = sweep(session, current_app.extensions["payment_gateway"])
        click.echo(f"expired={counts['expired']} no_show={counts['no_show']}")
        if not every:
            return
        time.sleep(every)


def init_app(app) -> None:
    """Register the command."""
    app.cli.add_command(bookings_cli)
