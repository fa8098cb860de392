"""The dispatcher as operations see it: its own process without the HTTP layer, its metrics, its log lines."""
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from backend import jobs, logs
from robotaxi_dispatch import streams
from robotaxi_dispatch.rides import positions
from tests.conftest import BASE_CONFIG
from tests.robotaxi_dispatch import test_rides as rides

ROOT = Path(__file__).resolve().parents[2]
city = rides.city
# `flask --app worker dispatch run`, reporting at exit which modules of the HTTP layer it loaded.
DISPATCH_PROCESS = """
import atexit, sys
atexit.register(lambda: print("http layer:", sorted(m for m in sys.modules if m.split(".")[0] == "mobile_api"),
                              file=sys.stderr, flush=True))
from flask.cli import main
sys.argv = ["flask", "--app", "worker", "dispatch", "run", "--region", "liangjiang", "--metrics-port", sys.argv[1]]
main()
"""


@pytest.fixture
def json_lines():
    """Collect the root logger's JSON lines, as production writes them."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    try:
        logs.configure("INFO")
        root.handlers[0].stream = out
        yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def _metric(text: str, name: str, **labels) -> float | None:
    """Return a sample's value from a Prometheus text page, or None if it is not there."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_tick_reports_its_duration_stream_lag_and_the_requests_left_waiting(app, client, city):
    redis = app.extensions["redis"]
    streams.ensure_groups(redis, "liangjiang")
    half_a_minute_ago = int((time.time() - 30) * 1000)
    redis.xadd(streams.requests_key("liangjiang"), {"region": "liangjiang", "ride_id": "0"},
               id=f"{half_a_minute_ago}-0")  # a request the dispatcher has not read for 30 s
    before = _metric(client.get("/metrics").text, "dispatch_tick_seconds_count", region="liangjiang") or 0
    for _ in range(3):  # two vehicles for three riders
        rides.request(client, city)
    dispatcher = rides.dispatcher(app)
    assert dispatcher.step()["assigned"] == 2  # from the database; a first tick reads only its own unacked entries
    page = client.get("/metrics").text
    assert _metric(page, "dispatch_open_requests", region="liangjiang") == 1
    assert _metric(page, "dispatch_tick_seconds_count", region="liangjiang") == before + 1
    dispatcher.step()  # reads the stream: the oldest entry waited half a minute
    page = client.get("/metrics").text
    assert 29 <= _metric(page, "dispatch_stream_lag_seconds", region="liangjiang", stream="requests") < 120
    assert _metric(page, "dispatch_stream_lag_seconds", region="liangjiang", stream="telemetry") < 29
    dispatcher.step()  # nothing new to read, and the third rider still waits
    page = client.get("/metrics").text
    assert _metric(page, "dispatch_stream_lag_seconds", region="liangjiang", stream="requests") == 0
    assert _metric(page, "dispatch_open_requests", region="liangjiang") == 1


def test_the_assignment_is_logged_under_the_id_of_the_request_that_created_the_ride(app, client, city, json_lines):
    ride = client.post("/api/v1/rides", headers={**city["rider"], "X-Request-ID": "app-7f3a.2"},
                       json={"pickup": rides.LIJIA, "dropoff": rides.YUFU}).json
    rides.dispatcher(app).step()
    assigned = [line for line in json_lines() if line["message"].startswith(f"dispatch liangjiang: ride {ride['id']} ")]
    assert len(assigned) == 1 and "assigned vehicle" in assigned[0]["message"]
    assert assigned[0]["request_id"] == "app-7f3a.2" and assigned[0]["job_run_id"] is None


def test_job_lines_carry_the_id_of_their_run(app, json_lines):
    said = logging.getLogger("tests.job")

    def noisy(_app, _session):
        said.info("working")
        return {"done": 1}

    scheduler = jobs.Scheduler(app)
    for _ in range(2):
        scheduler.run_job(jobs.Job("noisy", 1, noisy))
    lines = [line for line in json_lines() if line["name"] in ("tests.job", "backend.jobs")]
    runs = [line["job_run_id"] for line in lines]
    assert len(lines) == 4 and all(run and run.startswith("noisy-") for run in runs)
    assert runs[0] == runs[1] != runs[2] == runs[3]  # the job's own line and the summary share their run's id
    said.info("outside a job")
    assert json_lines()[-1]["job_run_id"] is None


def _read_lines(stream, into: list[str]) -> None:
    for line in stream:
        into.append(line)


def test_dispatch_process_loads_no_http_layer_and_assigns_under_the_riders_request_id(app, client, session, city):
    positions.flush(app.extensions["redis"], session, "liangjiang")  # its own Redis may not have them
    ride = client.post("/api/v1/rides", headers={**city["rider"], "X-Request-ID": "rider-call-42"},
                       json={"pickup": rides.LIJIA, "dropoff": rides.YUFU}).json
    port = 18010 if app.config["BACKEND"] == "sqlite" else 18011
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMBEDDED_", "PROMETHEUS_", "STRIPE_"))}
    env |= {"DATABASE_URL": app.config["DATABASE_URL"], "REDIS_URL": app.config["REDIS_URL"] or "",
            "SECRET_KEY": BASE_CONFIG["SECRET_KEY"], "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    process = subprocess.Popen([sys.executable, "-c", DISPATCH_PROCESS, str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any(f"ride {ride['id']} assigned" in line for line in lines) and time.monotonic() < deadline:
            assert process.poll() is None, "".join(lines)
            time.sleep(0.2)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=10)
    assigned = [json.loads(line) for line in lines if f"ride {ride['id']} assigned" in line]
    assert len(assigned) == 1 and assigned[0]["request_id"] == "rider-call-42", "".join(lines)
    assert lines[-1].strip() == "http layer: []"
    assert _metric(page, "dispatch_tick_seconds_count", region="liangjiang") >= 1
    assert _metric(page, "dispatch_open_requests", region="liangjiang") == 0
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["status"] == "assigned"
