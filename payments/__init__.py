"""Payments: the gateway interface, Stripe and the sandbox, webhooks, refunds and the ledger."""
import hashlib

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session

from payments import webhooks
from payments.reconcile import reconcile
from payments.sandbox import SandboxGateway
from payments.stripe_gateway import StripeGateway

payments_cli = AppGroup("payments", help="Payments: reconcile with the provider.")


def webhook_secret(app) -> str:
    """Return the secret webhooks are signed with (derived from SECRET_KEY for the sandbox)."""
    configured = app.config.get("STRIPE_WEBHOOK_SECRET")
    if configured:
        return configured
    return "whsec_" + hashlib.sha256(app.config["SECRET_KEY"].encode()).hexdigest()[:32]


def make_gateway(app):
    """Return Stripe when an API key is configured, else the sandbox."""
    if app.config.get("STRIPE_API_KEY"):
        types = tuple(app.config.get("STRIPE_PAYMENT_METHOD_TYPES", "card").split(","))
        return StripeGateway(app.config["STRIPE_API_KEY"], api_base=app.config.get("STRIPE_API_BASE"),
                             payment_method_types=types)
    engine, secret = app.extensions["db_engine"], webhook_secret(app)

    def deliver(payload: str, signature: str) -> None:
        # Delivered like Stripe's own: a separate request with its own transaction.
        with Session(engine, expire_on_commit=False) as session:
            webhooks.receive(session, app.extensions["payment_gateway"], payload=payload,
                             signature=signature, secret=secret)

    return SandboxGateway(engine, webhook_secret=secret, deliver=deliver)


@payments_cli.command("reconcile")
def reconcile_command():
    """Repair payments whose local state drifted from the provider's."""
    with Session(current_app.extensions["db_engine"], expire_on_commit=False) as session:
        changes = reconcile(session, current_app.extensions["payment_gateway"])
    for line in changes:
        click.echo(line)
    click.echo(f"{len(changes)} payment(s) repaired")


def init_app(app) -> None:
    """Choose the gateway and register the CLI."""
    app.extensions["payment_gateway"] = make_gateway(app)
    app.cli.add_command(payments_cli)
