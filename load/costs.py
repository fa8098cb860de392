"""What each request of the evening mix costs the server: CPU milliseconds of one gunicorn worker.

`python -m load.costs` (PostgreSQL/PostGIS and Redis on 127.0.0.1, as for `make load`): one gunicorn
worker serves the mix's requests one at a time, COSTS_ROUNDS rounds (default 40) of a citizen's
evening after a warm-up round; each request's cost is the CPU time the worker's threads ran while it
was served (Linux's schedstat). Sequential requests on an otherwise idle server measure the
platform's own cost, not a busy machine's queueing.
"""
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import psutil
import requests

from load.city import HOTSPOTS, LIANGJIANG, VISA, Car, evening_search, near
from load.provision import provision
from load.run import PROFILES, Settings, _fixture, _free_port, _serve, _wait_ready
from load.stage import seeded_database


def _cpu_ms(server: psutil.Process) -> float:
    """Return the milliseconds the server's threads ran on a CPU (the scheduler's ns, not 10 ms ticks)."""
    total = 0
    for each in (server, *server.children(recursive=True)):
        for task in Path(f"/proc/{each.pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):  # a thread that ended in between
                continue
    return total / 1e6


class Costs:
    """Send requests and add each one's server CPU time to its endpoint's total."""

    def __init__(self, base: str, server: psutil.Process):
        self.base, self.server, self.http = base, server, requests.Session()
        self.spent: dict[str, list[float]] = defaultdict(list)

    def __call__(self, method: str, name: str, path: str, **kwargs) -> requests.Response:
        before = _cpu_ms(self.server)
        answer = self.http.request(method, self.base + path, timeout=30, **kwargs)
        self.spent[f"{method} {name}"].append(_cpu_ms(self.server) - before)
        return answer


def _pay(send: Costs, auth: dict, payment: dict) -> None:
    if payment["status"] == "pending":  # as the app: one the wallet authorised needs no card typed in
        send("POST", "/api/v1/payments/{id}/sandbox/confirm", f"/api/v1/payments/{payment['id']}/sandbox/confirm",
             headers=auth, json={"card_number": VISA})


def _evening(send: Costs, auth: dict, fixture: dict, cars: list[Car]) -> None:
    """Send one of each request of the mix, as the locust users do."""
    send("GET", "/health", "/health")
    send("GET", "/api/v1/availability", f"/api/v1/availability?{evening_search(voltage_class=800)}")
    lat, lon = near(HOTSPOTS)
    send("GET", "/api/v1/sites", f"/api/v1/sites?lat={lat:.5f}&lon={lon:.5f}&radius_m=3000")
    send("GET", "/api/v1/events", f"/api/v1/events?lat={lat:.5f}&lon={lon:.5f}&radius_m=50000")
    send("GET", "/api/v1/events/{id}", f"/api/v1/events/{fixture['event_id']}")
    send("POST", "/api/v1/me/payment-methods", "/api/v1/me/payment-methods", headers=auth,
         json={"card_number": VISA})
    later = evening_search(random.randint(1, 48), 2, limit=3)
    search = send("GET", "/api/v1/availability", f"/api/v1/availability?{later}")
    offers = search.json()["items"]
    if offers:
        resource = random.choice(offers[0]["resources"])
        slot = resource["slots"][0]
        booked = send("POST", "/api/v1/bookings", "/api/v1/bookings", headers=auth, json={
            "resource_id": resource["resource"]["id"], "start": slot["start"], "end": slot["end"]})
        if booked.status_code == 201:
            booking = booked.json()
            _pay(send, auth, booking["payment"])
            send("POST", "/api/v1/bookings/{id}/cancel", f"/api/v1/bookings/{booking['id']}/cancel", headers=auth)
    send("GET", "/api/v1/bookings", "/api/v1/bookings?limit=10", headers=auth)  # after booking: not an empty list
    order = send("POST", "/api/v1/events/{id}/orders", f"/api/v1/events/{fixture['event_id']}/orders", headers=auth,
                 json={"items": [{"tier_id": fixture["tier_id"], "quantity": 1}]})
    if order.status_code == 201:
        _pay(send, auth, order.json()["payment"])
    (plat, plon), (dlat, dlon) = near(LIANGJIANG, 0.004), near(LIANGJIANG, 0.004)
    body = {"pickup": {"lat": plat, "lon": plon}, "dropoff": {"lat": dlat, "lon": dlon}}
    send("POST", "/api/v1/rides/quote", "/api/v1/rides/quote", json=body)
    ride = send("POST", "/api/v1/rides", "/api/v1/rides", json=body, headers=auth)
    if ride.status_code == 201:
        send("GET", "/api/v1/rides/{id}", f"/api/v1/rides/{ride.json()['id']}", headers=auth)
        send("POST", "/api/v1/rides/{id}/cancel", f"/api/v1/rides/{ride.json()['id']}/cancel", headers=auth)
    send("POST", "/api/v1/fleet/telemetry", "/api/v1/fleet/telemetry", headers=fixture["operator"],
         json={"rows": [car.drive(1.0) for car in cars]})
    send("POST", "/api/v1/organiser/events/{id}/check-ins", f"/api/v1/organiser/events/{fixture['event_id']}/check-ins",
         headers=fixture["organiser"], json={"code": random.choice(fixture["ticket_codes"])})


def measure(rounds: int) -> dict[str, list[float]]:
    """Serve the mix from one worker; return each endpoint's CPU milliseconds per request."""
    settings = replace(Settings(**PROFILES["short"]), workers=1, users=rounds + 1)
    with seeded_database("cq_costs") as env:
        people = provision(env, citizens=settings.users, vehicles=200)
        port = _free_port()
        processes = _serve(env, settings, port, Path(os.devnull))
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base)
            fixture = _fixture(base, settings, people)
            server = psutil.Process(processes[0].pid)
            send = Costs(base, server)
            for who in ("operator", "organiser"):
                token = requests.post(f"{base}/api/v1/auth/login", timeout=10, json={
                    "email": fixture[f"{who}_email"], "password": fixture["password"]}).json()["access_token"]
                fixture[who] = {"Authorization": f"Bearer {token}"}
            cars = [Car(v) for v in people["vehicle_ids"]]
            for n, token in enumerate(people["citizen_tokens"]):
                if n == 1:  # the first round warmed the worker up
                    send.spent.clear()
                _evening(send, {"Authorization": f"Bearer {token}"}, fixture, cars)
            return send.spent
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)


def main() -> int:
    began = time.monotonic()
    spent = measure(int(os.environ.get("COSTS_ROUNDS", "40")))
    print("| endpoint | requests | CPU ms per request (mean) | median |\n|---|---|---|---|")
    for name, values in sorted(spent.items()):
        values.sort()
        print(f"| {name} | {len(values)} | {sum(values) / len(values):.1f} | {values[len(values) // 2]:.0f} |")
    print(f"\n{time.monotonic() - began:.0f} s; load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
