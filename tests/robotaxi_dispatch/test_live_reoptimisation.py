"""The live dispatcher queues rides behind vehicles about to drop off and moves assigned rides to much nearer cars."""
import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from robotaxi_dispatch.rides import reassign
from robotaxi_dispatch.rides.models import Ride, RideEvent, Vehicle, VehicleStatus
from tests.factories import bearer, make_user, save_card
from tests.robotaxi_dispatch import test_rides
from tests.robotaxi_dispatch.test_rides import LIJIA, YUFU, dispatcher, event, request

city = test_rides.city  # the same service area, two cars near Lijia and a rider with a card

NORTH_OF_LIJIA_DEG = 0.0225  # 2.5 km: minutes further than a car beside the pickup at any hour's speed


def _command(client, city, vehicle_id, command):
    answer = client.post(f"/api/v1/ops/vehicles/{vehicle_id}/commands", headers=city["operator"],
                         json={"command": command})
    assert answer.status_code == 200, answer.json


def _place(client, city, vehicle_id, lat, lon):
    row = {"vehicle_id": vehicle_id, "lat": lat, "lon": lon, "soc": 80, "ts": utcnow().isoformat()}
    assert client.post("/api/v1/fleet/telemetry", headers=city["operator"], json={"rows": [row]}).status_code == 202


def _state(session, ride_id):
    session.rollback()  # end any earlier read: see the dispatcher's commits
    ride = session.get(Ride, ride_id)
    vehicles = {v.id: (v.status, v.ride_id) for v in session.exec(select(Vehicle))}
    return ride.status, ride.vehicle_id, vehicles


def _reasons(session, ride_id):
    return [e.reason for e in session.exec(select(RideEvent).where(RideEvent.ride_id == ride_id)
                                           .order_by(RideEvent.id))]


def _queued_behind_a_trip(app, client, session, city, live):
    """Carry a rider with the only car in service to a minute from the drop-off; a second rider asks nearby."""
    a, b = (v["id"] for v in city["vehicles"])
    _command(client, city, b, "pull_over")
    first = request(client, city)["id"]
    live.step()
    for name in ("arrived_pickup", "picked_up"):
        assert event(client, city, a, name).status_code == 200
    _place(client, city, a, YUFU["lat"] - 0.001, YUFU["lon"])
    other = bearer(app, session, make_user(session))
    save_card(client, other)
    answer = client.post("/api/v1/rides", headers=other, json={
        "pickup": {"lat": YUFU["lat"] + 0.002, "lon": YUFU["lon"]}, "dropoff": LIJIA, "passengers": 1})
    assert answer.status_code == 201, answer.json
    live.step()
    return first, answer.json["id"], a


def test_a_ride_waits_for_a_car_about_to_drop_off_nearby_and_the_car_sets_off_after_it(app, client, session, city):
    live = dispatcher(app)
    first, second, a = _queued_behind_a_trip(app, client, session, city, live)
    status, vehicle, vehicles = _state(session, second)
    assert (status, vehicle) == ("assigned", a) and vehicles[a] == (VehicleStatus.on_trip, first)
    assert event(client, city, a, "dropped_off").status_code == 200
    live.step()
    status, vehicle, vehicles = _state(session, second)
    assert (status, vehicle) == ("assigned", a) and vehicles[a] == (VehicleStatus.dispatched, second)
    assert _reasons(session, second)[-2:] == ["assigned", "vehicle_on_its_way"]


def test_a_queued_ride_whose_car_fails_goes_back_to_dispatch(app, client, session, city):
    live = dispatcher(app)
    _, second, a = _queued_behind_a_trip(app, client, session, city, live)
    assert event(client, city, a, "fault").status_code == 200
    live.step()
    status, vehicle, _ = _state(session, second)
    assert (status, vehicle) == ("requested", None) and _reasons(session, second)[-1] == "vehicle_withdrawn"


def _far_car_then_near_car(client, city, live, near_lat):
    """Assign a ride to a car 2.5 km away; then bring the other car, pulled over, back at `near_lat`."""
    a, b = (v["id"] for v in city["vehicles"])
    _command(client, city, b, "pull_over")
    _place(client, city, a, LIJIA["lat"] + NORTH_OF_LIJIA_DEG, LIJIA["lon"])
    ride = request(client, city)["id"]
    live.step()
    _place(client, city, b, near_lat, LIJIA["lon"])
    _command(client, city, b, "resume")
    return ride, a, b


def test_an_assigned_ride_moves_to_a_car_minutes_nearer_and_the_rider_sees_it(app, client, session, city):
    live = dispatcher(app)
    ride, a, b = _far_car_then_near_car(client, city, live, LIJIA["lat"] + 0.001)
    live.step()
    status, vehicle, vehicles = _state(session, ride)
    assert (status, vehicle) == ("assigned", b)
    assert vehicles[b] == (VehicleStatus.dispatched, ride) and vehicles[a] == (VehicleStatus.available, None)
    moved = session.exec(select(RideEvent).where(RideEvent.ride_id == ride).order_by(RideEvent.id.desc())).first()
    assert moved.reason == "reassigned" and moved.data["vehicle_id"] == b
    shown = client.get(f"/api/v1/rides/{ride}", headers=city["rider"]).json
    assert shown["vehicle"]["id"] == b


def test_an_assigned_ride_stays_with_its_car_when_another_is_only_a_little_nearer(app, client, session, city):
    live = dispatcher(app)
    a, b = (v["id"] for v in city["vehicles"])
    _command(client, city, b, "pull_over")
    _place(client, city, a, LIJIA["lat"] + 0.004, LIJIA["lon"])  # 400 m further than the other: under 2 minutes
    ride = request(client, city)["id"]
    live.step()
    _place(client, city, b, LIJIA["lat"] + 0.001, LIJIA["lon"])
    _command(client, city, b, "resume")
    live.step()
    status, vehicle, vehicles = _state(session, ride)
    assert (status, vehicle) == ("assigned", a) and vehicles[b] == (VehicleStatus.available, None)
    assert "reassigned" not in _reasons(session, ride)


def test_a_tick_that_fails_while_handing_over_a_ride_loses_nothing(app, client, session, city, monkeypatch):
    live = dispatcher(app)
    ride, a, b = _far_car_then_near_car(client, city, live, LIJIA["lat"] + 0.001)

    def crash(*args, **kwargs):
        raise RuntimeError("the dispatcher dies mid-tick")

    monkeypatch.setattr(reassign, "record", crash)
    with pytest.raises(RuntimeError):
        live.step()
    status, vehicle, vehicles = _state(session, ride)
    assert (status, vehicle) == ("assigned", a)
    assert vehicles[a] == (VehicleStatus.dispatched, ride) and vehicles[b] == (VehicleStatus.available, None)
    monkeypatch.undo()
    restarted = dispatcher(app)  # a new process: it reloads everything from the database
    restarted.step()
    assert _state(session, ride)[:2] == ("assigned", b)
