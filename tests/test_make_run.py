"""`make run` from this checkout serves the seeded platform and answers /ready."""
import json
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from ocpp.v201 import call as call201

from backend.seed.catalogue import DEMO_PASSWORD
from tests.chargers.simulator import Simulator

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_run_serves_ready_platform(tmp_path):
    port, ocpp_port = _free_port(), _free_port()
    env = {**os.environ, "PORT": str(port), "OCPP_PORT": str(ocpp_port), "INSTANCE_PATH": str(tmp_path),
           "OCPP_RESERVATION_LEAD_MIN": "60"}
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
        events = requests.get(f"{base}/api/v1/events", timeout=5).json()["items"]
        assert any(t["on_sale"] and t["remaining"] for e in events for t in e["tiers"]), "events to buy"
        assert requests.get(f"{base}/docs/swagger", timeout=5).status_code == 200
        _ride_is_dispatched(base)
        _console_shows_the_fleet(base)
        _charger_serves_a_citizen(base, f"ws://127.0.0.1:{ocpp_port}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert f"http://127.0.0.1:{port}/docs" in output


def _ride_is_dispatched(base: str) -> None:
    """A demo citizen's robotaxi ride in Liangjiang gets a car from the embedded dispatcher."""
    login = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                          json={"email": "citizen@demo.cq", "password": DEMO_PASSWORD}).json()
    rider = {"Authorization": f"Bearer {login['access_token']}"}
    saved = requests.post(f"{base}/api/v1/me/payment-methods", headers=rider, timeout=10,
                          json={"card_number": "4242424242424242"})
    assert saved.status_code == 201, saved.text  # rides are authorised against the wallet
    ride = requests.post(f"{base}/api/v1/rides", headers=rider, timeout=10, json={
        "pickup": {"lat": 29.6600, "lon": 106.5450}, "dropoff": {"lat": 29.6900, "lon": 106.5800}}).json()
    assert ride["payment"]["status"] == "authorised", ride
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
        frames = {}  # one frame per region
        for line in lines:
            data = json.loads(line[5:]) if line.startswith("data:") else {}
            if "region" in data:
                frames[data["region"]] = data
            if len(frames) == 2:
                break
    assert sum(len(frame["vehicles"]["id"]) for frame in frames.values()) == 42


def _login(base: str, email: str) -> dict:
    login = requests.post(f"{base}/api/v1/auth/login", timeout=10,
                          json={"email": email, "password": DEMO_PASSWORD}).json()
    return {"Authorization": f"Bearer {login['access_token']}"}


def _ocpp_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _charger_serves_a_citizen(base: str, ocpp_url: str) -> None:
    """A simulated charge point with the demo identity boots, shows up live, holds a citizen's booking, bills it."""
    operator = _login(base, "site@demo.cq")
    station = next(s for s in requests.get(f"{base}/api/v1/manage/sites", headers=operator, timeout=10).json()["items"]
                   if s["kind"] == "charging_station")
    resources = requests.get(f"{base}/api/v1/manage/sites/{station['id']}/resources", headers=operator,
                             timeout=10).json()["items"]
    charger = next(r for r in resources if r["ocpp"])
    sim = Simulator(ocpp_url, charger["ocpp"]["ocpp_identity"], DEMO_PASSWORD).open()
    sim.call(call201.BootNotification(charging_station={"vendor_name": "Sim", "model": "S1"}, reason="PowerUp"))
    sim.call(call201.StatusNotification(timestamp=_ocpp_time(datetime.now(UTC)),
                                        connector_status="Available", evse_id=1, connector_id=1))
    now = datetime.now(UTC)
    window = {"from": now.isoformat(), "to": (now + timedelta(hours=3)).isoformat(), "resource_kind": "charger"}
    offer = next(r for r in requests.get(f"{base}/api/v1/sites/{station['id']}/availability", params=window,
                                         timeout=10).json()["resources"] if r["resource"]["id"] == charger["id"])
    assert offer["live_status"] == "available"
    citizen = _login(base, "citizen@demo.cq")
    slot = offer["slots"][0]
    booking = requests.post(f"{base}/api/v1/bookings", headers=citizen, timeout=10, json={
        "resource_id": charger["id"], "start": slot["start"], "end": slot["end"]}).json()
    requests.post(f"{base}/api/v1/payments/{booking['payment']['id']}/sandbox/confirm", headers=citizen,
                  json={"card_number": "4242424242424242"}, timeout=10)
    token = sim.expect("ReserveNow", timeout=30)["id_token"]
    began = datetime.now(UTC)
    for kind, wh, info in (("Started", 0, {}), ("Ended", 12_000, {"stopped_reason": "EVDisconnected"})):
        sim.call(call201.TransactionEvent(
            event_type=kind, timestamp=_ocpp_time(began), trigger_reason="EVDetected", seq_no=0 if wh == 0 else 1,
            transaction_info={"transaction_id": "demo-1", **info}, id_token=token, evse={"id": 1, "connector_id": 1},
            meter_value=[{"timestamp": _ocpp_time(began), "sampled_value": [{"value": wh}]}]))
    billed = requests.get(f"{base}/api/v1/bookings/{booking['id']}", headers=citizen, timeout=10).json()
    sim.close()
    assert billed["status"] == "completed" and billed["settlement"]["energy_kwh"] == 12.0
    assert billed["final_price"]["amount"] == billed["payment"]["amount_captured"] > 0
