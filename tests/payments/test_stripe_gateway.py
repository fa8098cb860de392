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
from types import SimpleNamespace

import pytest
import stripe
from stripe import StripeClient

import payments
from payments.exceptions import ProviderRefused
from payments.gateway import OffSession
from payments.sandbox import SandboxGateway
from payments.stripe_gateway import StripeGateway

API_KEY = "sk_test_localstripe"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, timeout_s: float = 20) -> bool:
    """Wait until the port answers; False if the process died or never listened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    """Run localstripe on a free loopback port for the whole session; yield its base URL."""
    command = shutil.which("localstripe", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.skip("localstripe is not installed: pip install -r requirements-dev.txt")
    port = _free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("wb") as out:
        process = subprocess.Popen([command, "--port", str(port), "--from-scratch"],
                                   stdout=out, stderr=subprocess.STDOUT)
    if not _wait_for(port, process):
        process.kill()
        process.wait(timeout=10)
        pytest.skip(f"localstripe did not start: {log.read_text()[-500:]}")
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


def test_retrieve_reads_refunds_back(gateway, visa):
    payment = gateway.create_payment(amount=4000, currency="CNY", capture_method="automatic",
                                     metadata={}, idempotency_key="order-5-payment")
    gateway.confirm(payment_id=payment.id, payment_method=visa)
    refund = gateway.refund(payment_id=payment.id, amount=None, idempotency_key="order-5-refund")
    seen = gateway.retrieve(payment_id=payment.id)
    assert seen.status == "succeeded" and seen.amount_refunded == 4000
    assert seen.refunds == [(refund.id, 4000)]


def test_stripe_key_selects_stripe_at_the_configured_base(localstripe):
    app = SimpleNamespace(extensions={}, config={
        "STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": localstripe,
        "STRIPE_PAYMENT_METHOD_TYPES": "card, alipay,wechat_pay"})
    chosen = payments.make_gateway(app)
    assert isinstance(chosen, StripeGateway) and chosen.name == "stripe"
    assert payments.payment_method_types(app) == ("card", "alipay", "wechat_pay")
    created = chosen.create_payment(
        amount=100, currency="CNY", capture_method="automatic", metadata={},
        idempotency_key="ride-9-payment")
    assert created.id.startswith("pi_") and created.currency == "CNY"


def test_without_a_key_the_sandbox_signs_with_a_secret_from_secret_key(app):
    assert isinstance(app.extensions["payment_gateway"], SandboxGateway)
    secret = payments.webhook_secret(app)
    assert secret.startswith("whsec_") and app.config["SECRET_KEY"] not in secret


def test_wallet_saves_a_method_and_authorises_off_session(gateway, visa):
    customer = gateway.create_customer(user_id=7, idempotency_key="user-7-customer")
    saved = gateway.save_method(customer_id=customer, method=visa, idempotency_key="user-7-setup-1")
    assert saved.id == visa and saved.last4 == "4242"
    payment = gateway.create_payment(amount=2400, currency="CNY", capture_method="manual", metadata={},
                                     idempotency_key="ride-11-payment",
                                     off_session=OffSession(customer_id=customer, method_id=saved.id))
    assert payment.status == "requires_capture" and payment.decline_code is None


def test_a_refusal_is_an_answer_not_an_outage(gateway, visa):
    payment = gateway.create_payment(amount=4000, currency="CNY", capture_method="automatic",
                                     metadata={}, idempotency_key="order-12-payment")
    gateway.confirm(payment_id=payment.id, payment_method=visa)
    with pytest.raises(ProviderRefused):
        gateway.cancel(payment_id=payment.id, idempotency_key="order-12-cancel")
