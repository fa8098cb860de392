"""Redis stops mid-run: bookings, tickets and sign-in keep working, rides wait, nothing is lost."""
import threading
import time

import pytest
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.geography import SERVICE_AREAS
from booking.sites.models import Resource
from robotaxi_dispatch.dispatcher import Dispatcher
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle
from robotaxi_dispatch.service_areas import ServiceArea, polygon_ewkt
from tests.booking.conftest import RESOURCES, booking_body, next_slot, pay
from tests.factories import PASSWORD, bearer, make_event, make_org, make_site, make_user, save_card

LIJIA, YUFU = {"lat": 29.6600, "lon": 106.5450}, {"lat": 29.6900, "lon": 106.5800}


@pytest.fixture
def city(outage_app, session):
    """A charging site, an event on sale, Liangjiang's service area with two robotaxis, a citizen."""
    site = make_site(session, organisation=make_org(session), resources=RESOURCES[:1])
    charger = session.exec(select(Resource).where(Resource.site_id == site.id)).first()
    event = make_event(session, organisation=make_org(session, kind="organiser"), venue=site)
    session.add_all(ServiceArea(slug=slug, name_zh=zh, name_en=en, region=region, area=polygon_ewkt(ring))
                    for slug, zh, en, region, ring in SERVICE_AREAS)
    fleet = make_org(session, kind="operator")
    session.add_all(Vehicle(organisation_id=fleet.id, plate=f"渝A·F00{n}", model="t", seats=4, region="liangjiang",
                            lat=29.6610 + 0.002 * n, lon=106.5460, soc=80, position_at=utcnow()) for n in (1, 2))
    citizen = make_user(session)
    session.commit()
    headers = bearer(outage_app, session, citizen)
    save_card(outage_app.test_client(), headers)
    return {"charger": charger, "event": event, "citizen": citizen, "headers": headers}


def _dispatching(app) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    dispatcher = Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
                            region="liangjiang", owner="outage-test")
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def _ride_status(app, ride_id: int) -> str:
    with Session(app.extensions["db_engine"]) as fresh:
        return fresh.get(Ride, ride_id).status


def _wait_for(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_platform_keeps_working_while_redis_is_down_and_dispatch_resumes(outage_app, own_redis, city):
    client, headers = outage_app.test_client(), city["headers"]
    thread, stop = _dispatching(outage_app)
    own_redis.stop()
    try:
        login = client.post("/api/v1/auth/login", json={"email": city["citizen"].email, "password": PASSWORD})
        assert login.status_code == 200, login.json

        start, end = next_slot("charger")
        booked = client.post("/api/v1/bookings", headers={**headers, "Idempotency-Key": "charge-1"},
                             json=booking_body(city["charger"], start, end))
        assert booked.status_code == 201, booked.json  # authorised against the wallet at once
        assert client.get(f"/api/v1/bookings/{booked.json['id']}", headers=headers).json["status"] == "confirmed"

        tier = client.get(f"/api/v1/events/{city['event'].id}").json["tiers"][0]
        placed = client.post(f"/api/v1/events/{city['event'].id}/orders", headers=headers,
                             json={"items": [{"tier_id": tier["id"], "quantity": 2}]})
        assert placed.status_code == 201, placed.json
        assert pay(client, placed.json, headers).status_code == 200
        assert len(client.get(f"/api/v1/orders/{placed.json['id']}", headers=headers).json["tickets"]) == 2

        requested = client.post("/api/v1/rides", headers={**headers, "Idempotency-Key": "ride-1"},
                                json={"pickup": LIJIA, "dropoff": YUFU})
        assert requested.status_code == 201, requested.json
        assert requested.json["payment"]["status"] == "authorised"
        time.sleep(3)  # a tick or more without Redis
        assert thread.is_alive(), "the dispatcher died with Redis"
        assert _ride_status(outage_app, requested.json["id"]) == RideStatus.requested
    finally:
        own_redis.start()  # back, and empty: no streams, no groups, no lease
    try:
        assert _wait_for(lambda: _ride_status(outage_app, requested.json["id"]) == RideStatus.assigned), \
            "the ride requested during the outage was never dispatched"
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=10)


def test_health_tells_redis_is_down(outage_app, own_redis):
    own_redis.stop()
    ready = outage_app.test_client().get("/ready")
    assert ready.status_code == 503 and "redis" in ready.get_data(as_text=True).lower()
    assert outage_app.test_client().get("/health").status_code == 200


def test_a_retried_key_creates_nothing_twice_while_redis_is_down(outage_app, own_redis, city):
    """The database claim replays an order and refuses concurrent rides with one key, without Redis."""
    client, headers = outage_app.test_client(), city["headers"]
    tier = client.get(f"/api/v1/events/{city['event'].id}").json["tiers"][0]
    own_redis.stop()
    body = {"items": [{"tier_id": tier["id"], "quantity": 1}]}
    first = client.post(f"/api/v1/events/{city['event'].id}/orders", json=body,
                        headers={**headers, "Idempotency-Key": "order-1"})
    again = client.post(f"/api/v1/events/{city['event'].id}/orders", json=body,
                        headers={**headers, "Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json["id"] == first.json["id"]
    other = client.post(f"/api/v1/events/{city['event'].id}/orders", headers={**headers, "Idempotency-Key": "order-1"},
                        json={"items": [{"tier_id": tier["id"], "quantity": 2}]})
    assert other.status_code == 409 and other.json["code"] == "idempotency_key_reused"

    answers, barrier = [], threading.Barrier(6)

    def request_ride():
        barrier.wait()
        answer = outage_app.test_client().post("/api/v1/rides", json={"pickup": LIJIA, "dropoff": YUFU},
                                               headers={**headers, "Idempotency-Key": "ride-twice"})
        answers.append((answer.status_code, answer.json.get("id") or answer.json.get("code")))

    threads = [threading.Thread(target=request_ride) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(outage_app.extensions["db_engine"]) as fresh:
        rides = fresh.exec(select(Ride.id)).all()
    assert len(rides) == 1, answers
    assert all(answer in ((201, rides[0]), (409, "idempotency_request_in_progress")) for answer in answers), answers
    replay = client.post("/api/v1/rides", json={"pickup": LIJIA, "dropoff": YUFU},
                         headers={**headers, "Idempotency-Key": "ride-twice"})
    assert replay.status_code == 201 and replay.json["id"] == rides[0]


def test_a_key_redis_lost_is_still_replayed_from_the_database(outage_app, own_redis, city):
    client, headers = outage_app.test_client(), {**city["headers"], "Idempotency-Key": "order-kept"}
    tier = client.get(f"/api/v1/events/{city['event'].id}").json["tiers"][0]
    body = {"items": [{"tier_id": tier["id"], "quantity": 1}]}
    first = client.post(f"/api/v1/events/{city['event'].id}/orders", json=body, headers=headers)
    own_redis.stop()
    own_redis.start()  # back, and empty
    again = client.post(f"/api/v1/events/{city['event'].id}/orders", json=body, headers=headers)
    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
