"""Payments: the gateway interface, Stripe and the sandbox, webhooks, refunds and the ledger."""
from datetime import timedelta

from sqlmodel import Session

from backend import jobs, keys
from backend.dbtypes import utcnow
from payments import cli, runner, webhooks
from payments.reconcile import AWAITING_PAYER, reconcile
from payments.sandbox import SandboxGateway
from payments.stripe_gateway import StripeGateway


def webhook_secret(app) -> str:
    """Return the secret webhooks are signed with (derived from SECRET_KEY for the sandbox)."""
    configured = app.config.get("STRIPE_WEBHOOK_SECRET")
    if configured:
        return configured
    return "whsec_" + keys.derive(app.config["SECRET_KEY"], keys.SANDBOX_WEBHOOK).secret.hex()[:32]


def payment_method_types(app) -> tuple[str, ...]:
    """Return the configured payment method types, e.g. ("card", "alipay", "wechat_pay")."""
    raw = app.config.get("STRIPE_PAYMENT_METHOD_TYPES") or "card"
    return tuple(t.strip() for t in raw.split(",") if t.strip())


def make_gateway(app):
    """Return Stripe when an API key is configured, else the sandbox."""
    if app.config.get("STRIPE_API_KEY"):
        return StripeGateway(app.config["STRIPE_API_KEY"], api_base=app.config.get("STRIPE_API_BASE"),
                             payment_method_types=payment_method_types(app))
    engine, secret = app.extensions["db_engine"], webhook_secret(app)

    def deliver(payload: str, signature: str) -> None:
        # Delivered like Stripe's own: a separate request with its own transaction.
        with app.app_context(), Session(engine, expire_on_commit=False) as session:
            webhooks.receive(session, app.extensions["payment_gateway"], payload=payload,
                             signature=signature, secret=secret)

    # Tests see an event's effect when the call returns; a server delivers after answering.
    background = app.config.get("SANDBOX_WEBHOOKS", "inline" if app.testing else "background") == "background"
    return SandboxGateway(engine, webhook_secret=secret, deliver=deliver, background=background)


# The scheduler compares with the provider, every five minutes, the payments awaiting their payer
# touched this last hour (a hold lasts minutes); every hour, every open payment touched in the last
# two, so each is compared once or twice, not a dozen times, whatever the evening's volume (with
# Stripe, each comparison is an API call). `flask payments reconcile` compares them all.
AWAITING_WINDOW, OPEN_WINDOW = timedelta(hours=1), timedelta(hours=2)


def _run_instructions(app, session):
    return runner.run_due(session, app.extensions["payment_gateway"]) or None


def _sandbox_webhooks(app, _session):
    return app.extensions["payment_gateway"].outbox.deliver_due() or None


def _reconcile_awaiting(app, session):
    return reconcile(session, app.extensions["payment_gateway"], since=utcnow() - AWAITING_WINDOW,
                     statuses=AWAITING_PAYER) or None


def _reconcile_open(app, session):
    return reconcile(session, app.extensions["payment_gateway"], since=utcnow() - OPEN_WINDOW) or None


def init_app(app) -> None:
    """Choose the gateway (`app.extensions["payment_gateway"]`), register the CLI and the payment jobs."""
    app.extensions["payment_gateway"] = make_gateway(app)
    cli.init_app(app)
    jobs.register(app, jobs.Job("payment-instructions", 10, _run_instructions))
    jobs.register(app, jobs.Job("payments-reconcile-awaiting", 300, _reconcile_awaiting))
    jobs.register(app, jobs.Job("payments-reconcile", 3600, _reconcile_open))
    if isinstance(app.extensions["payment_gateway"], SandboxGateway):
        jobs.register(app, jobs.Job("sandbox-webhooks", 10, _sandbox_webhooks))
