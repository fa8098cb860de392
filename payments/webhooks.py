"""Provider events: verified by signature, applied once each, never downgrading a paid payable."""
import stripe
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.db import write_transaction
from backend.exceptions import BadRequest
from payments import effects
from payments.gateway import PaymentGateway
from payments.models import FINAL, PAID, Payment, PaymentStatus, WebhookEvent
from payments.runner import run_after_commit

INTENT_EVENTS = {"payment_intent.succeeded", "payment_intent.amount_capturable_updated",
                 "payment_intent.canceled", "payment_intent.payment_failed"}
HANDLED = INTENT_EVENTS | {"charge.refunded"}


def verify(payload: bytes | str, signature: str | None, secret: str) -> stripe.Event:
    """Return the event if Stripe's signature over the payload is valid and fresh; refuse it otherwise."""
    try:
        return stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise BadRequest("invalid_signature", "The webhook signature is missing, wrong or stale.") from exc


def is_news(event_type: str, obj, payment: Payment) -> bool:
    """Tell whether an event may still change the payment: False once the payment is past what it reports.

    Most events report a change the platform asked for and already applied from the provider's
    answer (the runner, a payment's creation); those change nothing, so the provider is not
    asked again. Anything else is read back from the provider.
    """
    if event_type == "payment_intent.succeeded":
        return payment.status not in PAID
    if event_type == "payment_intent.amount_capturable_updated":
        return payment.status in effects.WAITING
    if event_type == "payment_intent.canceled":
        return payment.status not in FINAL
    if event_type == "payment_intent.payment_failed":
        return payment.status == PaymentStatus.pending
    return payment.amount_refunded < obj.get("amount_refunded", payment.amount_captured + 1)


def receive(session: Session, gateway: PaymentGateway, *, payload: bytes | str,
            signature: str | None, secret: str) -> dict:
    """Verify an event and apply it exactly once; return what to answer the provider.

    The event only says which payment moved: its state is read back from the provider, so
    events that arrive late or out of order cannot move a payment backwards.
    """
    event = verify(payload, signature, secret)
    if event.type not in HANDLED:
        return {"received": True, "handled": False}
    obj = event.data.object
    intent_id = obj["id"] if event.type in INTENT_EVENTS else obj["payment_intent"]
    known = effects.find_payment(session, gateway_payment_id=intent_id)
    if known is None:
        return {"received": True, "handled": False}  # not ours: another system on the account
    session.commit()  # hold no connection while the gateway answers
    if not is_news(event.type, obj, known):
        return {"received": True, "duplicate": True}  # this event, or the answer to our own call, said it first
    remote = gateway.retrieve(payment_id=intent_id)
    try:
        with write_transaction(session):
            if session.get(WebhookEvent, event.id):
                return {"received": True, "duplicate": True}
            session.add(WebhookEvent(id=event.id, type=event.type))
            payment = effects.locked_payment(session, gateway_payment_id=intent_id)
            if event.type == "payment_intent.payment_failed" and remote.status == "requires_payment_method":
                effects.apply_failure(session, payment)
            owed = effects.apply_state(session, payment, remote)
    except IntegrityError:
        return {"received": True, "duplicate": True}  # the same event, delivered concurrently
    run_after_commit(session, gateway, owed)
    return {"received": True, "handled": True}
