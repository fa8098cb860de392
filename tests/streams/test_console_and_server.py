"""Console frames published once for every viewer; gevent gunicorn holding hundreds of streams;
metrics, proxies and login limits at the edge."""
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests

from backend import realtime
from robotaxi_dispatch.console import live
from robotaxi_dispatch.console.live import ConsolePublisher
from robotaxi_dispatch.streams import CONSOLE_CHANNEL
from tests.conftest import BASE_CONFIG
from tests.factories import PASSWORD, bearer, make_org, make_user, statements_run

ROOT = Path(__file__).resolve().parents[2]


def _publisher(app) -> ConsolePublisher:
    return ConsolePublisher(app.extensions["db_engine"], app.extensions["redis"], region="liangjiang",
                            owner="test")


def _statements_of(app, step) -> int:
    with statements_run(app) as statements:
        step()
    return len(statements)


def test_each_console_gets_only_its_fleet_from_one_published_frame(app, client, city, session, open_stream, quick):
    quick["SSE_MAX_STREAMS_PER_USER"] = 10
    rival_org = make_org(session, kind="operator")
    rival = bearer(app, session, make_user(session, roles=("operator",), organisation=rival_org))
    theirs = client.post("/api/v1/fleet/vehicles", headers=rival, json={"plate": "渝A·X999", "seats": 4,
                                                                        "region": "liangjiang"}).json
    client.post("/api/v1/fleet/telemetry", headers=rival, json={"rows": [
        {"vehicle_id": theirs["id"], "lat": 29.70, "lon": 106.60, "ts": "2026-01-01T00:00:00Z"}]})
    ours = [v["id"] for v in city["vehicles"]]
    publisher = _publisher(app)
    publisher.frames = 1  # frames without the KPIs, which go out with every fifth
    one = open_stream("/api/v1/ops/stream", city["operator"])
    per_frame_with_one = _statements_of(app, publisher.step)
    assert sorted(one.next("fleet")["data"]["vehicles"]["id"]) == ours

    many = [open_stream("/api/v1/ops/stream", city["operator"]) for _ in range(4)]
    boxed = open_stream("/api/v1/ops/stream?bbox=29.66,106.54,29.662,106.55", city["operator"])
    theirs_stream = open_stream("/api/v1/ops/stream", rival)
    per_frame_with_seven = _statements_of(app, publisher.step)
    assert per_frame_with_seven == per_frame_with_one, "a frame costs the same whatever the number of viewers"
    for viewer in many:
        assert sorted(viewer.next("fleet")["data"]["vehicles"]["id"]) == ours
    assert boxed.next("fleet")["data"]["vehicles"]["id"] == [ours[0]]
    assert theirs_stream.next("fleet")["data"]["vehicles"]["id"] == [theirs["id"]]
    publisher.frames = 0
    publisher.step()
    assert "open_requests" in one.next("metrics")["data"]


def test_frames_are_worked_out_only_while_a_console_is_open(app, city, open_stream, monkeypatch):
    r, hub, frames = app.extensions["redis"], app.extensions["live_hub"], []
    publisher = _publisher(app)
    monkeypatch.setattr(publisher, "step", lambda: frames.append(time.monotonic()))
    monkeypatch.setattr(live, "FRAME_S", 0.01)

    def frames_in(seconds: float) -> int:
        before, stop = len(frames), threading.Event()
        running = threading.Thread(target=publisher.run, args=(stop,))
        running.start()
        time.sleep(seconds)
        stop.set()
        running.join()
        return len(frames) - before

    assert not realtime.watched(r, CONSOLE_CHANNEL)
    assert frames_in(0.3) == 0, "nobody watches: no frame is read"
    console = open_stream("/api/v1/ops/stream", city["operator"])
    assert realtime.watched(r, CONSOLE_CHANNEL)
    assert frames_in(0.3) > 0
    held = hub.open_streams
    console.close()
    deadline = time.monotonic() + 10
    while hub.open_streams >= held and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not realtime.watched(r, CONSOLE_CHANNEL), "the last console closed"
    assert frames_in(0.3) == 0


def test_a_watched_channel_stays_announced_while_its_process_renews_it(app):
    hub, r = realtime.Hub(app.extensions["redis"], max_streams=10), app.extensions["redis"]
    stream = hub.join("announced-test", "console", announced=True)
    other = hub.join("announced-test", "console", announced=True)
    r.zadd(realtime.watchers_key("announced-test"), {hub.id: time.time() - 1})  # as if its renewal were late
    assert not realtime.watched(r, "announced-test")
    hub._announce(hub._announced_channels())
    assert realtime.watched(r, "announced-test")
    stream.close()
    assert realtime.watched(r, "announced-test"), "one stream is still open"
    other.close()
    assert not realtime.watched(r, "announced-test")
    hub.join("unannounced", "ride")
    assert not realtime.watched(r, "unannounced"), "only announced channels are told"
    hub.close_all()


def test_a_bad_bbox_on_the_console_stream_is_422(client, city):
    answer = client.get("/api/v1/ops/stream?bbox=30,106,29,107", headers=city["operator"])
    assert answer.status_code == 422 and answer.json["code"] == "invalid_bbox"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _open_raw(port: int, path: str, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n\r\n".encode())
    return sock


def test_gunicorn_holds_200_streams_and_still_answers(app, backend, city, tmp_path):
    """The production server (gevent workers, gunicorn.conf.py), one worker, 200 console streams open."""
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "SECRET_KEY": BASE_CONFIG["SECRET_KEY"],
           "DATABASE_URL": backend["DATABASE_URL"], "REDIS_URL": backend["REDIS_URL"] or "",
           "SSE_MAX_STREAMS_PER_USER": "1000", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--config", "gunicorn.conf.py"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    socks = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/health", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.3)
        socks = [_open_raw(port, "/api/v1/ops/stream", city["operator"]["Authorization"]) for _ in range(200)]
        heads = [sock.recv(200).decode() for sock in socks]
        assert all(h.startswith("HTTP/1.1 200") for h in heads), {h.split("\r\n")[0] for h in heads}
        for _ in range(5):
            started = time.monotonic()
            assert requests.get(f"{base}/health", timeout=10).status_code == 200
            assert time.monotonic() - started < 5
        kpis = requests.get(f"{base}/api/v1/ops/metrics", headers=city["operator"], timeout=10)
        assert kpis.status_code == 200, "a request that reads the database is served beside them"
        scrape = requests.get(f"{base}/metrics", timeout=10).text
        assert 'sse_open_streams{kind="console"} 200.0' in scrape
        _stops_streams_cleanly(server, socks[0])
    finally:
        for sock in socks:
            sock.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def _stops_streams_cleanly(server, sock) -> None:
    """Told to stop, the worker ends its streams (the last chunk) well before its graceful timeout."""
    os.kill(server.pid, signal.SIGTERM)
    started, received = time.monotonic(), b""
    sock.settimeout(8)
    while not received.endswith(b"0\r\n\r\n"):
        chunk = sock.recv(1 << 16)
        assert chunk, "the connection was cut instead of the stream being ended"
        received = received[-8:] + chunk
    assert time.monotonic() - started < 8


def test_metrics_answer_only_inside_or_with_the_scrape_token(app, client):
    assert client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    outside = {"REMOTE_ADDR": "8.8.8.8"}
    assert client.get("/metrics", environ_base=outside).status_code == 404
    app.config["METRICS_TOKEN"] = "scrape-secret"
    try:
        assert client.get("/metrics", environ_base=outside).status_code == 404
        assert client.get("/metrics", environ_base=outside,
                          headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    finally:
        app.config["METRICS_TOKEN"] = None


def test_behind_a_trusted_proxy_limits_key_on_the_forwarded_client(backend):
    from backend import create_app

    proxied = create_app({**BASE_CONFIG, **backend, "TRUSTED_PROXIES": 1, "LOGIN_RATE_LIMIT": "2 per minute"})
    client = proxied.test_client()
    attempt = lambda who: client.post("/api/v1/auth/login", json={"email": f"{who}@example.com", "password": "x"},  # noqa: E731
                                      headers={"X-Forwarded-For": who.replace("c", "198.51.100.")}).status_code
    assert [attempt("c1"), attempt("c1"), attempt("c1")] == [401, 401, 429]
    assert attempt("c2") == 401, "another client behind the same proxy has its own limit"
    proxied.extensions["db_engine"].dispose()


def test_login_limit_also_keys_on_the_account(app, client, session):
    make_user(session, email="target@example.com")
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [client.post("/api/v1/auth/login", json={"email": "Target@example.com", "password": "guess"},
                             environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code for n in range(5)]
        other = client.post("/api/v1/auth/login", json={"email": "someone@example.com", "password": PASSWORD},
                            environ_base={"REMOTE_ADDR": "198.51.100.99"}).status_code
    finally:
        app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "1000 per minute"
    assert codes == [401, 401, 401, 429, 429]
    assert other == 401, "other accounts are not locked by it"
