"""The wallet: `/me/payment-methods` to save, list, choose the default and remove payment methods."""
import secrets

from flask import Response, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.exceptions import Invalid, NotFound
from mobile_api.http import BEARER, json_response, payment_gateway, require_principal
from mobile_api.idempotency import idempotent
from mobile_api.openapi import operation
from payments import wallet
from payments.exceptions import PaymentDeclined
from payments.models import PaymentMethodPublic
from payments.sandbox import SandboxGateway

bp = APIBlueprint("wallet", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="wallet", description="Saved payment methods and the default that rides, charging and one tap charge.")])


class MethodPath(BaseModel):
    method_id: int


class MethodCreate(BaseModel):
    """A payment method to save: a sandbox test card, or the `pm_` id Stripe's payment sheet made."""

    card_number: str | None = Field(default=None, min_length=12, max_length=23,
                                    description="sandbox test card: 4242424242424242 saves and pays, "
                                                "4000000000000341 saves then declines, 4000000000000002 is declined")
    payment_method: str | None = Field(default=None, min_length=3, max_length=255, pattern=r"^pm_[A-Za-z0-9_]+$",
                                       description="Stripe: the PaymentMethod id the app's payment sheet created")
    make_default: bool = False


class MethodList(BaseModel):
    """The caller's saved payment methods, newest first."""

    items: list[PaymentMethodPublic]


def _method_reference(body: MethodCreate) -> str:
    """Return what the active provider saves: a test card in the sandbox, a `pm_` id with Stripe."""
    sandbox = isinstance(payment_gateway(), SandboxGateway)
    reference = body.card_number if sandbox else body.payment_method
    if reference is None:
        field = "card_number" if sandbox else "payment_method"
        raise Invalid("validation_error", "Send {field} to save a payment method.", params={"field": field},
                      errors=[{"field": field, "message": "required", "type": "missing"}])
    return reference


def _listing(user_id: int) -> Response:
    return json_response(MethodList(items=wallet.list_methods(get_session(), payment_gateway(), user_id=user_id)))


@bp.get("/me/payment-methods", security=BEARER, **operation("listPaymentMethods", {200: MethodList}))
def list_methods():
    """The caller's saved payment methods, newest first, with the default marked."""
    return _listing(require_principal().user_id)


@bp.post("/me/payment-methods", security=BEARER, **operation(
    "savePaymentMethod", {201: PaymentMethodPublic}, raises=(Invalid, PaymentDeclined), idempotent=True,
    example={"card_number": "4242424242424242", "make_default": True}))
@idempotent
def save_method(body: MethodCreate):
    """Save a payment method for off-session use; the first one is the default. 402 payment_declined if refused."""
    principal = require_principal()
    key = request.headers.get("Idempotency-Key") or secrets.token_hex(16)
    saved = wallet.save_method(get_session(), payment_gateway(), user_id=principal.user_id,
                               method=_method_reference(body), make_default=body.make_default,
                               idempotency_key=f"user-{principal.user_id}-setup-{key}")
    return json_response(saved, 201)


@bp.post("/me/payment-methods/<int:method_id>/default", security=BEARER,
         **operation("choosePaymentMethod", {200: MethodList}, raises=(NotFound,)))
def make_default(path: MethodPath):
    """Charge this method from now on."""
    principal = require_principal()
    wallet.set_default(get_session(), payment_gateway(), user_id=principal.user_id, method_id=path.method_id)
    return _listing(principal.user_id)


@bp.delete("/me/payment-methods/<int:method_id>", security=BEARER,
           **operation("removePaymentMethod", {200: MethodList}, raises=(NotFound,)))
def remove_method(path: MethodPath):
    """Remove a saved method; the newest other one becomes the default."""
    principal = require_principal()
    wallet.remove_method(get_session(), payment_gateway(), user_id=principal.user_id, method_id=path.method_id)
    return _listing(principal.user_id)
