"""A rider's live stream over real HTTP on both backends: publish path, replay, heartbeat, limits."""
import threading
import time

import requests
from sqlmodel import select

from backend.dbtypes import utcnow
from robotaxi_dispatch import streams
from robotaxi_dispatch.rides import positions
from robotaxi_dispatch.rides.models import Vehicle
from tests.factories import bearer, make_user, statements_run
from tests.robotaxi_dispatch.test_rides import event as vehicle_event
from tests.streams.conftest import dispatcher, hub_caught_up, request


def _assigned(app, client, city) -> tuple[dict, int]:
    ride = request(client, city)
    dispatcher(app).step()
    vehicle_id = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    return ride, vehicle_id


def _telemetry(client, city, vehicle_id: int, lat: float, lon: float = 106.546):
    row = {"vehicle_id": vehicle_id, "lat": lat, "lon": lon, "soc": 70, "ts": utcnow().isoformat()}
    answer = client.post("/api/v1/fleet/telemetry", headers=city["operator"], json={"rows": [row]})
    assert answer.status_code == 202, answer.json


def test_status_and_positions_reach_an_open_stream_through_the_publish_path(app, client, city, open_stream, quick):
    ride, vehicle_id = _assigned(app, client, city)
    stream = open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"])
    assert stream.response.status_code == 200
    assert stream.next("retry")["retry"] == "3000"
    replayed = [stream.next("status")["data"]["status"] for _ in range(2)]
    assert replayed == ["requested", "assigned"]
    assert stream.next("position")["data"]["vehicle_id"] == vehicle_id  # where the car is as the stream opens

    _telemetry(client, city, vehicle_id, 29.6605)
    moved = stream.next("position")["data"]
    assert (moved["lat"], moved["vehicle_id"]) == (29.6605, vehicle_id) and moved["pickup_eta_s"] > 0

    assert vehicle_event(client, city, vehicle_id, "arrived_pickup").status_code == 200
    arriving = stream.next("status")
    assert arriving["data"]["status"] == "arriving" and int(arriving["id"]) > 0
    for name in ("picked_up", "dropped_off"):
        assert vehicle_event(client, city, vehicle_id, name).status_code == 200
    assert stream.next("status")["data"]["status"] == "in_progress"
    assert stream.next("status")["data"]["status"] == "completed"
    assert stream.ended.wait(10), "the stream ends with the ride"


def test_resume_after_last_event_id_loses_no_status_event(app, client, city, open_stream):
    ride, vehicle_id = _assigned(app, client, city)
    first = open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"])
    seen = [first.next("status") for _ in range(2)]
    first.close()
    # While the rider is away the car arrives and picks them up.
    for name in ("arrived_pickup", "picked_up"):
        assert vehicle_event(client, city, vehicle_id, name).status_code == 200
    again = open_stream(f"/api/v1/rides/{ride['id']}/events", {**city["rider"], "Last-Event-ID": seen[-1]["id"]})
    missed = [again.next("status") for _ in range(2)]
    assert [m["data"]["status"] for m in missed] == ["arriving", "in_progress"]
    assert int(missed[0]["id"]) > int(seen[-1]["id"])
    everything = open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"])
    ids = [everything.next("status")["id"] for _ in range(4)]
    assert ids == [s["id"] for s in seen] + [m["id"] for m in missed]


def test_a_waiting_stream_gets_heartbeats(app, client, city, open_stream, quick):
    ride = request(client, city)  # no vehicle yet: nothing happens but the heartbeat
    stream = open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"])
    assert stream.next("status")["data"]["status"] == "requested"
    assert stream.next("comment", timeout=5) == "heartbeat"


def test_the_sixth_stream_of_one_user_gets_429_and_a_closed_one_frees_its_slot(app, client, city, open_stream):
    ride = request(client, city)
    path = f"/api/v1/rides/{ride['id']}/events"
    five = [open_stream(path, city["rider"]) for _ in range(5)]
    assert [s.response.status_code for s in five] == [200] * 5
    sixth = open_stream(path, city["rider"])
    assert sixth.response.status_code == 429
    assert sixth.response.headers["Content-Type"].startswith("application/problem+json")
    assert sixth.response.json()["code"] == "too_many_streams"
    five[0].close()
    deadline = time.monotonic() + 10
    while open_stream(path, city["rider"]).response.status_code != 200:  # the server notices the close
        assert time.monotonic() < deadline, "a closed stream's slot was never released"
        time.sleep(0.2)


def test_a_process_over_its_ceiling_answers_503_with_retry_after(app, client, city, open_stream):
    ride = request(client, city)
    hub = app.extensions["live_hub"]
    saved, hub.max_streams = hub.max_streams, hub.open_streams + 1
    try:
        assert open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"]).response.status_code == 200
        refused = open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"]).response
    finally:
        hub.max_streams = saved
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert refused.json()["code"] == "too_many_streams"


def test_an_open_stream_holds_no_turn_of_the_process(app, client, city, open_stream, monkeypatch):
    """A stream takes a turn only while it opens: with one turn, requests are served beside it."""
    ride = request(client, city)
    monkeypatch.setattr(app.extensions["admission"], "turns", threading.BoundedSemaphore(1))
    stream = open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"])
    assert stream.next("status")["data"]["status"] == "requested"
    assert requests.get(stream.response.url.split("/api/")[0] + "/health", timeout=5).status_code == 200
    assert open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"]).response.status_code == 200


def test_another_riders_ride_cannot_be_watched(app, client, city, session):
    ride = request(client, city)
    stranger = bearer(app, session, make_user(session))
    assert client.get(f"/api/v1/rides/{ride['id']}/events", headers=stranger).status_code == 404


def test_open_streams_query_nothing_while_positions_flow(app, client, city, open_stream, quick):
    """Twenty streams on one ride, positions published for two seconds: no database statement."""
    quick["SSE_MAX_STREAMS_PER_USER"] = 20
    ride, vehicle_id = _assigned(app, client, city)
    watchers = [open_stream(f"/api/v1/rides/{ride['id']}/events", city["rider"]) for _ in range(20)]
    for watcher in watchers:
        watcher.next("position")  # opened: replay and current position read once
    hub_caught_up(app)
    with statements_run(app) as statements:
        for n in range(10):
            streams.publish_ride_positions(app.extensions["redis"], "liangjiang", [(ride["id"], {
                "vehicle_id": vehicle_id, "lat": 29.66 + n / 1e4, "lon": 106.546, "pickup_eta_s": 60})])
            time.sleep(0.2)
        for watcher in watchers:
            assert watcher.next("position")["data"]["lat"] >= 29.66
    assert statements == []


def test_opening_a_stream_reads_the_database_once(app, client, city, open_stream):
    """The ride, its vehicle and its missed events in one statement; the position from Redis."""
    ride, vehicle_id = _assigned(app, client, city)
    _telemetry(client, city, vehicle_id, 29.6611)
    hub_caught_up(app)  # the assignment's notice, heard late, would read the (already replayed) events again
    with statements_run(app) as statements:
        stream = open_stream(f"/api/v1/rides/{ride['id']}/events", {**city["rider"], "Last-Event-ID": "0"})
        assert [stream.next("status")["data"]["status"] for _ in range(2)] == ["requested", "assigned"]
        assert stream.next("position")["data"]["lat"] == 29.6611  # the latest position, not yet in the row
    queries = [s for s in statements if not s.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    assert len(queries) == 1, queries


def test_telemetry_write_behind_keeps_the_latest_position_readable_and_lands(app, client, city, session):
    ride, vehicle_id = _assigned(app, client, city)
    _telemetry(client, city, vehicle_id, 29.6644, 106.5477)
    row = session.exec(select(Vehicle).where(Vehicle.id == vehicle_id)).one()
    assert row.lat != 29.6644, "the row waits for the flush"
    seen = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["position"]
    assert seen == {"lat": 29.6644, "lon": 106.5477}
    box = client.get("/api/v1/ops/fleet?bbox=29.664,106.547,29.665,106.548", headers=city["operator"]).json
    assert [v["id"] for v in box["items"]] == [vehicle_id]
    detail = client.get(f"/api/v1/ops/vehicles/{vehicle_id}", headers=city["operator"]).json
    assert detail["position"] == {"lat": 29.6644, "lon": 106.5477}

    dispatcher(app).step()  # the dispatcher flushes its region once a tick
    session.rollback()  # a fresh snapshot, not the one the first read began
    row = session.get(Vehicle, vehicle_id)
    assert (row.lat, row.lon, row.soc) == (29.6644, 106.5477, 70)


def test_an_older_position_never_replaces_a_newer_one_in_the_database(app, client, city, session):
    vehicle_id = city["vehicles"][0]["id"]
    later, earlier = utcnow(), utcnow().replace(year=2025)
    positions.write(session, [(vehicle_id, {"lat": 29.67, "lon": 106.55, "soc": 60, "heading": None,
                                            "speed_mps": None, "position_at": later})])
    positions.write(session, [(vehicle_id, {"lat": 29.0, "lon": 106.0, "soc": 10, "heading": None,
                                            "speed_mps": None, "position_at": earlier})])
    session.rollback()  # a fresh snapshot, not the one the first read began
    assert session.get(Vehicle, vehicle_id).lat == 29.67


def test_positions_still_land_without_redis_write_behind(app, client, city, session, monkeypatch):
    """Redis down at ingest: the batch is written straight to the rows instead of being lost."""
    vehicle_id = city["vehicles"][0]["id"]

    def down(*args, **kwargs):
        raise positions.redis.ConnectionError("down")
    monkeypatch.setattr(positions, "remember", down)
    _telemetry(client, city, vehicle_id, 29.6655)
    session.rollback()  # a fresh snapshot, not the one the first read began
    assert session.get(Vehicle, vehicle_id).lat == 29.6655


def test_a_stream_closed_before_it_was_read_gives_back_its_slot_and_subscription(app, client, city):
    ride = request(client, city)
    hub = app.extensions["live_hub"]
    before = hub.open_streams
    for _ in range(7):  # more than the user's limit: each one closed gave its slot back
        answer = client.get(f"/api/v1/rides/{ride['id']}/events", headers=city["rider"])
        assert answer.status_code == 200
        answer.close()
    assert hub.open_streams == before


def test_an_open_streams_slot_stays_counted_past_its_lapse(app, client, city, open_stream, quick, monkeypatch):
    """The hub renews its streams' slots, so one user cannot open more than the cap by waiting."""
    from backend import realtime

    monkeypatch.setattr(realtime, "SLOT_TTL_S", 2)
    monkeypatch.setattr(realtime, "RENEW_EVERY_S", 0.3)
    quick["SSE_MAX_STREAMS_PER_USER"] = 1
    ride = request(client, city)
    path = f"/api/v1/rides/{ride['id']}/events"
    assert open_stream(path, city["rider"]).response.status_code == 200
    time.sleep(4.5)  # over twice the slot's lifetime
    assert open_stream(path, city["rider"]).response.status_code == 429
