"""Secrets: no public key outside development, one derived key per purpose, rotation keeps tickets."""
import jwt
import pytest
from sqlmodel import select

from backend import create_app, keys
from backend.config import DEV_SECRET_KEY, InsecureSettings
from booking.sites.models import Resource
from payments import webhook_secret
from tests.conftest import BASE_CONFIG
from tests.factories import bearer, make_event, make_org, make_owned, make_site, make_user

NEW_KEY = "rotated-key-0123456789abcdef0123456789abcdef0123456789abcdef01"


@pytest.mark.parametrize("settings", [
    {"SECRET_KEY": DEV_SECRET_KEY},
    {"SECRET_KEY": DEV_SECRET_KEY, "APP_ENV": "production"},
    {"SECRET_KEY": "short"},
    {"SECRET_KEY": NEW_KEY, "SECRET_KEY_PREVIOUS": DEV_SECRET_KEY},
])
def test_refuses_to_start_outside_development_with_a_public_or_weak_key(tmp_path, monkeypatch, settings):
    monkeypatch.delenv("APP_ENV", raising=False)
    with pytest.raises(InsecureSettings):
        create_app({**BASE_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", **settings})


def test_development_mode_accepts_the_development_key(tmp_path):
    app = create_app({**BASE_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                      "SECRET_KEY": DEV_SECRET_KEY, "APP_ENV": "development"})
    app.extensions["db_engine"].dispose()


def test_a_token_minted_offline_with_the_development_key_is_refused(app, client, session):
    assert app.config["APP_ENV"] != "development"
    admin = make_user(session, roles=("citizen", "admin"))
    claims = jwt.decode(bearer(app, session, admin)["Authorization"].split()[1],
                        options={"verify_signature": False})
    dev = keys.derive(DEV_SECRET_KEY, keys.ACCESS_TOKEN)
    forged = [jwt.encode(claims, DEV_SECRET_KEY, algorithm="HS256"),
              jwt.encode(claims, dev.secret, algorithm="HS256", headers={"kid": dev.kid})]
    for token in forged:
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401 and answer.json["code"] == "invalid_token"


def test_each_purpose_has_its_own_key():
    derived = [keys.derive(NEW_KEY, purpose) for purpose in (keys.ACCESS_TOKEN, keys.TICKET_CODE,
                                                             keys.SANDBOX_WEBHOOK)]
    assert len({k.secret for k in derived}) == 3 and len({k.kid for k in derived}) == 3
    assert all(NEW_KEY.encode() not in k.secret for k in derived)


def test_a_rotated_key_still_admits_old_tickets(app, client, session, monkeypatch):
    org = make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue", resources=[
        {"kind": "parking_bay", "capacity": 5, "attributes": {"price_fen_per_hour": 800}}])
    event = make_event(session, organisation=org, venue=venue)
    holder = make_user(session)
    owned = make_owned(session, user=holder, resource=session.exec(select(Resource)).first(), event=event,
                       vehicle_org=make_org(session, kind="fleet_operator"))
    holder_headers = bearer(app, session, holder)
    old_code = client.get("/api/v1/tickets", headers=holder_headers).json["items"][0]["code"]
    old_webhook = webhook_secret(app)
    old_key = app.config["SECRET_KEY"]

    monkeypatch.setitem(app.config, "SECRET_KEY", NEW_KEY)
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", old_key)
    new_code = client.get("/api/v1/tickets", headers=holder_headers).json["items"][0]["code"]
    assert new_code.split(".")[0] == old_code.split(".")[0] == str(owned["ticket"])
    assert new_code.split(".")[1] != old_code.split(".")[1]  # the key id changed with the key
    assert webhook_secret(app) != old_webhook
    gate = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    answer = client.post(f"/api/v1/organiser/events/{event.id}/check-ins", json={"code": old_code}, headers=gate)
    assert answer.json == {"result": "admitted"}
    answer = client.post(f"/api/v1/organiser/events/{event.id}/check-ins", json={"code": new_code}, headers=gate)
    assert answer.json == {"result": "already_checked_in"}
    for mangled in (new_code + ".x", new_code.replace(".", "..", 1), "." + new_code):
        answer = client.post(f"/api/v1/organiser/events/{event.id}/check-ins", json={"code": mangled}, headers=gate)
        assert answer.json == {"result": "invalid"}, mangled

    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", "")  # the old key retired: its codes are void
    answer = client.post(f"/api/v1/organiser/events/{event.id}/check-ins", json={"code": old_code}, headers=gate)
    assert answer.json == {"result": "invalid"}
