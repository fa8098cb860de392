"""`make run` from this checkout serves the seeded platform and answers /ready."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from backend.seed.catalogue import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_run_serves_ready_platform(tmp_path):
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "INSTANCE_PATH": str(tmp_path)}
    for name in ("DATABASE_URL", "REDIS_URL", "STRIPE_API_KEY"):
        env.pop(name, None)
    server = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 180, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = requests.get(f"{base}/ready", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or still booting
                time.sleep(0.5)
        assert ready is not None, f"server never answered; exit={server.poll()}"
        assert ready.status_code == 200, ready.text
        sites = requests.get(f"{base}/api/v1/sites", params={
            "lat": 29.5576, "lon": 106.5772, "radius_m": 5000}, timeout=5).json()
        assert sites["items"], "the seeded demo has sites near Jiefangbei"
        assert requests.get(f"{base}/docs/swagger", timeout=5).status_code == 200
        _ride_is_dispatched(base)
        _console_shows_the_fleet(base)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/docs" in output


def _ride_is_dispatched(base: str) -> None:
    """A demo citizen's robotaxi ride in Liangjiang gets a car from the embedded dispatcher."""
    login = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                          json={"email": "citizen@demo.cq", "password": DEMO_PASSWORD}).json()
    rider = {"Authorization": f"Bearer {login['access_token']}"}
    ride = requests.post(f"{base}/api/v1/rides", headers=rider, timeout=10, json={
        "pickup": {"lat": 29.6600, "lon": 106.5450}, "dropoff": {"lat": 29.6900, "lon": 106.5800}}).json()
    requests.post(f"{base}/api/v1/payments/{ride['payment']['id']}/sandbox/confirm", headers=rider,
                  json={"card_number": "4242424242424242"}, timeout=10)
    deadline, status = time.monotonic() + 60, "requested"
    while status == "requested" and time.monotonic() < deadline:
        time.sleep(1)
        status = requests.get(f"{base}/api/v1/rides/{ride['id']}", headers=rider, timeout=5).json()["status"]
    assert status in ("assigned", "arriving", "in_progress", "completed"), status


def _console_shows_the_fleet(base: str) -> None:
    """/ops is served, and its live stream carries the demo fleet."""
    assert "ops.js" in requests.get(f"{base}/ops", timeout=5).text
    login = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                          json={"email": "operator@demo.cq", "password": DEMO_PASSWORD}).json()
    with requests.get(f"{base}/api/v1/ops/stream", stream=True, timeout=10,
                      headers={"Authorization": f"Bearer {login['access_token']}"}) as stream:
        lines = stream.iter_lines(decode_unicode=True)
        frame = next(json.loads(line[5:]) for line in lines if line.startswith("data:"))
    assert len(frame["vehicles"]["id"]) == 42
