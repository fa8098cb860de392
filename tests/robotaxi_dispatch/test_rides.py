"""Rides end to end on both backends: quote, request, dispatch, drive, pay; faults and restarts."""
from datetime import timedelta

import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from backend.geography import SERVICE_AREAS
from mobile_api.rides import TRIP_EXAMPLE
from robotaxi_dispatch import streams
from robotaxi_dispatch.dispatcher import Dispatcher
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, OUT_OF_SERVICE
from robotaxi_dispatch.rides import fleet
from robotaxi_dispatch.rides.models import Ride, Vehicle, VehicleStatus
from robotaxi_dispatch.service_areas import ServiceArea, polygon_ewkt
from tests.factories import bearer, make_org, make_user, save_card
from tests.payments.faults import MODES, failing, money, run_runner

LIJIA, YUFU = {"lat": 29.6600, "lon": 106.5450}, {"lat": 29.6900, "lon": 106.5800}
JIEFANGBEI = {"lat": 29.5578, "lon": 106.5772}
VISA, SAVES_THEN_DECLINES = "4242424242424242", "4000000000000341"


@pytest.fixture
def city(app, client, session):
    """Liangjiang's service area, two robotaxis near Lijia, their operator and a rider."""
    session.add_all(ServiceArea(slug=slug, name_zh=zh, name_en=en, region=region, area=polygon_ewkt(ring))
                    for slug, zh, en, region, ring in SERVICE_AREAS)
    session.commit()
    org = make_org(session, kind="operator")
    operator = bearer(app, session, make_user(session, roles=("operator",), organisation=org))
    vehicles = [client.post("/api/v1/fleet/vehicles", headers=operator, json={
        "plate": f"渝A·R00{n}", "seats": 4, "region": "liangjiang"}).json for n in (1, 2)]
    now = utcnow().isoformat()
    rows = [{"vehicle_id": v["id"], "lat": 29.6610 + 0.002 * i, "lon": 106.5460, "soc": 80, "ts": now}
            for i, v in enumerate(vehicles)]
    assert client.post("/api/v1/fleet/telemetry", headers=operator, json={"rows": rows}).status_code == 202
    rider = bearer(app, session, make_user(session))
    save_card(client, rider)
    return {"operator": operator, "rider": rider, "vehicles": vehicles}


def dispatcher(app, now=None):
    return Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
                      region="liangjiang", owner="test-dispatcher")


def request(client, city, **extra):
    answer = client.post("/api/v1/rides", headers=city["rider"],
                         json={"pickup": LIJIA, "dropoff": YUFU, "passengers": 1} | extra)
    assert answer.status_code == 201, answer.json
    ride = answer.json
    assert ride["payment"]["status"] == "authorised"  # off-session, against the rider's wallet
    return ride


def event(client, city, vehicle_id, name):
    return client.post(f"/api/v1/fleet/vehicles/{vehicle_id}/events", headers=city["operator"], json={"event": name})


def test_quote_inside_and_outside_the_service_area(client, city):
    quote = client.post("/api/v1/rides/quote", json={"pickup": LIJIA, "dropoff": YUFU}).json
    assert quote["fare"]["amount"] >= 1000 and quote["distance_m"] > 4000
    assert quote["pickup_eta_s"] is not None and quote["trip_s"] > 0
    outside = client.post("/api/v1/rides/quote", json={"pickup": JIEFANGBEI, "dropoff": YUFU})
    assert outside.status_code == 422 and outside.json["code"] == "outside_service_area"


def test_the_documented_trip_example_is_inside_the_service_area(client, city):
    assert client.post("/api/v1/rides/quote", json=TRIP_EXAMPLE).status_code == 200


def test_ride_is_dispatched_driven_and_paid(app, client, city):
    ride = request(client, city)
    assert ride["status"] == "requested"
    assert dispatcher(app).step() == {"assigned": 1, "no_vehicle": 0}
    got = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json
    assert got["status"] == "assigned" and got["vehicle"]["plate"].startswith("渝A")
    vid = got["vehicle"]["id"]
    assert event(client, city, vid, "picked_up").status_code == 409  # not arrived yet
    for name in ("arrived_pickup", "picked_up", "dropped_off"):
        assert event(client, city, vid, name).status_code == 200, name
    done = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json
    assert done["status"] == "completed" and done["final_fare"]["amount"] > 0
    assert done["payment"]["status"] == "succeeded"
    assert done["payment"]["amount_captured"] == done["final_fare"]["amount"]
    stream = client.get(f"/api/v1/rides/{ride['id']}/events", headers=city["rider"])
    body = stream.get_data(as_text=True)
    # Closed as a server closes it: else the hub keeps the stream and renews its user's slot,
    # which a later test's user with the same id inherits (429 too_many_streams).
    stream.close()
    assert stream.mimetype == "text/event-stream"
    assert [line for line in body.splitlines() if line.startswith("event: status")] and '"completed"' in body


def test_cancel_when_the_car_is_arriving_costs_the_fee(app, client, city):
    ride = request(client, city)
    dispatcher(app).step()
    vid = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    event(client, city, vid, "arrived_pickup")
    cancelled = client.post(f"/api/v1/rides/{ride['id']}/cancel", headers=city["rider"]).json
    assert cancelled["status"] == "cancelled" and cancelled["cancellation_fee"]["amount"] == 500
    assert cancelled["payment"]["amount_captured"] == 500
    free = client.get("/api/v1/ops/fleet?bbox=29.6,106.5,29.7,106.6", headers=city["operator"]).json
    assert {v["status"] for v in free["items"]} == {"available"}


def test_fault_before_pickup_sends_another_car(app, client, city):
    ride = request(client, city)
    dispatcher(app).step()
    first = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    assert event(client, city, first, "fault").json["status"] == "fault"
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["status"] == "requested"
    dispatcher(app).step()
    second = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    assert second != first


def test_a_restarted_dispatcher_loses_no_request(app, client, city):
    ride = request(client, city)
    crashed = dispatcher(app)
    streams.ensure_groups(app.extensions["redis"], "liangjiang")  # it had joined the group,
    crashed._consume("dispatch:{liangjiang}:requests")  # read, then was killed before acknowledging
    restarted = dispatcher(app)
    assert restarted.step()["assigned"] == 1
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["status"] == "assigned"
    pending = app.extensions["redis"].xpending("dispatch:{liangjiang}:requests", "dispatchers")
    assert pending["pending"] == 0


def test_nobody_near_becomes_no_vehicle_and_releases_the_money(app, client, city):
    for vehicle in city["vehicles"]:
        client.post(f"/api/v1/ops/vehicles/{vehicle['id']}/commands", headers=city["operator"],
                    json={"command": "pull_over"})
    ride = request(client, city)
    assert dispatcher(app).step(now=utcnow() + timedelta(minutes=11))["no_vehicle"] == 1
    got = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json
    assert got["status"] == "no_vehicle" and got["payment"]["status"] == "canceled"
    metrics = client.get("/api/v1/ops/metrics", headers=city["operator"]).json
    assert metrics["vehicles_by_status"] == {"pulled_over": 2} and metrics["served_share"] == 0


def test_fleet_endpoints_need_the_operator_role(client, city):
    assert client.get("/api/v1/ops/metrics", headers=city["rider"]).status_code == 403
    assert client.post("/api/v1/fleet/vehicles", headers=city["rider"], json={
        "plate": "X1", "region": "liangjiang"}).status_code == 403
    bad = client.post("/api/v1/fleet/vehicles/999/events", headers=city["operator"], json={"event": "picked_up"})
    assert bad.status_code == 404


def test_low_battery_vehicle_goes_to_charge_instead_of_riding(app, client, city):
    now = utcnow().isoformat()
    low, full = city["vehicles"]
    client.post("/api/v1/fleet/telemetry", headers=city["operator"], json={"rows": [
        {"vehicle_id": low["id"], "lat": 29.6601, "lon": 106.5451, "soc": 12, "ts": now}]})
    ride = request(client, city)
    dispatcher(app).step()
    fleet_now = {v["id"]: v for v in client.get("/api/v1/ops/fleet?bbox=29.6,106.5,29.7,106.6",
                                                headers=city["operator"]).json["items"]}
    assert fleet_now[low["id"]]["status"] == "to_charger"
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"] == full["id"]


def test_dispatcher_follows_telemetry_and_status_notes_between_reloads(app, client, city):
    d = dispatcher(app)
    d.step()  # the first tick loads the fleet from the database
    moved, stopped = (v["id"] for v in city["vehicles"])
    row = {"vehicle_id": moved, "lat": 29.7000, "lon": 106.5700, "soc": 55, "ts": utcnow().isoformat()}
    assert client.post("/api/v1/fleet/telemetry", headers=city["operator"], json={"rows": [row]}).status_code == 202
    assert client.post(f"/api/v1/ops/vehicles/{stopped}/commands", headers=city["operator"],
                       json={"command": "pull_over"}).status_code == 200
    d.step()
    lat, lon = d.index.positions([moved])
    assert (float(lat[0]), float(lon[0])) == pytest.approx((29.7000, 106.5700))
    assert d.index.soc[d.index.slots_of([moved])[0]] == 55
    assert d.index.status[d.index.slots_of([stopped])[0]] == OUT_OF_SERVICE
    client.post(f"/api/v1/ops/vehicles/{stopped}/commands", headers=city["operator"], json={"command": "resume"})
    d.step()
    assert d.index.status[d.index.slots_of([stopped])[0]] == AVAILABLE


def test_an_operator_sees_its_own_fleet_rides_and_the_unserved_demand(app, client, session, city):
    ride = request(client, city)
    dispatcher(app).step()
    vehicle_id = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    for name in ("arrived_pickup", "picked_up", "dropped_off"):
        assert event(client, city, vehicle_id, name).status_code == 200
    unserved = request(client, city)  # nobody has it yet: every operator may see it waiting
    rival_fleet = make_org(session, kind="operator")
    rival = bearer(app, session, make_user(session, roles=("operator",), organisation=rival_fleet))
    ours = client.get("/api/v1/ops/metrics", headers=city["operator"]).json
    theirs = client.get("/api/v1/ops/metrics", headers=rival).json
    assert ours["served_share"] == 1.0 and ours["mean_pickup_wait_s"] is not None
    assert theirs["served_share"] is None and theirs["mean_pickup_wait_s"] is None
    assert ours["open_requests"] == theirs["open_requests"] == 1 and theirs["vehicles_by_status"] == {}
    history = client.get("/api/v1/ops/metrics/history", headers=rival).json["buckets"]
    assert sum(b["requests"] for b in history) == 1 and sum(b["completed"] for b in history) == 0
    assert unserved["status"] == "requested"


def test_metrics_history_refuses_a_bucket_longer_than_the_window(client, city):
    answer = client.get("/api/v1/ops/metrics/history", query_string={"minutes": 5, "bucket_minutes": 60},
                        headers=city["operator"])
    assert answer.status_code == 422 and answer.json["code"] == "validation_error"
    assert answer.mimetype == "application/problem+json"


def ride_body():
    return {"pickup": LIJIA, "dropoff": YUFU, "passengers": 1}


def rides_of(session) -> list[Ride]:
    session.commit()
    return list(session.exec(select(Ride).execution_options(populate_existing=True)).all())


def test_no_ride_without_a_usable_method_and_an_unpaid_ride_is_never_dispatched(app, client, session, city):
    nobody = bearer(app, session, make_user(session))
    answer = client.post("/api/v1/rides", json=ride_body(), headers=nobody)
    assert answer.status_code == 402 and answer.json["code"] == "payment_method_required"
    assert rides_of(session) == []

    save_card(client, nobody, SAVES_THEN_DECLINES)
    keyed = {**nobody, "Idempotency-Key": "declined-ride"}
    answer = client.post("/api/v1/rides", json=ride_body(), headers=keyed)
    assert answer.status_code == 402 and answer.json["code"] == "payment_declined"
    again = client.post("/api/v1/rides", json=ride_body(), headers=keyed)  # the refusal is the key's answer
    assert again.status_code == 402 and again.headers.get("Idempotent-Replayed") == "true"
    assert [(r.status, r.payment_status) for r in rides_of(session)] == [("cancelled", "none")]
    assert dispatcher(app).step()["assigned"] == 0


def test_a_ride_left_unauthorised_by_a_crash_waits_and_is_never_assigned(app, client, session, city, monkeypatch):
    gateway = app.extensions["payment_gateway"]

    def down(**kwargs):
        raise ConnectionError("provider unreachable")

    monkeypatch.setattr(gateway, "create_payment", down)
    answer = client.post("/api/v1/rides", json=ride_body(), headers=city["rider"])
    assert answer.status_code == 503 and answer.json["code"] == "payment_provider_unavailable"
    monkeypatch.undo()
    # As if the process died between creating the ride and authorising it.
    session.add(Ride(user_id=rides_of(session)[0].user_id, region="liangjiang", pickup_lat=LIJIA["lat"],
                     pickup_lon=LIJIA["lon"], dropoff_lat=YUFU["lat"], dropoff_lon=YUFU["lon"], passengers=1,
                     distance_m=4000, trip_s=600, quoted_fare_fen=2000, authorised_fen=2400))
    session.commit()
    for _ in range(3):
        assert dispatcher(app).step()["assigned"] == 0
    assert {r.status for r in rides_of(session)} == {"cancelled", "requested"}
    assert all(r.vehicle_id is None for r in rides_of(session))


def drive(app, client, city) -> dict:
    ride = client.post("/api/v1/rides", json=ride_body(), headers=city["rider"]).json
    assert ride["payment"]["status"] == "authorised"
    assert dispatcher(app).step()["assigned"] == 1
    vehicle = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    for name in ("arrived_pickup", "picked_up"):
        assert event(client, city, vehicle, name).status_code == 200
    return {"ride": ride, "vehicle": vehicle}


@pytest.mark.parametrize("mode", MODES)
def test_drop_off_captures_the_fare_whatever_the_provider_does(app, client, session, city, mode):
    trip = drive(app, client, city)
    with failing(app.extensions["payment_gateway"], "capture", mode):
        assert event(client, city, trip["vehicle"], "dropped_off").status_code == 200
    done = client.get(f"/api/v1/rides/{trip['ride']['id']}", headers=city["rider"]).json
    assert done["status"] == "completed"
    run_runner(app, session)
    after = money(session, trip["ride"]["payment"]["id"])
    fare = done["final_fare"]["amount"]
    assert (after["status"], after["captured"], after["provider_received"]) == ("succeeded", fare, fare)
    assert after["instructions"] == ["done"]


@pytest.mark.parametrize("mode", MODES)
def test_ride_cancel_releases_the_authorisation_whatever_the_provider_does(app, client, session, city,
                                                                           mode):
    ride = client.post("/api/v1/rides", json=ride_body(), headers=city["rider"]).json
    with failing(app.extensions["payment_gateway"], "cancel", mode):
        cancelled = client.post(f"/api/v1/rides/{ride['id']}/cancel", headers=city["rider"])
        assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    run_runner(app, session)
    after = money(session, ride["payment"]["id"])
    assert (after["status"], after["captured"], after["provider_status"]) == ("canceled", 0, "canceled")


def test_a_rebalancing_vehicle_takes_a_ride_on_its_way_and_reports_its_arrival(app, client, session, city):
    ids = [v["id"] for v in city["vehicles"]]
    assert fleet.rebalance(session, moves=[(vid, YUFU["lat"], YUFU["lon"]) for vid in ids]) == ids
    ride = request(client, city)
    dispatcher(app).step()
    taken = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["vehicle"]["id"]
    session.rollback()
    vehicles = {v.id: v for v in session.exec(select(Vehicle).where(Vehicle.id.in_(ids)))}
    assert vehicles[taken].status == VehicleStatus.dispatched and vehicles[taken].target_lat is None
    other = next(vid for vid in ids if vid != taken)
    assert vehicles[other].status == VehicleStatus.rebalancing and vehicles[other].target_lat == YUFU["lat"]
    assert event(client, city, other, "rebalanced").status_code == 200
    session.rollback()  # end the read that started above: see the app's commit
    arrived = session.get(Vehicle, other)
    assert arrived.status == VehicleStatus.available and arrived.target_lat is None
