"""Payments: the provider's webhook, a payer's view of a payment, and paying in the sandbox."""
from flask import current_app, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.errors import ApiError
from payments import webhook_secret, webhooks
from payments.models import LedgerPublic, Payment, PaymentPublic
from payments.sandbox import SandboxGateway
from payments.services import ledger_of, payment_public
from mobile_api.http import BEARER, json_response, payment_gateway, require_principal

bp = APIBlueprint("payments", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="payments")])


class PaymentPath(BaseModel):
    payment_id: int


class CardBody(BaseModel):
    card_number: str = Field(min_length=12, max_length=23,
                             description="test cards: 4242424242424242 pays, 4000000000000002 is declined")


class PaymentDetail(PaymentPublic):
    payable_type: str
    payable_id: int
    ledger: list[LedgerPublic]


def _own_payment(payment_id: int) -> Payment:
    principal = require_principal()
    payment = get_session().get(Payment, payment_id, populate_existing=True)
    if payment is None or payment.user_id != principal.user_id:
        raise ApiError(404, "payment_not_found", "No such payment.")
    return payment


def _detail(payment: Payment) -> PaymentDetail:
    ledger = ledger_of(get_session(), payable_type=payment.payable_type, payable_id=payment.payable_id)
    return PaymentDetail(**payment_public(payment).model_dump(), payable_type=payment.payable_type,
                         payable_id=payment.payable_id, ledger=ledger)


@bp.post("/payments/webhook")
def webhook():
    """Receive a Stripe event: signature checked (400 if bad), each event applied once."""
    answer = webhooks.receive(get_session(), payment_gateway(), payload=request.get_data(),
                              signature=request.headers.get("Stripe-Signature"),
                              secret=webhook_secret(current_app))
    return json_response(answer)


@bp.get("/payments/<int:payment_id>", responses={200: PaymentDetail}, security=BEARER)
def get_payment(path: PaymentPath):
    """Return one of the caller's payments with its ledger."""
    return json_response(_detail(_own_payment(path.payment_id)))


@bp.post("/payments/<int:payment_id>/sandbox/confirm", responses={200: PaymentDetail}, security=BEARER)
def sandbox_confirm(path: PaymentPath, body: CardBody):
    """Pay a payment with a sandbox test card (embedded default only; 404 with Stripe)."""
    gateway = payment_gateway()
    if not isinstance(gateway, SandboxGateway):
        raise ApiError(404, "not_found", "The sandbox is not active; pay through Stripe.")
    payment = _own_payment(path.payment_id)
    get_session().commit()
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=body.card_number)
    return json_response(_detail(get_session().get(Payment, payment.id, populate_existing=True)))
