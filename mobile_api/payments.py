"""Payments: the provider's webhook, a payer's view of a payment, and paying in the sandbox."""
from flask import current_app, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.exceptions import BadRequest, Conflict, Invalid, NotFound
from mobile_api.http import BEARER, HeaderParams, json_response, payment_gateway, require_principal
from mobile_api.openapi import operation
from payments import webhook_secret, webhooks
from payments.exceptions import PaymentNotReady
from payments.models import LedgerPublic, Payment, PaymentPublic
from payments.sandbox import SandboxGateway
from payments.services import apply_answer, ledger_of, payment_public

bp = APIBlueprint("payments", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="payments", description="Payments with their ledgers, the sandbox's test cards, and the provider's webhook.")])


class PaymentPath(BaseModel):
    payment_id: int


class CardBody(BaseModel):
    """A sandbox test card."""

    card_number: str = Field(min_length=12, max_length=23,
                             description="test cards: 4242424242424242 pays, 4000000000000002 is declined")


class WebhookHeaders(HeaderParams):
    # No length limit here: any header that is not a valid signature is the same 400 invalid_signature.
    stripe_signature: str = Field(default="", alias="Stripe-Signature",
                                  description="the provider's signature of the body (400 if missing or wrong)")


class WebhookReceipt(BaseModel):
    """What the webhook did with an event."""

    received: bool
    handled: bool | None = Field(default=None, description="false for events of other systems")
    duplicate: bool | None = Field(default=None, description="true when what the event reports was applied "
                                                             "before: the same event, or the provider's own answer")


class PaymentDetail(PaymentPublic):
    """A payment with its ledger."""

    payable_type: str
    payable_id: int
    ledger: list[LedgerPublic]


def _own_payment(payment_id: int) -> Payment:
    principal = require_principal()
    payment = get_session().get(Payment, payment_id, populate_existing=True)
    if payment is None or payment.user_id != principal.user_id:
        raise NotFound("payment_not_found", "No such payment.")
    return payment


def _detail(payment: Payment) -> PaymentDetail:
    ledger = ledger_of(get_session(), payment)
    return PaymentDetail(**payment_public(payment).model_dump(), payable_type=payment.payable_type,
                         payable_id=payment.payable_id, ledger=ledger)


@bp.post("/payments/webhook", **operation("receivePaymentWebhook", {200: WebhookReceipt}, raises=(BadRequest,)))
def webhook(header: WebhookHeaders):
    """Receive a Stripe event: signature checked (400 if bad), each event applied once."""
    answer = webhooks.receive(get_session(), payment_gateway(), payload=request.get_data(),
                              signature=header.stripe_signature or None,
                              secret=webhook_secret(current_app))
    return json_response(WebhookReceipt(**answer).model_dump(exclude_none=True))


@bp.get("/payments/<int:payment_id>", security=BEARER,
        **operation("getPayment", {200: PaymentDetail}, raises=(NotFound,)))
def get_payment(path: PaymentPath):
    """Return one of the caller's payments with its ledger."""
    return json_response(_detail(_own_payment(path.payment_id)))


@bp.post("/payments/<int:payment_id>/sandbox/confirm", security=BEARER, **operation(
    "confirmSandboxPayment", {200: PaymentDetail}, raises=(NotFound, Conflict, Invalid),
    example={"card_number": "4242424242424242"}))
def sandbox_confirm(path: PaymentPath, body: CardBody):
    """Pay a payment with a sandbox test card (embedded default only; 404 with Stripe)."""
    gateway = payment_gateway()
    if not isinstance(gateway, SandboxGateway):
        raise NotFound("not_found", "The sandbox is not active; pay through Stripe.")
    payment = _own_payment(path.payment_id)
    if payment.gateway_payment_id is None:
        raise PaymentNotReady()
    get_session().commit()
    answer = gateway.confirm(payment_id=payment.gateway_payment_id, card_number=body.card_number)
    # Applied from the answer, as the runner applies its own calls': the webhook follows with no news.
    return json_response(_detail(apply_answer(get_session(), gateway, payment.id, answer)))
