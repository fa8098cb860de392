"""The dispatcher dies mid-tick: its restart assigns every open request, no vehicle twice."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from backend.geography import SERVICE_AREAS
from robotaxi_dispatch import dispatcher as dispatch_module
from robotaxi_dispatch.dispatcher import LEASE_MS, Dispatcher
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle
from robotaxi_dispatch.service_areas import ServiceArea, polygon_ewkt
from tests.factories import bearer, make_org, make_user, save_card

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet_and_riders(outage_app, session):
    """Forty robotaxis spread over Liangjiang and a rider, with the service area."""
    session.add_all(ServiceArea(slug=slug, name_zh=zh, name_en=en, region=region, area=polygon_ewkt(ring))
                    for slug, zh, en, region, ring in SERVICE_AREAS)
    org = make_org(session, kind="operator")
    session.add_all(Vehicle(organisation_id=org.id, plate=f"渝A·K{n:04d}", model="t", seats=4, region="liangjiang",
                            lat=29.66 + 0.0015 * (n % 20), lon=106.545 + 0.004 * (n // 20), soc=80,
                            position_at=utcnow()) for n in range(40))
    rider = make_user(session)
    session.commit()
    headers = bearer(outage_app, session, rider)
    save_card(outage_app.test_client(), headers)
    return headers


def _request_rides(app, headers: dict, numbers: range) -> list[int]:
    """Request a ride beside each numbered car, so every ride has one in reach at any hour."""
    client, ids = app.test_client(), []
    for i in numbers:
        pickup = {"lat": 29.6603 + 0.0015 * (i % 20), "lon": 106.5453 + 0.004 * (i // 20)}
        answer = client.post("/api/v1/rides", headers=headers,
                             json={"pickup": pickup, "dropoff": {"lat": 29.69, "lon": 106.58}})
        assert answer.status_code == 201, answer.json
        ids.append(answer.json["id"])
    return ids


def _statuses(app, ride_ids: list[int]) -> dict[int, tuple[str, int | None]]:
    with Session(app.extensions["db_engine"]) as fresh:
        rows = fresh.exec(select(Ride.id, Ride.status, Ride.vehicle_id).where(Ride.id.in_(ride_ids))).all()
    return {rid: (status, vehicle) for rid, status, vehicle in rows}


def _assert_each_assigned_once(app, ride_ids: list[int]) -> None:
    rides = _statuses(app, ride_ids)
    assert {status for status, _ in rides.values()} == {RideStatus.assigned}, Counter(
        s for s, _ in rides.values())
    vehicles = Counter(vehicle for _, vehicle in rides.values())
    assert max(vehicles.values()) == 1, "a vehicle was given two rides"


def test_a_crash_inside_the_matching_transaction_leaves_nothing_half_done(outage_app, fleet_and_riders,
                                                                          monkeypatch):
    ride_ids = _request_rides(outage_app, fleet_and_riders, range(12))
    parts = outage_app.extensions["db_engine"], outage_app.extensions["redis"], outage_app.extensions["payment_gateway"]
    real_record, calls = dispatch_module.record, []

    def dies_after_three(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise SystemExit("killed mid-tick")
        return real_record(*args, **kwargs)
    monkeypatch.setattr(dispatch_module, "record", dies_after_three)
    with pytest.raises(SystemExit):
        Dispatcher(*parts, region="liangjiang", owner="first").step()
    assert {s for s, _ in _statuses(outage_app, ride_ids).values()} == {RideStatus.requested}
    monkeypatch.setattr(dispatch_module, "record", real_record)
    Dispatcher(*parts, region="liangjiang", owner="first").step()  # restarted under the same name
    _assert_each_assigned_once(outage_app, ride_ids)
    pending = outage_app.extensions["redis"].xpending("dispatch:{liangjiang}:requests", "dispatchers")
    assert pending["pending"] == 0


def _dispatch_process(backend: dict, redis_url: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": backend["DATABASE_URL"], "REDIS_URL": redis_url,
           "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256"}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "dispatch", "run", "--region", "liangjiang"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def test_a_killed_dispatcher_process_is_replaced_and_every_request_is_served(outage_app, backend, own_redis,
                                                                             fleet_and_riders):
    ride_ids = _request_rides(outage_app, fleet_and_riders, range(30))
    first = _dispatch_process(backend, own_redis.url)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # kill it as soon as it has begun assigning
            if any(s == RideStatus.assigned for s, _ in _statuses(outage_app, ride_ids).values()):
                break
            time.sleep(0.02)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        ride_ids += _request_rides(outage_app, fleet_and_riders, range(30, 40))  # demand goes on meanwhile
        second = _dispatch_process(backend, own_redis.url)
        try:
            deadline = time.monotonic() + LEASE_MS / 1000 + 45  # the lease must lapse; a loaded machine starts slowly
            while time.monotonic() < deadline:
                if all(s == RideStatus.assigned for s, _ in _statuses(outage_app, ride_ids).values()):
                    break
                time.sleep(0.2)
            _assert_each_assigned_once(outage_app, ride_ids)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=15)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
