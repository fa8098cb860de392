"""Payment refusals that code branches on."""
from backend.exceptions import Conflict, PaymentRequired


class ProviderRefused(Conflict):
    """The provider answered and refused the call (e.g. cancelling a payment that already succeeded)."""


class PaymentMethodRequired(PaymentRequired):
    """The payer has no saved payment method to authorise a pay-after service with."""

    def __init__(self, detail: str = "Save a payment method in your wallet first."):
        super().__init__("payment_method_required", detail)


class PaymentDeclined(PaymentRequired):
    """The provider declined the payer's payment method."""

    def __init__(self, detail: str = "The payment method was declined; use another one.", params: dict | None = None):
        super().__init__("payment_declined", detail, params=params)


class PaymentNotReady(Conflict):
    """The payment is recorded but the provider has not answered its create call yet."""

    def __init__(self):
        super().__init__("payment_not_ready", "The payment is still being set up; try again in a moment.")
