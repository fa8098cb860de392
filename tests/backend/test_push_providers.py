"""FCM (HTTP v1) and APNs (HTTP/2, JWT provider token) behind the push interface, against local stand-ins.

The stand-ins speak the providers' documented shapes: FCM's OAuth2 token exchange for a signed
service-account assertion, `messages:send` and its error bodies (`google.firebase.fcm.v1.FcmError`);
APNs over HTTP/2 (prior knowledge on loopback) with `authorization: bearer <ES256 JWT>`,
`apns-topic`, and `{"reason": ...}` error bodies.
"""
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import h2.config
import h2.connection
import h2.events
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.notifications import services
from backend.notifications.apns import ApnsPush
from backend.notifications.fcm import SCOPE, FcmPush
from backend.notifications.models import DeliveryStatus, Device, NotificationKind, PushDelivery
from backend.notifications.push import PushNotConfigured, providers_from_config
from tests.factories import bearer, make_user

PORTS = range(18600, 18700)
PROJECT, TEAM, KEY_ID, TOPIC = "cq-mobility-test", "TEAM123456", "KEY1234567", "cq.mobility.app"
APNS_TOKEN = "a1" * 32


def _on_a_free_port(listen):
    """Return listen(port) for the first port of this suite's range that is free."""
    for port in PORTS:
        try:
            return listen(port)
        except OSError:
            continue
    raise RuntimeError("no free port in 18600-18699")



def _pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class FakeFcm:
    """Google's token endpoint and FCM's messages:send; `answers` queues (status, body, headers) to give."""

    def __init__(self, public_key):
        self.sent, self.sign_ins, self.answers, self.issued = [], 0, [], set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/token":
                    self._reply(*fake.token(parse_qs(body.decode())))
                else:
                    self._reply(*fake.send(self.path, self.headers.get("Authorization", ""), json.loads(body)))

            def _reply(self, status, answer, headers=None):
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.public_key = public_key
        self.server = _on_a_free_port(lambda port: ThreadingHTTPServer(("127.0.0.1", port), Handler))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, form: dict):
        """Exchange a service account's signed assertion for an access token, as oauth2.googleapis.com does."""
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(form["assertion"][0], self.public_key, algorithms=["RS256"], audience=f"{self.url}/token")
        assert claims["scope"] == SCOPE and claims["iss"] == "push@cq-mobility-test.iam.gserviceaccount.com"
        self.sign_ins += 1
        token = f"ya29.test-{self.sign_ins}"
        self.issued.add(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def send(self, path: str, authorization: str, body: dict):
        if path != f"/v1/projects/{PROJECT}/messages:send":
            return 404, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
        if authorization.removeprefix("Bearer ") not in self.issued:
            return 401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                                   "status": "UNAUTHENTICATED"}}
        self.sent.append(body["message"])
        if self.answers:
            return self.answers.pop(0)
        return 200, {"name": f"projects/{PROJECT}/messages/0:{len(self.sent)}"}


def fcm_error(code: int, status: str, fcm_code: str) -> dict:
    return {"error": {"code": code, "message": fcm_code, "status": status, "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]}}


class FakeApns:
    """APNs over HTTP/2 cleartext: checks the provider token and topic; `answers` queues (status, reason, headers)."""

    def __init__(self, public_key):
        self.public_key, self.pushes, self.answers = public_key, [], []
        self.sock = _on_a_free_port(lambda port: socket.create_server(("127.0.0.1", port)))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        h2conn.initiate_connection()
        conn.sendall(h2conn.data_to_send())
        streams = {}
        with conn:
            while data := conn.recv(65535):
                for event in h2conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        h2conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        self._answer(h2conn, event.stream_id, headers, json.loads(body))
                conn.sendall(h2conn.data_to_send())

    def _answer(self, h2conn, stream_id, headers, body):
        status, reason, extra = self._verdict(headers, body)
        data = json.dumps({"reason": reason}).encode() if reason else b""
        h2conn.send_headers(stream_id, [(":status", str(status)), ("apns-id", f"id-{stream_id}"), *extra.items()],
                            end_stream=not data)
        if data:
            h2conn.send_data(stream_id, data, end_stream=True)

    def _verdict(self, headers, body):
        if headers[":method"] != "POST" or not headers[":path"].startswith("/3/device/"):
            return 405, "MethodNotAllowed", {}
        token = headers.get("authorization", "").removeprefix("bearer ")
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"])
        except jwt.InvalidTokenError:
            return 403, "InvalidProviderToken", {}
        if jwt.get_unverified_header(token).get("kid") != KEY_ID or claims["iss"] != TEAM:
            return 403, "InvalidProviderToken", {}
        if headers.get("apns-topic") != TOPIC:
            return 400, "BadTopic", {}
        self.pushes.append((headers[":path"].removeprefix("/3/device/"), headers, body))
        if self.answers:
            return self.answers.pop(0)
        return 200, None, {}


@pytest.fixture(scope="module")
def keys():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def fcm(app, keys):
    fake = FakeFcm(keys[0].public_key())
    provider = FcmPush({"project_id": PROJECT, "client_email": "push@cq-mobility-test.iam.gserviceaccount.com",
                        "private_key": _pem(keys[0]), "private_key_id": "k1", "token_uri": f"{fake.url}/token"},
                       api=fake.url)
    app.extensions["push_providers"]["fcm"] = provider  # the outbox sends through the same table
    yield fake
    del app.extensions["push_providers"]["fcm"]
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def apns(app, keys, tmp_path):
    fake = FakeApns(keys[1].public_key())
    key_file = tmp_path / "AuthKey.p8"
    key_file.write_text(_pem(keys[1]))
    provider = ApnsPush.from_config({"APNS_KEY_FILE": str(key_file), "APNS_KEY_ID": KEY_ID,
                                     "APNS_TEAM_ID": TEAM, "APNS_TOPIC": TOPIC, "APNS_API_URL": fake.url})
    app.extensions["push_providers"]["apns"] = provider
    yield fake
    del app.extensions["push_providers"]["apns"]
    provider.http.close()
    fake.sock.close()


def _device(app, client, session, provider: str, address: str):
    user = make_user(session)
    answer = client.post("/api/v1/me/devices", headers=bearer(app, session, user),
                         json={"provider": provider, "address": address})
    assert answer.status_code == 201, answer.json
    return user, answer.json["id"]


def _notify(app, session, user) -> None:
    services.notify(session, user_id=user.id, kind=NotificationKind.booking_starting_soon,
                    title=("充电即将开始", "Charging starts soon"),
                    body=("请在15分钟内到达", "Arrive within 15 minutes"),
                    data={"booking_id": 7})
    session.commit()
    app.extensions["notifications"].drain()


def _delivery(app) -> PushDelivery | None:
    with Session(app.extensions["db_engine"]) as fresh:
        return fresh.exec(select(PushDelivery)).first()


def _device_left(app, device_id: int) -> bool:
    with Session(app.extensions["db_engine"]) as fresh:
        return fresh.get(Device, device_id) is not None


def test_fcm_signs_in_once_and_sends_the_message(app, client, session, fcm):
    user, _ = _device(app, client, session, "fcm", "fcm-token:APA91b-test")
    for _ in range(2):
        _notify(app, session, user)
    assert fcm.sign_ins == 1  # the access token is kept until it nears expiry
    message = fcm.sent[0]
    assert message["token"] == "fcm-token:APA91b-test"
    assert message["notification"] == {"title": "充电即将开始", "body": "请在15分钟内到达"}
    assert json.loads(message["data"]["notification"])["title"]["en"] == "Charging starts soon"
    with Session(app.extensions["db_engine"]) as fresh:
        assert {d.status for d in fresh.exec(select(PushDelivery))} == {DeliveryStatus.delivered}


def test_fcm_unregistered_token_unregisters_the_device(app, client, session, fcm):
    user, device_id = _device(app, client, session, "fcm", "fcm-token:uninstalled")
    fcm.answers.append((404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), {}))
    _notify(app, session, user)
    assert len(fcm.sent) == 1
    assert not _device_left(app, device_id) and _delivery(app) is None
    _notify(app, session, user)  # nothing more is sent to it
    assert len(fcm.sent) == 1


def test_fcm_transient_failures_are_retried_when_the_provider_says(app, client, session, fcm):
    user, device_id = _device(app, client, session, "fcm", "fcm-token:busy")
    fcm.answers.append((503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), {"Retry-After": "600"}))
    _notify(app, session, user)
    delivery = _delivery(app)
    assert delivery.status == DeliveryStatus.pending and "503" in delivery.last_error
    assert delivery.next_attempt_at >= utcnow() + timedelta(seconds=590)  # not the 30 s backoff
    outbox = app.extensions["notifications"]
    assert outbox.retry_due(utcnow() + timedelta(minutes=5)) == {"delivered": 0, "pending": 0, "failed": 0}
    assert outbox.retry_due(utcnow() + timedelta(minutes=11)) == {"delivered": 1, "pending": 0, "failed": 0}
    assert _device_left(app, device_id) and len(fcm.sent) == 2


def test_fcm_signs_in_again_after_a_401_and_gives_up_on_a_bad_request(app, client, session, fcm):
    user, device_id = _device(app, client, session, "fcm", "fcm-token:x")
    _notify(app, session, user)
    fcm.issued.clear()  # the access token was revoked
    _notify(app, session, user)
    outbox = app.extensions["notifications"]
    assert outbox.retry_due(utcnow() + timedelta(minutes=5))["delivered"] == 1
    assert fcm.sign_ins == 2
    fcm.answers.append((400, fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"), {}))
    _notify(app, session, user)
    with Session(app.extensions["db_engine"]) as fresh:
        last = fresh.exec(select(PushDelivery).order_by(PushDelivery.id.desc())).first()
    assert last.status == DeliveryStatus.failed and last.attempts == 1  # trying again cannot help
    assert _device_left(app, device_id)


def test_apns_sends_over_http2_with_a_provider_token(app, client, session, apns):
    user, _ = _device(app, client, session, "apns", APNS_TOKEN)
    _notify(app, session, user)
    token, headers, body = apns.pushes[0]
    assert token == APNS_TOKEN and headers["apns-push-type"] == "alert"
    assert body["aps"]["alert"] == {"title": "充电即将开始", "body": "请在15分钟内到达"}
    assert body["notification"]["data"] == {"booking_id": 7}
    assert _delivery(app).status == DeliveryStatus.delivered


@pytest.mark.parametrize("status, reason", [(410, "Unregistered"), (400, "BadDeviceToken")])
def test_apns_dead_token_unregisters_the_device(app, client, session, apns, status, reason):
    user, device_id = _device(app, client, session, "apns", APNS_TOKEN)
    apns.answers.append((status, reason, {}))
    _notify(app, session, user)
    assert len(apns.pushes) == 1 and not _device_left(app, device_id)


def test_apns_retries_when_throttled_or_down(app, client, session, apns):
    user, device_id = _device(app, client, session, "apns", APNS_TOKEN)
    apns.answers += [(429, "TooManyRequests", {}), (503, "ServiceUnavailable", {})]
    _notify(app, session, user)
    outbox = app.extensions["notifications"]
    assert outbox.retry_due(utcnow() + timedelta(minutes=5)) == {"delivered": 0, "pending": 1, "failed": 0}
    assert outbox.retry_due(utcnow() + timedelta(minutes=10)) == {"delivered": 1, "pending": 0, "failed": 0}
    assert len(apns.pushes) == 3 and _device_left(app, device_id)


def test_device_addresses_are_checked_per_provider(app, client, session, fcm, apns):
    headers = bearer(app, session, make_user(session))
    for provider, address in (("apns", "not-hex-" * 8), ("apns", "abc"), ("fcm", "two words")):
        answer = client.post("/api/v1/me/devices", headers=headers, json={"provider": provider, "address": address})
        assert answer.status_code == 422 and answer.json["code"] == "invalid_device_address", (provider, address)


def test_configured_providers_need_their_credentials_outside_development(tmp_path):
    for name in ("fcm", "apns"):
        with pytest.raises(PushNotConfigured, match=name):
            providers_from_config({"APP_ENV": "production", "PUSH_PROVIDERS": name})
        assert set(providers_from_config({"APP_ENV": "development", "PUSH_PROVIDERS": name})) == {"webhook"}
    with pytest.raises(PushNotConfigured, match="unknown"):
        providers_from_config({"APP_ENV": "development", "PUSH_PROVIDERS": "pigeon"})
    account = tmp_path / "account.json"
    account.write_text(json.dumps({"project_id": PROJECT, "client_email": "x@y"}))  # no private key
    with pytest.raises(PushNotConfigured, match="private_key"):
        providers_from_config({"APP_ENV": "production", "PUSH_PROVIDERS": "fcm",
                               "FCM_SERVICE_ACCOUNT_FILE": str(account)})
