"""`make run` from this checkout serves the seeded platform and answers /ready."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

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
                ready = requests.get(f"{base}/ready", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert ready is not None, f"server never answered; exit={server.poll()}"
        assert ready.status_code == 200, ready.text
        sites = requests.get(f"{base}/api/v1/sites", params={
            "lat": 29.5576, "lon": 106.5772, "radius_m": 5000}, timeout=5).json()
        assert sites["items"], "the seeded demo has sites near Jiefangbei"
        assert requests.get(f"{base}/docs/swagger", timeout=5).status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/docs" in output
