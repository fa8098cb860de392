"""Stripe PaymentIntents through the official SDK; `api_base` points it at a local stand-in."""
from contextlib import contextmanager

import stripe
from stripe import StripeClient
from stripe.params import PaymentIntentCreateParams, RefundCreateParams, SetupIntentCreateParams

from payments.exceptions import PaymentDeclined, ProviderRefused
from payments.gateway import CaptureMethod, GatewayPayment, GatewayRefund, OffSession, SavedMethod

DEFAULT_METHOD_TYPES = ("card",)


def _plain(obj) -> dict:
    """Return a Stripe object as a plain dict (the SDK's objects are not dicts)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def payment_from_intent(intent, refunds=(), decline_code: str | None = None) -> GatewayPayment:
    """Return the gateway view of a Stripe PaymentIntent (from the API or from an event)."""
    intent, refunds = _plain(intent), [_plain(r) for r in refunds]
    return GatewayPayment(
        id=intent["id"], status=intent["status"], amount=intent["amount"],
        currency=intent["currency"].upper(), amount_received=intent.get("amount_received") or 0,
        amount_refunded=sum(r["amount"] for r in refunds if r["status"] == "succeeded"),
        client_secret=intent.get("client_secret"),
        refunds=[(r["id"], r["amount"]) for r in refunds if r["status"] == "succeeded"],
        decline_code=decline_code)


@contextmanager
def _refusals():
    """Turn Stripe's refusal of a request (4xx) into ProviderRefused; outages stay errors to retry."""
    try:
        yield
    except stripe.InvalidRequestError as exc:
        raise ProviderRefused(exc.code or "provider_refused", exc.user_message or str(exc)) from exc


class StripeGateway:
    """Payments through Stripe (card, Alipay, WeChat Pay as payment method types)."""

    name = "stripe"

    def __init__(self, api_key: str, *, api_base: str | None = None,
                 payment_method_types: tuple[str, ...] = DEFAULT_METHOD_TYPES, http_client=None):
        # Retries are safe: every creating call carries an idempotency key.
        self._client = StripeClient(api_key, base_addresses={"api": api_base} if api_base else None,
                                    max_network_retries=2,
                                    http_client=http_client)
        self._method_types = list(payment_method_types)

    def create_payment(self, *, amount: int, currency: str, capture_method: CaptureMethod,
                       metadata: dict[str, str], idempotency_key: str,
                       off_session: OffSession | None = None) -> GatewayPayment:
        params: PaymentIntentCreateParams = {
                  "amount": amount, "currency": currency.lower(), "capture_method": capture_method,
                  # The API takes payment_method_types; the SDK's params type leaves it out.
                  "payment_method_types": self._method_types,  # type: ignore[typeddict-unknown-key]
                  "metadata": metadata}
        if off_session is not None:
            params |= {"customer": off_session.customer_id, "payment_method": off_session.method_id,
                       "confirm": True, "off_session": True}
        try:
            intent = self._client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        except stripe.CardError as exc:  # declined off-session: the intent exists, waiting for a method
            assert exc.error is not None  # a card error always carries the API's error object
            return payment_from_intent(exc.error.payment_intent, decline_code=exc.code or "card_declined")
        return payment_from_intent(intent)

    def create_customer(self, *, user_id: int, idempotency_key: str) -> str:
        customer = self._client.v1.customers.create({"metadata": {"user_id": str(user_id)}},
                                                    {"idempotency_key": idempotency_key})
        return customer["id"]

    def save_method(self, *, customer_id: str, method: str, idempotency_key: str) -> SavedMethod:
        """Attach a method the app tokenised (`pm_...`) through a confirmed off-session SetupIntent."""
        try:
            params: SetupIntentCreateParams = {  # type: ignore[typeddict-unknown-key]  # see create_payment
                "customer": customer_id, "usage": "off_session", "payment_method_types": self._method_types}
            setup = self._client.v1.setup_intents.create(params, {"idempotency_key": idempotency_key})
            setup = self._client.v1.setup_intents.confirm(setup["id"], {"payment_method": method})
        except stripe.CardError as exc:
            raise PaymentDeclined(exc.user_message or "The card was declined.") from exc
        if setup["status"] != "succeeded":
            raise PaymentDeclined("The payment method could not be saved ({status}).",
                                  params={"status": setup["status"]})
        card = _plain(self._client.v1.payment_methods.retrieve(method)).get("card") or {}
        return SavedMethod(id=method, brand=card.get("brand", "card"), last4=card.get("last4", ""))

    def remove_method(self, *, method_id: str) -> None:
        with _refusals():
            self._client.v1.payment_methods.detach(method_id)

    def confirm(self, *, payment_id: str, payment_method: str) -> GatewayPayment:
        """Attach a payment method and confirm (what the app's payment sheet does; used in tests)."""
        self._client.v1.payment_intents.update(payment_id, {"payment_method": payment_method})
        return payment_from_intent(self._client.v1.payment_intents.confirm(payment_id))

    def capture(self, *, payment_id: str, amount: int, idempotency_key: str) -> GatewayPayment:
        with _refusals():
            intent = self._client.v1.payment_intents.capture(
                payment_id, {"amount_to_capture": amount}, {"idempotency_key": idempotency_key})
        return payment_from_intent(intent)

    def cancel(self, *, payment_id: str, idempotency_key: str) -> GatewayPayment:
        with _refusals():
            intent = self._client.v1.payment_intents.cancel(payment_id, None,
                                                             {"idempotency_key": idempotency_key})
        return payment_from_intent(intent)

    def refund(self, *, payment_id: str, amount: int | None, idempotency_key: str) -> GatewayRefund:
        params: RefundCreateParams = {"payment_intent": payment_id}
        if amount:
            params["amount"] = amount
        with _refusals():
            refund = self._client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        return GatewayRefund(id=refund["id"], payment_id=payment_id, amount=refund["amount"],
                             status=refund["status"])

    def retrieve(self, *, payment_id: str) -> GatewayPayment:
        intent = self._client.v1.payment_intents.retrieve(payment_id)
        refunds = self._client.v1.refunds.list({"payment_intent": payment_id}).data
        return payment_from_intent(intent, refunds)
