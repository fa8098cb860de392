"""`flask payments reconcile`: repair payments whose webhooks never arrived."""
import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session

from payments.reconcile import reconcile

payments_cli = AppGroup("payments", help="Payments: reconcile with the provider.")


@payments_cli.command("reconcile")
def reconcile_command():
    """Repair payments whose local state drifted from the provider's."""
    with Session(current_app.extensions["db_engine"], expire_on_commit=False) as session:
        changes = reconcile(session, current_app.extensions["payment_gateway"])
    for line in changes:
        click.echo(line)
    click.echo(f"{len(changes)} payment(s) repaired")


def init_app(app) -> None:
    """Register the `flask payments` commands."""
    app.cli.add_command(payments_cli)
