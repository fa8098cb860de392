"""Accounts: sign-up, login, refresh rotation and reuse, tokens, roles."""
import time

import jwt
import pytest

from backend import keys
from backend.accounts import tokens
from backend.exceptions import Unauthenticated
from tests.factories import PASSWORD, bearer, make_org, make_user


def _register(client, email="ana@example.com", password="s3cret-pass!"):
    return client.post("/api/v1/auth/register",
                       json={"email": email, "password": password, "name": "Ana"})


def test_register_login_me(client):
    created = _register(client)
    assert created.status_code == 201
    assert created.json["user"]["roles"] == ["citizen"]
    login = client.post("/api/v1/auth/login",
                        json={"email": "ANA@example.com", "password": "s3cret-pass!"})
    assert login.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json['access_token']}"})
    assert me.status_code == 200
    assert me.json["email"] == "ana@example.com"


def test_register_twice_is_conflict(client):
    _register(client)
    again = _register(client)
    assert again.status_code == 409
    assert again.json["code"] == "email_taken"


def test_wrong_password_and_unknown_email_are_401(client):
    _register(client)
    for email, password in (("ana@example.com", "wrong-password"), ("nobody@example.com", "x")):
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 401
        assert answer.json["code"] == "invalid_credentials"
        assert answer.content_type == "application/problem+json"


def test_refresh_rotates_and_reuse_revokes_family(client):
    tokens = _register(client).json
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json["code"] == "refresh_token_reused"
    # The rotated token belongs to the revoked family, so it is refused too.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": first.json["refresh_token"]})
    assert after.status_code == 401


def test_forged_refresh_token_is_refused(client):
    tokens = _register(client).json
    token_id = tokens["refresh_token"].split(".")[0]
    forged = client.post("/api/v1/auth/refresh", json={"refresh_token": f"{token_id}.guess"})
    assert forged.status_code == 401
    assert forged.json["code"] == "invalid_token"


def test_expired_tampered_none_and_wrong_key_tokens_are_refused(app, client):
    access = _register(client).json["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    key = keys.ring(app.config, keys.ACCESS_TOKEN).current
    expired = jwt.encode({**claims, "exp": int(time.time()) - 10}, key.secret, algorithm="HS256",
                         headers={"kid": key.kid})
    wrong_key = jwt.encode(claims, "another-key-of-sufficient-length-000000", algorithm="HS256",
                           headers={"kid": key.kid})
    raw_secret_key = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256", headers={"kid": key.kid})
    none_alg = jwt.encode({**claims, "roles": ["admin"]}, None, algorithm="none")
    head, body, sig = access.split(".")
    tampered = ".".join([head, body[:-2] + ("AA" if body[-2:] != "AA" else "BB"), sig])
    for token in (expired, wrong_key, raw_secret_key, none_alg, tampered, "not-a-jwt"):
        answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token
        assert answer.json["code"] == "invalid_token"
    assert client.get("/api/v1/me").json["code"] == "unauthenticated"


def test_admin_grants_staff_role_with_organisation(app, client, session):
    admin = make_user(session, roles=("citizen", "admin"))
    citizen = make_user(session)
    org = make_org(session, kind="fleet_operator")
    headers = bearer(app, session, admin)
    no_org = client.post(f"/api/v1/admin/users/{citizen.id}/roles", json={"role": "operator"},
                         headers=headers)
    assert no_org.status_code == 422
    granted = client.post(f"/api/v1/admin/users/{citizen.id}/roles",
                          json={"role": "operator", "organisation_id": org.id}, headers=headers)
    assert granted.status_code == 200
    assert set(granted.json["roles"]) == {"citizen", "operator"}
    assert granted.json["organisations"][0]["slug"] == org.slug


def test_only_admin_grants_roles(app, client, session):
    citizen = make_user(session)
    answer = client.post(f"/api/v1/admin/users/{citizen.id}/roles", json={"role": "admin"},
                         headers=bearer(app, session, citizen))
    assert answer.status_code == 403
    assert answer.json["code"] == "forbidden"


def test_unknown_role_is_validation_error(app, client, session):
    admin = make_user(session, roles=("admin",))
    answer = client.post(f"/api/v1/admin/users/{admin.id}/roles", json={"role": "emperor"},
                         headers=bearer(app, session, admin))
    assert answer.status_code == 422
    assert answer.json["errors"][0]["field"] == "role"


def test_login_is_rate_limited(app, client, session):
    make_user(session, email="rl@example.com")
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [client.post("/api/v1/auth/login",
                             json={"email": "rl@example.com", "password": PASSWORD}).status_code
                 for _ in range(5)]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "1000 per minute"
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]


def test_a_token_verified_once_is_still_refused_once_it_expires(app):
    ring = keys.ring(app.config, keys.ACCESS_TOKEN)
    principal = tokens.Principal(user_id=7, roles=frozenset({"citizen"}), organisation_ids=frozenset())
    token = tokens.issue_access_token(principal=principal, keys=ring, ttl_s=1)
    assert tokens.read_access_token(token, keys=ring) == principal
    assert tokens._verified.get((ring, token)), "the second read checks only the expiry"
    assert tokens.read_access_token(token, keys=ring) == principal
    time.sleep(1.1)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.read_access_token(token, keys=ring)
    rotated = keys.ring({**app.config, "SECRET_KEY": "a-new-key-" * 4}, keys.ACCESS_TOKEN)
    fresh = tokens.issue_access_token(principal=principal, keys=ring, ttl_s=60)
    tokens.read_access_token(fresh, keys=ring)
    with pytest.raises(Unauthenticated, match="not valid"):  # its key left the ring: verified afresh
        tokens.read_access_token(fresh, keys=rotated)
