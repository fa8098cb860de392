"""`make load`: serve the platform on PostgreSQL/PostGIS + Redis, run the locust evening, write results.

Environment: LOAD_USERS (default 40), LOAD_SPAWN_RATE (10), LOAD_SECONDS (60),
LOAD_DATABASE_URL (an admin URL of the PostgreSQL server; default postgres on 127.0.0.1),
LOAD_REDIS_URL (redis://127.0.0.1:6379/13), LOAD_RESULTS (load/results.md), and the thresholds
of load/thresholds.py. The exit code is locust's: non-zero when a threshold is broken.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import redis
import requests
from sqlalchemy.engine import make_url

from load.report import read_stats, results_table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "Chongqing-demo-2026"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flask(env: dict, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True)


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # refused, or workers still booting past the timeout
            pass
        time.sleep(0.5)
    raise RuntimeError("the server never became ready")


def _login(base: str, email: str) -> dict:
    token = requests.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                          timeout=10).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _fixture(base: str) -> dict:
    """Put an event on sale, sell tickets for the gates, and list the robotaxis."""
    organiser, citizen, operator = (_login(base, f"{who}@demo.cq") for who in ("organiser", "citizen", "operator"))
    venue = requests.get(f"{base}/api/v1/sites", params={"lat": 29.744, "lon": 106.805, "radius_m": 500,
                                                         "kind": "venue"}, timeout=10).json()["items"][0]
    now = datetime.now(timezone.utc)
    event = requests.post(f"{base}/api/v1/organiser/events", headers=organiser, timeout=10, json={
        "category": "motorsport", "title_zh": "龙兴赛道之夜", "title_en": "Longxing Night Race",
        "venue_site_id": venue["id"], "starts_at": (now + timedelta(days=7)).isoformat(),
        "ends_at": (now + timedelta(days=7, hours=4)).isoformat()}).json()
    tier = requests.post(f"{base}/api/v1/organiser/events/{event['id']}/tiers", headers=organiser, timeout=10,
                         json={"name_zh": "看台", "name_en": "Grandstand", "price_fen": 18000, "quota": 100_000,
                               "sales_start": now.isoformat(), "sales_end": (now + timedelta(days=6)).isoformat()}).json()
    requests.post(f"{base}/api/v1/organiser/events/{event['id']}/publish", headers=organiser, timeout=10)
    tier_id = tier["tiers"][0]["id"]
    codes = []
    for _ in range(10):
        order = requests.post(f"{base}/api/v1/events/{event['id']}/orders", headers=citizen, timeout=10,
                              json={"items": [{"tier_id": tier_id, "quantity": 4}]}).json()
        paid = requests.post(f"{base}/api/v1/payments/{order['payment']['id']}/sandbox/confirm", timeout=10,
                             headers=citizen, json={"card_number": "4242424242424242"})
        paid.raise_for_status()
    codes = [t["code"] for t in requests.get(f"{base}/api/v1/tickets", headers=citizen, timeout=10).json()["items"]]
    fleet = requests.get(f"{base}/api/v1/ops/fleet", params={"bbox": "29.6,106.5,29.8,106.7"},
                         headers=operator, timeout=10).json()["items"]
    return {"event_id": event["id"], "tier_id": tier_id, "ticket_codes": codes, "password": PASSWORD,
            "organiser_email": "organiser@demo.cq", "operator_email": "operator@demo.cq",
            "vehicle_ids": [v["id"] for v in fleet]}


def main() -> int:
    admin = os.environ.get("LOAD_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"cq_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_url = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/13")
    redis.Redis.from_url(redis_url).flushdb()
    port, work = _free_port(), Path(tempfile.mkdtemp(prefix="cq-load-"))
    env = {**os.environ, "DATABASE_URL": make_url(admin).set(database=name).render_as_string(hide_password=False),
           "REDIS_URL": redis_url, "SECRET_KEY": uuid.uuid4().hex * 2, "STRIPE_API_KEY": "",
           "LOGIN_RATE_LIMIT": "100000 per minute", "REGISTER_RATE_LIMIT": "100000 per minute"}
    processes = []
    try:
        _flask(env, "db", "upgrade")
        _flask(env, "seed")
        processes.append(subprocess.Popen([str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                           "--threads", "8", "--worker-class", "gthread",
                                           # idle connections outlive the users' think time (1-3 s), as
                                           # behind a load balancer: no close racing a request
                                           "--keep-alive", "10", "wsgi:app"],
                                          cwd=ROOT, env=env, stderr=subprocess.DEVNULL))
        processes.append(subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "dispatch", "run"], cwd=ROOT,
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base)
        fixture = work / "fixture.json"
        fixture.write_text(json.dumps(_fixture(base)))
        users, seconds = os.environ.get("LOAD_USERS", "40"), os.environ.get("LOAD_SECONDS", "60")
        locust = subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "load" / "locustfile.py"), "--headless",
                                 "-u", users, "-r", os.environ.get("LOAD_SPAWN_RATE", "10"), "-t", f"{seconds}s",
                                 "--host", base, "--csv", str(work / "run"), "--only-summary"],
                                cwd=ROOT, env={**env, "LOAD_FIXTURE": str(fixture), "PYTHONPATH": str(ROOT)})
        table = results_table(read_stats(work / "run"))
        header = (f"# Load results\n\n{users} locust users for {seconds} s against gunicorn (2 workers x 8 threads) "
                  f"on PostgreSQL/PostGIS + Redis, 127.0.0.1, with `flask dispatch run` alongside; written by "
                  f"`make load` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. The floor is `GET /health` in the "
                  f"same app and run.\n\n")
        Path(os.environ.get("LOAD_RESULTS", ROOT / "load" / "results.md")).write_text(header + table)
        print(header + table)
        return locust.returncode
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
