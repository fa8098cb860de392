"""`flask ocpp serve`: one CSMS instance accepting charge points on ws://HOST:OCPP_PORT/ocpp/<identity>."""
import asyncio
import os
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from booking.chargers.csms import Csms, CsmsSettings, Platform

ocpp_cli = AppGroup("ocpp", help="The OCPP charging-station management service.")


def platform_of(app) -> Platform:
    """Return the database, Redis and payment gateway the app was configured with."""
    return Platform(engine=app.extensions["db_engine"], redis=app.extensions["redis"],
                    gateway=app.extensions["payment_gateway"])


@ocpp_cli.command("serve")
@click.option("--host", default=lambda: os.environ.get("OCPP_HOST", "127.0.0.1"), show_default="127.0.0.1")
@click.option("--port", type=int, default=lambda: int(os.environ.get("OCPP_PORT", 9000)), show_default="9000")
@click.option("--heartbeat", type=int, default=60, show_default=True,
              help="heartbeat interval asked of charge points (s)")
@click.option("--lead", type=int, default=lambda: int(os.environ.get("OCPP_RESERVATION_LEAD_MIN", 15)),
              show_default="15", help="minutes before a booking's start to reserve its charger")
def serve_command(host, port, heartbeat, lead):
    """Accept charge points (OCPP 2.0.1 and 1.6) until interrupted."""
    csms = Csms(platform_of(current_app), CsmsSettings(heartbeat_s=heartbeat,
                                                       reservation_lead=timedelta(minutes=lead)))
    click.echo(f"CSMS {csms.owner} on ws://{host}:{port}/ocpp/<identity>")
    try:
        asyncio.run(csms.serve(host, port))
    except KeyboardInterrupt:
        pass


def init_app(app) -> None:
    """Register the command."""
    app.cli.add_command(ocpp_cli)
