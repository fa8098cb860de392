"""A Chongqing evening on the platform: drivers search and book chargers, fans rush for tickets,
riders call robotaxis, the fleet reports, gates scan.

Run through `make load` (load/run.py prepares the server and the data this file reads from
LOAD_FIXTURE: signed-in citizens, the event on sale, the fleet's vehicles, ticket codes for the
gates). Citizens behave like people holding a phone: a request, then several seconds reading it
(THINK), so 1,000 users are an evening's 1,000 people, not 1,000 loops. The probe users measure
one endpoint's capacity at a fixed concurrency, with no think time.
"""
import itertools
import json
import os
import random
import time

import gevent
import requests
from locust import FastHttpUser, between, constant, constant_throughput, events, runners, task

from load.city import HOTSPOTS, LIANGJIANG, VEHICLES_PER_GATEWAY, VISA, Car, evening_search, near
from load.thresholds import breaches

FIXTURE = json.loads(open(os.environ["LOAD_FIXTURE"]).read()) if os.environ.get("LOAD_FIXTURE") else {}
PROCESSES = int(os.environ.get("LOAD_LOCUST_PROCESSES", "1"))  # locust's own processes (--processes)
# On a busy machine a forked worker's heartbeat (one a second) comes seconds late; after three
# missed ones locust calls the worker missing and restarts its users, which is not the evening.
runners.HEARTBEAT_LIVENESS = 30
THINK = between(4, 12)  # seconds between two taps on the app: reading the answer, walking, deciding
_citizens = itertools.count()


def nth(counter, user) -> int:
    """Return the user's number among its kind across locust's processes (each counts its own)."""
    return next(counter) * PROCESSES + max(user.environment.runner.worker_index, 0)


def login(client, email, password) -> dict:
    token = client.post("/api/v1/auth/login", json={"email": email, "password": password},
                        name="/api/v1/auth/login").json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def watch(user, path: str, name: str, *, until: float | None, lag_of: tuple[str, str]) -> None:
    """Hold a stream open `until` seconds have passed (None: until it ends), as an app does.

    Streams go to the streams' server, where production's load balancer sends the stream routes.
    Counted: the opening (until the headers, the replay right behind them) as a GET `name`, and each
    `lag_of` event's delivery lag (publish to arrival, the client's own delay included) as an SSE entry.
    """
    started = time.perf_counter()
    try:
        stream = requests.get(FIXTURE["streams"] + path, headers=user.auth, stream=True, timeout=(5, 30))
    except requests.RequestException as exc:
        count(user, "GET", name, started, exc)
        return
    with stream:
        refused = None if stream.ok else requests.HTTPError(f"{stream.status_code} {stream.text[:200]}")
        count(user, "GET", name, started, refused)
        if refused is None:
            with gevent.Timeout(until, False):  # then the user hangs up
                _count_lags(user, stream, lag_of)


def _count_lags(user, stream: requests.Response, lag_of: tuple[str, str]) -> None:
    kind, entry = lag_of
    event = None
    for line in stream.iter_lines(decode_unicode=True):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == kind:
            sent = json.loads(line[5:]).get("t")  # none on what the opening read (a position from Redis)
            if sent is not None:
                user.environment.events.request.fire(
                    request_type="SSE", name=f"{entry} (delivery lag)", response_length=len(line),
                    response_time=max(time.time() - sent, 0) * 1000, exception=None, context={})


def count(user, method: str, name: str, started: float, exception: Exception | None = None) -> None:
    """Count a request locust's client did not send."""
    user.environment.events.request.fire(request_type=method, name=name, response_length=0, context={},
                                         response_time=(time.perf_counter() - started) * 1000, exception=exception)


class SignedIn(FastHttpUser):
    """A citizen already signed in on the app (load/provision.py issued the token)."""

    abstract = True

    def on_start(self):
        tokens = FIXTURE["citizen_tokens"]
        self.auth = {"Authorization": f"Bearer {tokens[nth(_citizens, self) % len(tokens)]}"}
        # Rides (and charging) authorise off-session against the wallet: save a card once.
        self.client.post("/api/v1/me/payment-methods", headers=self.auth, json={"card_number": VISA},
                         name="/api/v1/me/payment-methods")

    def pay(self, payment: dict):
        if payment["status"] == "pending":  # not already authorised against the wallet
            self.wait()  # typing the card in
            self.client.post(f"/api/v1/payments/{payment['id']}/sandbox/confirm", headers=self.auth,
                             json={"card_number": VISA}, name="/api/v1/payments/{id}/sandbox/confirm")


class Driver(SignedIn):
    """Finds a charger now or later, books, pays, and often cancels; browses sites and events."""

    weight = 12
    wait_time = THINK

    @task
    def floor(self):
        self.client.get("/health", name="/health")

    @task(6)
    def availability_now(self):
        self.client.get(f"/api/v1/availability?{evening_search(voltage_class=800)}", name="/api/v1/availability")

    @task(3)
    def nearby_sites(self):
        lat, lon = near(HOTSPOTS)
        self.client.get(f"/api/v1/sites?lat={lat:.5f}&lon={lon:.5f}&radius_m=3000", name="/api/v1/sites")

    @task(2)
    def events_nearby(self):
        lat, lon = near(HOTSPOTS)
        self.client.get(f"/api/v1/events?lat={lat:.5f}&lon={lon:.5f}&radius_m=50000", name="/api/v1/events")

    @task(1)
    def my_bookings(self):
        self.client.get("/api/v1/bookings?limit=10", headers=self.auth, name="/api/v1/bookings")

    @task(2)
    def book_pay_cancel(self):
        search = self.client.get(f"/api/v1/availability?{evening_search(random.randint(1, 48), 2, limit=3)}",
                                 name="/api/v1/availability")
        offers = search.json()["items"] if search.status_code == 200 else []  # a failure is counted already
        if not offers:
            return
        resource = random.choice(offers[0]["resources"])
        slot = resource["slots"][0]
        self.wait()  # choosing among the offers
        with self.client.post("/api/v1/bookings", name="/api/v1/bookings", headers=self.auth,
                              json={"resource_id": resource["resource"]["id"], "start": slot["start"],
                                    "end": slot["end"]}, catch_response=True) as answer:
            if answer.status_code == 409:  # someone was faster: an expected outcome, not a failure
                answer.success()
        if answer.status_code != 201:
            return
        booking = answer.json()
        self.pay(booking["payment"])
        if random.random() < 0.7:  # most plans change; the rest keep their slot
            self.wait()
            self.client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=self.auth,
                             name="/api/v1/bookings/{id}/cancel")


class Fan(SignedIn):
    """A fan in the ticket rush: looks at the event, buys and pays, looks again."""

    weight = 4
    wait_time = THINK

    @task(3)
    def event_detail(self):
        self.client.get(f"/api/v1/events/{FIXTURE['event_id']}", name="/api/v1/events/{id}")

    @task(1)
    def buy_ticket(self):
        with self.client.post(f"/api/v1/events/{FIXTURE['event_id']}/orders", headers=self.auth,
                              name="/api/v1/events/{id}/orders", catch_response=True,
                              json={"items": [{"tier_id": FIXTURE["tier_id"], "quantity": random.randint(1, 2)}]}
                              ) as answer:
            if answer.status_code == 409:  # sold out: expected in a rush
                answer.success()
        if answer.status_code == 201:
            self.pay(answer.json()["payment"])


class Rider(SignedIn):
    """Leaves the match by robotaxi: quote, request, watch the car come on the ride's live stream,
    then cancel (the fleet stays free)."""

    weight = 4
    wait_time = THINK

    @task
    def ride(self):
        (plat, plon), (dlat, dlon) = near(LIANGJIANG, 0.004), near(LIANGJIANG, 0.004)
        body = {"pickup": {"lat": plat, "lon": plon}, "dropoff": {"lat": dlat, "lon": dlon}}
        self.client.post("/api/v1/rides/quote", json=body, name="/api/v1/rides/quote")
        self.wait()  # reading the fare
        answer = self.client.post("/api/v1/rides", json=body, headers=self.auth, name="/api/v1/rides")
        if answer.status_code != 201:
            return
        ride = answer.json()
        self.wait()
        self.client.get(f"/api/v1/rides/{ride['id']}", headers=self.auth, name="/api/v1/rides/{id}")
        watch(self, f"/api/v1/rides/{ride['id']}/events", "/api/v1/rides/{id}/events",
              until=self.wait_time() + self.wait_time(), lag_of=("position", "ride position"))
        self.client.post(f"/api/v1/rides/{ride['id']}/cancel", headers=self.auth, name="/api/v1/rides/{id}/cancel")


class Operator(FastHttpUser):
    """The fleet's operations centre: one console on the city's robotaxis all evening."""

    fixed_count = 1
    wait_time = constant(1)  # before opening the console again, should its stream end

    def on_start(self):
        self.auth = login(self.client, FIXTURE["operator_email"], FIXTURE["password"])

    @task
    def console(self):
        watch(self, "/api/v1/ops/stream", "/api/v1/ops/stream", until=None, lag_of=("fleet", "console frame"))


class Fleet(FastHttpUser):
    """A fleet gateway forwarding the positions of 200 driving robotaxis once a second."""

    fixed_count = max(1, len(FIXTURE.get("vehicle_ids", ())) // VEHICLES_PER_GATEWAY)
    wait_time = constant_throughput(1)
    _gateways = itertools.count()

    def on_start(self):
        self.auth = login(self.client, FIXTURE["operator_email"], FIXTURE["password"])
        n = nth(self._gateways, self) % self.fixed_count
        self.cars = [Car(v) for v in FIXTURE["vehicle_ids"][n * VEHICLES_PER_GATEWAY:(n + 1) * VEHICLES_PER_GATEWAY]]
        self.reported = time.monotonic()

    @task
    def telemetry(self):
        now = time.monotonic()
        rows = [car.drive(now - self.reported) for car in self.cars]
        self.reported = now
        self.client.post("/api/v1/fleet/telemetry", json={"rows": rows}, headers=self.auth,
                         name="/api/v1/fleet/telemetry")


class Gate(FastHttpUser):
    """A gate scanning arriving spectators: each code once, now and then a repeat."""

    fixed_count = int(FIXTURE.get("gates", 1))
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.auth = login(self.client, FIXTURE["organiser_email"], FIXTURE["password"])

    @task
    def scan(self):
        code = random.choice(FIXTURE["ticket_codes"])
        self.client.post(f"/api/v1/organiser/events/{FIXTURE['event_id']}/check-ins", json={"code": code},
                         headers=self.auth, name="/api/v1/organiser/events/{id}/check-ins")


class HealthProbe(FastHttpUser):
    """The floor: as many `/health` requests as the concurrency allows."""

    wait_time = constant(0)

    @task
    def health(self):
        self.client.get("/health", name="/health")


class AvailabilityProbe(FastHttpUser):
    """Nearby availability at the same concurrency as the floor's probe."""

    wait_time = constant(0)

    @task
    def availability(self):
        self.client.get(f"/api/v1/availability?{evening_search(voltage_class=800)}", name="/api/v1/availability")


@events.quitting.add_listener
def enforce_thresholds(environment, **_):
    """Let the thresholds alone decide the exit code (locust would fail on any single error)."""
    problems = breaches(environment.stats) if os.environ.get("LOAD_THRESHOLDS") == "on" else []
    for problem in problems:
        print(f"THRESHOLD BROKEN: {problem}")
    environment.process_exit_code = 1 if problems else 0
