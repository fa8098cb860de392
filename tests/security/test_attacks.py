"""Hostile input: injection in every list filter, floods, oversized bodies, forged webhooks, leaky logs."""
import json
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from stripe import WebhookSignature

from backend.dbtypes import utcnow
from payments import webhook_secret
from tests.factories import PASSWORD, bearer, make_event, make_org, make_site, make_user

HOSTILE = [
    "' OR 1=1 --", "1; DROP TABLE users; --", "%", "_", "%_%", "\\", "'", '"', "重庆' OR '1'='1",
    "\u202e\u0301\U0001f697", "x" * 5000, "NaN", "nan", "inf", "-Infinity", "1e309", "-0", "9" * 40,
    "29.5,106.5", "null", "[]", "{}", "a\x00b",
]
SOON, LATER = (utcnow() + timedelta(hours=1)).isoformat(), (utcnow() + timedelta(hours=5)).isoformat()
# Each list endpoint with a valid query; every parameter is replaced with each hostile value.
LISTS = {
    "/api/v1/sites": {"lat": 29.56, "lon": 106.57, "radius_m": 5000, "kind": "charging_station",
                      "limit": 10, "cursor": "bzo1"},
    "/api/v1/availability": {"lat": 29.56, "lon": 106.57, "radius_m": 5000, "kind": "charging_station",
                             "from": SOON, "to": LATER, "resource_kind": "charger", "min_power_kw": 100,
                             "connector": "GB/T DC", "voltage_class": 800, "battery_model": "b",
                             "car_model": "c", "limit": 5},
    "/api/v1/sites/{site}/availability": {"from": SOON, "to": LATER, "resource_kind": "charger",
                                          "min_power_kw": 100, "connector": "GB/T DC",
                                          "voltage_class": 400, "battery_model": "b", "car_model": "c"},
    "/api/v1/events": {"from": SOON, "category": "motorsport", "lat": 29.56, "lon": 106.57,
                       "radius_m": 10000, "limit": 10, "cursor": "bzo1"},
    "/api/v1/car-models": {"maker": "byd"},
    "/api/v1/bookings": {"limit": 10, "cursor": "bzo1"},
    "/api/v1/me/timeline": {"limit": 10, "cursor": "bzo1"},
    "/api/v1/ops/fleet": {"bbox": "29,106,30,107"},
    "/api/v1/ops/metrics": {"window": "1h"},
    "/api/v1/organiser/events/{event}/sales": {"format": "json"},
}


@pytest.fixture
def city(app, session):
    """A site and an event, and a user with every staff role to read every list."""
    org = make_org(session)
    site = make_site(session, organisation=org, kind="venue")
    event = make_event(session, organisation=org, venue=site)
    user = make_user(session, roles=("citizen", "operator", "organiser", "site_operator", "admin"),
                     organisation=org)
    return {"site": site.id, "event": event.id, "headers": bearer(app, session, user)}


def counts(app) -> dict:
    """Row counts of the tables an injection would most like to change."""
    with app.extensions["db_engine"].connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("users", "sites", "events", "organisations")}


def answered_as_data(answer) -> bool:
    """A 4xx problem, or a normal JSON answer; never a 5xx."""
    if answer.status_code >= 500:
        return False
    if answer.status_code >= 400:
        return answer.content_type == "application/problem+json" and "code" in answer.json
    return answer.mimetype in ("application/json", "text/csv")


@pytest.mark.parametrize("path", LISTS)
def test_hostile_filters_are_answered_as_data(app, client, city, path):
    """Every filter of every list takes SQL fragments, wildcards, unicode, huge and non-finite numbers."""
    before, url = counts(app), path.format(**city)
    bad = []
    for name in LISTS[path]:
        for value in HOSTILE:
            answer = client.get(url, query_string={**LISTS[path], name: value}, headers=city["headers"])
            if not answered_as_data(answer):
                bad.append((name, value[:40], answer.status_code))
    assert bad == []
    assert counts(app) == before


@pytest.mark.parametrize("url", ["/api/v1/sites/9223372036854775808", "/api/v1/events/2147483648",
                                 "/api/v1/bookings/99999999999999999999999"])
def test_ids_beyond_the_column_are_404(client, city, url):
    """Path ids too large for the database are no such object, not a driver overflow."""
    answer = client.get(url, headers=city["headers"])
    assert answer.status_code == 404 and answer.content_type == "application/problem+json"


@pytest.mark.parametrize("body", [{"organisation_id": 2**63}, {"name_en": "a\x00b"}])
def test_oversized_ids_and_nul_in_bodies_are_422(client, city, body):
    """Body ids too large for the database, and NUL, which PostgreSQL text cannot hold, are 422."""
    answer = client.post("/api/v1/manage/sites", headers=city["headers"], json={
        "kind": "dealer", "name_zh": "店", "name_en": "Shop", "address_zh": "地址", "address_en": "Addr",
        "district": "yuzhong", "location": {"lat": 29.56, "lon": 106.57}, **body})
    assert answer.status_code == 422 and answer.json["code"] == "validation_error"


def test_patch_with_nulls_leaves_the_fields(client, city):
    """null in a PATCH means "unchanged", never an empty NOT NULL column (a 500)."""
    url = f"/api/v1/organiser/events/{city['event']}"
    answer = client.patch(url, headers=city["headers"], json={"title_zh": None, "starts_at": None})
    assert answer.status_code == 200 and answer.json["title"]


def test_bbox_of_malformed_numbers_is_422(client, city):
    """GET /api/v1/ops/fleet?bbox=1.2.3,1,2,3 should be refused as invalid input."""
    answer = client.get("/api/v1/ops/fleet", query_string={"bbox": "1.2.3,1,2,3"}, headers=city["headers"])
    assert answer.status_code == 422


def test_sign_up_is_rate_limited(app, client):
    """A flood of sign-ups from one address is cut off with 429 problem+json."""
    app.config["REGISTER_RATE_LIMIT"] = "3 per minute"
    try:
        answers = [client.post("/api/v1/auth/register", json={
            "email": f"flood{n}@example.com", "password": PASSWORD, "name": "Flood"}) for n in range(5)]
    finally:
        app.config["REGISTER_RATE_LIMIT"] = "1000 per minute"
    assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
    assert answers[-1].content_type == "application/problem+json" and answers[-1].json["code"] == "rate_limited"
    assert counts(app)["users"] == 3


def test_oversized_json_body_is_413_before_the_view(app, client, city):
    """An authenticated JSON body over the limit is refused whole; nothing is created."""
    item = {"tier_id": 1, "quantity": 1}
    body = json.dumps({"items": [item] * (app.config["MAX_CONTENT_LENGTH"] // 25)})
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]
    answer = client.post(f"/api/v1/events/{city['event']}/orders", data=body,
                         content_type="application/json", headers=city["headers"])
    assert answer.status_code == 413 and answer.json["code"] == "payload_too_large"
    assert client.get("/api/v1/me/timeline", headers=city["headers"]).json["items"] == []


@pytest.mark.parametrize("signature", [
    "garbage", "t=,v1=", "t=notanumber,v1=abc", "v1=" + "0" * 64, "t=1,v0=" + "0" * 64,
    "t=%d,v1=%s" % (time.time(), "f" * 64), "t=1," + "v1=a," * 2000,  # noqa: UP031
])
def test_malformed_webhook_signatures_are_refused(client, signature):
    """Signature headers that are not Stripe's format (the tests of payments cover wrong secrets)."""
    payload = json.dumps({"id": "evt_forged", "object": "event", "type": "payment_intent.succeeded",
                          "data": {"object": {"id": "pi_forged", "object": "payment_intent"}}})
    answer = client.post("/api/v1/payments/webhook", data=payload, content_type="application/json",
                         headers={"Stripe-Signature": signature})
    assert answer.status_code == 400 and answer.json["code"] == "invalid_signature"


def test_secrets_and_tokens_never_reach_the_logs(app, client, session, caplog):
    """Register, log in, refresh, pay and receive a webhook with every logger at DEBUG."""
    # Libraries such as SQLAlchemy set their own loggers' levels: lower every one of them.
    for name in ["", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    password = "Very-secret-passw0rd!"
    registered = client.post("/api/v1/auth/register", json={
        "email": "leak@example.com", "password": password, "name": "Leak"}).json
    logged_in = client.post("/api/v1/auth/login", json={"email": "leak@example.com", "password": password}).json
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": logged_in["refresh_token"]}).json
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    org = make_org(session)
    event = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    tier = client.get(f"/api/v1/events/{event.id}").json["tiers"][0]["id"]
    order = client.post(f"/api/v1/events/{event.id}/orders", headers=headers,
                        json={"items": [{"tier_id": tier, "quantity": 1}]}).json
    paid = client.post(f"/api/v1/payments/{order['payment']['id']}/sandbox/confirm",
                       json={"card_number": "4242424242424242"}, headers=headers)
    assert paid.status_code == 200 and paid.json["status"] == "succeeded"
    payload = json.dumps({"id": "evt_log", "object": "event", "type": "payment_intent.succeeded",
                          "created": int(time.time()), "data": {"object": {"id": "pi_x", "object": "payment_intent"}}})
    signed = WebhookSignature.generate_signature_header(payload, webhook_secret(app))
    assert client.post("/api/v1/payments/webhook", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": signed}).status_code == 200
    secrets = {"password": password, "secret key": app.config["SECRET_KEY"],
               "webhook secret": webhook_secret(app), "webhook signature": signed.split("v1=")[1]}
    for n, pair in enumerate((registered, logged_in, refreshed)):
        secrets[f"access token {n}"] = pair["access_token"]
        secrets[f"refresh token {n}"] = pair["refresh_token"]
        secrets[f"refresh secret {n}"] = pair["refresh_token"].split(".", 1)[1]
    assert caplog.records, "nothing was logged: the capture is not working"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert [name for name, value in secrets.items() if value in logged] == []
