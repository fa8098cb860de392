"""The interface every payment provider implements, and the values it answers with.

Stripe and the sandbox implement it today. Stripe does not serve merchants based in mainland
China, so a domestic provider (Alipay or WeChat Pay direct) is added as another class with the
same methods; nothing else in the platform changes.
"""
from dataclasses import dataclass, field
from typing import Literal, Protocol

CaptureMethod = Literal["automatic", "manual"]


@dataclass(frozen=True)
class GatewayPayment:
    """A payment as the provider sees it (Stripe's PaymentIntent vocabulary)."""
    id: str
    status: str  # requires_payment_method, requires_capture, processing, succeeded, canceled, ...
    amount: int
    currency: str
    amount_received: int = 0
    amount_refunded: int = 0
    client_secret: str | None = None
    fee: int = 0
    refunds: list[tuple[str, int]] = field(default_factory=list)
    decline_code: str | None = None  # set when an off-session attempt was declined


@dataclass(frozen=True)
class SavedMethod:
    """A payment method the provider keeps for a customer, for off-session use."""
    id: str
    brand: str
    last4: str


@dataclass(frozen=True)
class OffSession:
    """Pay with a saved method while the payer is not there (rides, charging, one-tap)."""
    customer_id: str
    method_id: str


@dataclass(frozen=True)
class GatewayRefund:
    id: str
    payment_id: str
    amount: int
    status: str


class PaymentGateway(Protocol):
    """What the platform needs from a payment provider; every creating call is idempotent."""

    name: str

    def create_payment(self, *, amount: int, currency: str, capture_method: CaptureMethod,
                       metadata: dict[str, str], idempotency_key: str,
                       off_session: OffSession | None = None) -> GatewayPayment: ...

    def create_customer(self, *, user_id: int, idempotency_key: str) -> str: ...

    def save_method(self, *, customer_id: str, method: str, idempotency_key: str) -> SavedMethod:
        """Save a method for off-session use (Stripe: a confirmed SetupIntent); PaymentDeclined if refused."""

    def remove_method(self, *, method_id: str) -> None: ...

    def capture(self, *, payment_id: str, amount: int, idempotency_key: str) -> GatewayPayment: ...

    def cancel(self, *, payment_id: str, idempotency_key: str) -> GatewayPayment: ...

    def refund(self, *, payment_id: str, amount: int | None, idempotency_key: str) -> GatewayRefund: ...

    def retrieve(self, *, payment_id: str) -> GatewayPayment: ...
