"""The webhook endpoint with events signed by the stripe library's own helper."""
import json
import time

import pytest
from stripe import WebhookSignature

from payments import services, webhook_secret
from payments.models import PaymentStatus

URL = "/api/v1/payments/webhook"
VISA = "4242424242424242"


@pytest.fixture
def lost_events(gateway, monkeypatch):
    """Keep the sandbox's events instead of delivering them, as if the network lost them."""
    kept = []
    monkeypatch.setattr(gateway, "_deliver", lambda payload, signature: kept.append(payload))
    return kept


@pytest.fixture
def paid_at_provider(session, gateway, payer, probe, lost_events):
    """A payment the provider took money for, whose success event has not arrived yet."""
    payment = services.start_payment(session, gateway, payable_type="probe", payable_id=7,
                                      user_id=payer[0].id, amount=2000)
    gateway.confirm(payment_id=payment.gateway_payment_id, card_number=VISA)
    assert services.payment_for(session, "probe", 7).status == PaymentStatus.pending
    return payment, lost_events[-1]


def post(client, app, payload: str, *, timestamp=None, secret=None, header=True):
    signature = WebhookSignature.generate_signature_header(
        payload, secret or webhook_secret(app), timestamp=timestamp)
    headers = {"Stripe-Signature": signature} if header else {}
    return client.post(URL, data=payload, headers=headers, content_type="application/json")


def event(type_, intent_id, event_id="evt_manual_1"):
    return json.dumps({"id": event_id, "object": "event", "type": type_, "created": int(time.time()),
                       "data": {"object": {"id": intent_id, "object": "payment_intent"}}})


def status(session):
    session.commit()  # end the test's read transaction: SQLite would keep showing its snapshot
    return services.payment_for(session, "probe", 7).status


def test_valid_event_applies_once(app, client, session, probe, paid_at_provider):
    _, payload = paid_at_provider
    first = post(client, app, payload)
    assert first.status_code == 200 and first.json["handled"] is True
    assert status(session) == PaymentStatus.succeeded and probe.succeeded == [7]
    again = post(client, app, payload)
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert probe.succeeded == [7]


@pytest.mark.parametrize("tamper", ["payload", "stale", "missing", "secret"])
def test_bad_signatures_change_nothing(app, client, session, probe, paid_at_provider, tamper):
    _, payload = paid_at_provider
    if tamper == "payload":
        answer = client.post(URL, data=payload.replace("evt_", "evt_x"), content_type="application/json",
                             headers={"Stripe-Signature": WebhookSignature.generate_signature_header(
                                 payload, webhook_secret(app))})
    elif tamper == "stale":
        answer = post(client, app, payload, timestamp=int(time.time()) - 3600)
    elif tamper == "missing":
        answer = post(client, app, payload, header=False)
    else:
        answer = post(client, app, payload, secret="whsec_someone_else")
    assert answer.status_code == 400 and answer.json["code"] == "invalid_signature"
    assert answer.content_type == "application/problem+json"
    assert status(session) == PaymentStatus.pending and probe.succeeded == []


def test_late_failure_never_downgrades(app, client, session, probe, paid_at_provider):
    payment, payload = paid_at_provider
    post(client, app, payload)
    late = post(client, app, event("payment_intent.payment_failed", payment.gateway_payment_id, "evt_late"))
    assert late.status_code == 200
    assert status(session) == PaymentStatus.succeeded and probe.failed == []


def test_failure_news_after_a_retry_succeeded_changes_nothing(app, client, session, probe, paid_at_provider):
    payment, payload = paid_at_provider
    # The failure of an earlier attempt arrives first; the provider already holds the money.
    post(client, app, event("payment_intent.payment_failed", payment.gateway_payment_id, "evt_old"))
    assert probe.failed == []
    post(client, app, payload)
    assert status(session) == PaymentStatus.succeeded and probe.succeeded == [7]


def test_unhandled_types_and_strangers_get_200(app, client, session, paid_at_provider):
    assert post(client, app, event("customer.created", "cus_1", "evt_a")).json == {
        "received": True, "handled": False}
    stranger = post(client, app, event("payment_intent.succeeded", "pi_not_ours", "evt_b"))
    assert stranger.status_code == 200 and stranger.json["handled"] is False
    assert status(session) == PaymentStatus.pending


def test_malformed_body_with_valid_signature(app, client):
    answer = post(client, app, "{not json")
    assert answer.status_code == 400 and answer.json["code"] in ("invalid_signature", "malformed_json")
