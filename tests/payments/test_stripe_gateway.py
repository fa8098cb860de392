"""The real stripe SDK against localstripe, a Stripe stand-in run as a local process.

localstripe covers create, confirm, capture, cancel and refunds of PaymentIntents. It ignores
Idempotency-Key and omits `amount_received`, so idempotent replay is tested against the sandbox
(test_sandbox.py) and here we check that every creating call sends a key.
"""
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import stripe
from stripe import StripeClient

from payments.stripe_gateway import StripeGateway

API_KEY = "sk_test_localstripe"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def localstripe():
    """Run localstripe on a free loopback port; yield its base URL."""
    command = shutil.which("localstripe", path=str(Path(sys.executable).parent))
    assert command, "localstripe is in requirements-dev.txt"
    port = _free_port()
    process = subprocess.Popen([command, "--port", str(port), "--from-scratch"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


class RecordingClient(stripe.RequestsClient):
    """Remembers the headers of every request the SDK sends."""

    def __init__(self):
        super().__init__()
        self.sent = []

    def request(self, method, url, headers, post_data=None):
        self.sent.append((method, url, dict(headers or {})))
        return super().request(method, url, headers, post_data)


@pytest.fixture
def recorder():
    return RecordingClient()


@pytest.fixture
def gateway(localstripe, recorder):
    return StripeGateway(API_KEY, api_base=localstripe, http_client=recorder)


@pytest.fixture
def visa(localstripe):
    client = StripeClient(API_KEY, base_addresses={"api": localstripe})
    return client.v1.payment_methods.create({"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}).id


def test_create_and_confirm_automatic(gateway, visa):
    payment = gateway.create_payment(amount=3550, currency="CNY", capture_method="automatic",
                                     metadata={"payable_type": "booking", "payable_id": "1"},
                                     idempotency_key="booking-1-payment")
    assert payment.status == "requires_payment_method" and payment.client_secret
    assert payment.amount == 3550 and payment.currency == "CNY"
    assert gateway.confirm(payment_id=payment.id, payment_method=visa).status == "succeeded"


def test_authorise_then_capture_final_amount_then_refund(gateway, visa):
    payment = gateway.create_payment(amount=9000, currency="CNY", capture_method="manual",
                                     metadata={}, idempotency_key="ride-7-payment")
    assert gateway.confirm(payment_id=payment.id, payment_method=visa).status == "requires_capture"
    captured = gateway.capture(payment_id=payment.id, amount=6420, idempotency_key="ride-7-capture")
    assert captured.status == "succeeded"
    refund = gateway.refund(payment_id=payment.id, amount=1000, idempotency_key="ride-7-refund")
    assert refund.amount == 1000 and refund.status == "succeeded"


def test_cancel_authorisation(gateway, visa):
    payment = gateway.create_payment(amount=5000, currency="CNY", capture_method="manual",
                                     metadata={}, idempotency_key="order-3-payment")
    gateway.confirm(payment_id=payment.id, payment_method=visa)
    assert gateway.cancel(payment_id=payment.id, idempotency_key="order-3-cancel").status == "canceled"


def test_every_creating_call_sends_an_idempotency_key(gateway, visa, recorder):
    payment = gateway.create_payment(amount=5000, currency="CNY", capture_method="manual",
                                     metadata={}, idempotency_key="order-4-payment")
    gateway.confirm(payment_id=payment.id, payment_method=visa)
    gateway.capture(payment_id=payment.id, amount=5000, idempotency_key="order-4-capture")
    gateway.refund(payment_id=payment.id, amount=100, idempotency_key="order-4-refund")
    keys = {url.rsplit("/", 1)[-1]: headers.get("Idempotency-Key")
            for method, url, headers in recorder.sent if method == "post"}
    assert keys["payment_intents"] == "order-4-payment"
    assert keys["capture"] == "order-4-capture"
    assert keys["refunds"] == "order-4-refund"
