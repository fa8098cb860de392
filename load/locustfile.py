"""An evening on the platform: citizens browse, book, buy and ride; robotaxis report; gates scan.

Run through `make load` (load/run.py prepares the server and the data this file reads from
LOAD_FIXTURE: the event to buy from, the operator account and ticket codes for the gates).
"""
import json
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

from locust import HttpUser, between, constant, events, task

from load.thresholds import breaches

FIXTURE = json.loads(open(os.environ["LOAD_FIXTURE"]).read()) if os.environ.get("LOAD_FIXTURE") else {}
HOTSPOTS = [(29.5578, 106.5772), (29.5790, 106.5320), (29.5565, 106.4570), (29.6085, 106.5505)]
LIANGJIANG = [(29.6600, 106.5450), (29.6900, 106.5800), (29.7100, 106.5650), (29.6750, 106.5600)]
VISA = "4242424242424242"


def near(points, spread=0.01):
    lat, lon = random.choice(points)
    return lat + random.uniform(-spread, spread), lon + random.uniform(-spread, spread)


def login(client, email, password) -> dict:
    token = client.post("/api/v1/auth/login", json={"email": email, "password": password},
                        name="/api/v1/auth/login").json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


class Citizen(HttpUser):
    """Browses sites and events, books and cancels a charge, buys a ticket, rides a robotaxi."""

    weight = 8
    wait_time = between(1, 3)

    def on_start(self):
        email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        answer = self.client.post("/api/v1/auth/register", name="/api/v1/auth/register",
                                  json={"email": email, "password": "load-test-password", "name": "Load"})
        self.auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    @task
    def floor(self):
        self.client.get("/health", name="/health")

    @task(6)
    def nearby_sites(self):
        lat, lon = near(HOTSPOTS)
        self.client.get(f"/api/v1/sites?lat={lat}&lon={lon}&radius_m=3000", name="/api/v1/sites")

    @task(3)
    def availability(self):
        lat, lon = near(HOTSPOTS)
        start = datetime.now(timezone.utc).replace(microsecond=0)
        self.client.get("/api/v1/availability", name="/api/v1/availability", params={
            "lat": lat, "lon": lon, "radius_m": 3000, "voltage_class": 800, "resource_kind": "charger",
            "from": start.isoformat(), "to": (start + timedelta(hours=3)).isoformat()})

    @task(4)
    def event_detail(self):
        self.client.get(f"/api/v1/events/{FIXTURE['event_id']}", name="/api/v1/events/{id}")

    @task(2)
    def book_pay_cancel(self):
        lat, lon = near(HOTSPOTS)
        start = datetime.now(timezone.utc) + timedelta(hours=random.randint(1, 48))
        offers = self.client.get("/api/v1/availability", name="/api/v1/availability", params={
            "lat": lat, "lon": lon, "radius_m": 3000, "resource_kind": "charger", "from": start.isoformat(),
            "to": (start + timedelta(hours=2)).isoformat(), "limit": 3}).json()["items"]
        if not offers:
            return
        resource = random.choice(offers[0]["resources"])
        slot = resource["slots"][0]
        with self.client.post("/api/v1/bookings", name="/api/v1/bookings", headers=self.auth,
                              json={"resource_id": resource["resource"]["id"], "start": slot["start"],
                                    "end": slot["end"]}, catch_response=True) as answer:
            if answer.status_code == 409:  # someone was faster: an expected outcome, not a failure
                answer.success()
                return
        booking = answer.json()
        self.client.post(f"/api/v1/payments/{booking['payment']['id']}/sandbox/confirm", headers=self.auth,
                         json={"card_number": VISA}, name="/api/v1/payments/{id}/sandbox/confirm")
        self.client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=self.auth,
                         name="/api/v1/bookings/{id}/cancel")

    @task(1)
    def buy_ticket(self):
        with self.client.post(f"/api/v1/events/{FIXTURE['event_id']}/orders", headers=self.auth,
                              name="/api/v1/events/{id}/orders", catch_response=True,
                              json={"items": [{"tier_id": FIXTURE["tier_id"], "quantity": 1}]}) as answer:
            if answer.status_code == 409:
                answer.success()
                return
        self.client.post(f"/api/v1/payments/{answer.json()['payment']['id']}/sandbox/confirm",
                         headers=self.auth, json={"card_number": VISA},
                         name="/api/v1/payments/{id}/sandbox/confirm")

    @task(2)
    def ride(self):
        (plat, plon), (dlat, dlon) = near(LIANGJIANG, 0.004), near(LIANGJIANG, 0.004)
        body = {"pickup": {"lat": plat, "lon": plon}, "dropoff": {"lat": dlat, "lon": dlon}}
        self.client.post("/api/v1/rides/quote", json=body, name="/api/v1/rides/quote")
        ride = self.client.post("/api/v1/rides", json=body, headers=self.auth, name="/api/v1/rides").json()
        for _ in range(2):
            self.client.get(f"/api/v1/rides/{ride['id']}", headers=self.auth, name="/api/v1/rides/{id}")
        self.client.post(f"/api/v1/rides/{ride['id']}/cancel", headers=self.auth,
                         name="/api/v1/rides/{id}/cancel")


class Fleet(HttpUser):
    """Forty robotaxis reporting once a second, batched in one call."""

    weight = 1
    wait_time = constant(1)

    def on_start(self):
        self.auth = login(self.client, FIXTURE["operator_email"], FIXTURE["password"])
        self.vehicles = FIXTURE["vehicle_ids"]

    @task
    def telemetry(self):
        now = datetime.now(timezone.utc).isoformat()
        rows = [{"vehicle_id": v, "lat": lat, "lon": lon, "soc": 80, "ts": now}
                for v, (lat, lon) in zip(self.vehicles, (near(LIANGJIANG) for _ in self.vehicles))]
        self.client.post("/api/v1/fleet/telemetry", json={"rows": rows}, headers=self.auth,
                         name="/api/v1/fleet/telemetry")


class Gate(HttpUser):
    """A gate scanning arriving spectators: each code once, now and then a repeat."""

    weight = 1
    wait_time = between(0.2, 1)

    def on_start(self):
        self.auth = login(self.client, FIXTURE["organiser_email"], FIXTURE["password"])

    @task
    def scan(self):
        code = random.choice(FIXTURE["ticket_codes"])
        self.client.post(f"/api/v1/organiser/events/{FIXTURE['event_id']}/check-ins", json={"code": code},
                         headers=self.auth, name="/api/v1/organiser/events/{id}/check-ins")


@events.quitting.add_listener
def enforce_thresholds(environment, **_):
    """Let the thresholds alone decide the exit code (locust would fail on any single error)."""
    problems = breaches(environment.stats)
    for problem in problems:
        print(f"THRESHOLD BROKEN: {problem}")
    environment.process_exit_code = 1 if problems else 0
