"""What a region's console frame carries: vehicles with heading and moves, demand, unserved rides, alerts."""
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from backend.seed.loader import load_demo
from booking.bookings.models import Booking
from booking.chargers.models import ChargePoint, Connector, LiveStatus
from robotaxi_dispatch.console import live
from robotaxi_dispatch.dispatcher import CHARGE_BELOW_SOC, Dispatcher
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus
from tests.factories import make_org, make_user


@pytest.fixture
def fleet(session):
    """The seeded Liangjiang fleet: its first three vehicles."""
    load_demo(session)
    return session.exec(select(Vehicle).where(Vehicle.region == "liangjiang", Vehicle.lat.is_not(None))
                        .order_by(Vehicle.id).limit(3)).all()


def _ride(session, user, status: RideStatus, *, lat=29.6612, lon=106.5461, ago=timedelta(minutes=1), **fields):
    ride = Ride(user_id=user.id, status=status, region="liangjiang", pickup_lat=lat, pickup_lon=lon,
                dropoff_lat=29.60, dropoff_lon=106.50, passengers=1, distance_m=5000, trip_s=600,
                quoted_fare_fen=2000, authorised_fen=2500, requested_at=utcnow() - ago, **fields)
    session.add(ride)
    session.commit()
    return ride


def _frame(app, session, region="liangjiang", charging=None) -> dict:
    return live.fleet_frame(session, app.extensions["redis"], region, charging=charging)


def _view(frame: dict, view: live.ConsoleView) -> dict:
    """Cut a published frame for one viewer, as the stream does."""

    event, = view.render(SimpleNamespace(data={"kind": "frame", **frame}, cache={}))[0]
    return json.loads(event[1])


def test_frame_carries_heading_rebalancing_moves_demand_and_unserved_requests(app, session, fleet):
    mover, faulty, _ = fleet
    mover.status, mover.heading = VehicleStatus.rebalancing, 87.4
    mover.target_lat, mover.target_lon = 29.6001, 106.5502
    faulty.status = VehicleStatus.fault
    session.add_all([mover, faulty])
    session.commit()
    rider = make_user(session)
    open_ride = _ride(session, rider, RideStatus.requested)
    unserved = _ride(session, rider, RideStatus.no_vehicle, lat=29.6712, lon=106.5561)
    _ride(session, rider, RideStatus.no_vehicle, ago=timedelta(hours=1))  # outside the heatmap's window

    frame = _frame(app, session)
    assert frame["region"] == "liangjiang"
    v = frame["vehicles"]
    i = v["id"].index(mover.id)
    assert (v["heading"][i], v["to_lat"][i], v["to_lon"][i]) == (87.0, 29.6001, 106.5502)
    assert frame["statuses"][v["status"][i]] == "rebalancing"
    assert [r["id"] for r in frame["requests"]] == [open_ride.id]
    assert frame["unserved"] == [{"id": unserved.id, "lat": 29.6712, "lon": 106.5561}]
    cells = frame["heat"]["cells"]
    assert sum(n for _, _, n in cells) == 2, "the last quarter hour's requests, counted once each"
    assert [29.66, 106.54, 1] in cells and [29.67, 106.55, 1] in cells
    assert {"kind": "fault", "org": faulty.organisation_id, "vehicle": faulty.id,
            "lat": pytest.approx(faulty.lat, abs=1e-5), "lon": pytest.approx(faulty.lon, abs=1e-5)} in frame["alerts"]


def test_heat_cells_count_points_per_square_busiest_first():
    points = [(29.661, 106.541), (29.662, 106.549), (29.705, 106.541), (29.669, 106.545)]
    assert live.heat_cells(points) == [[29.66, 106.54, 3], [29.7, 106.54, 1]]
    assert live.heat_cells([]) == []


def test_a_ride_assigned_too_long_ago_is_a_stuck_ride_alert(app, session, fleet):
    vehicle, other, _ = fleet
    rider = make_user(session)
    stuck = _ride(session, rider, RideStatus.arriving, ago=timedelta(minutes=12), vehicle_id=vehicle.id,
                  assigned_at=utcnow() - live.STUCK_AFTER - timedelta(minutes=1))
    _ride(session, rider, RideStatus.assigned, vehicle_id=other.id, assigned_at=utcnow() - timedelta(minutes=1))

    alerts = [a for a in _frame(app, session)["alerts"] if a["kind"] == "stuck_ride"]
    assert len(alerts) == 1
    assert alerts[0] | {"since_s": 0} == {"kind": "stuck_ride", "org": vehicle.organisation_id, "vehicle": vehicle.id,
                                          "ride": stuck.id, "status": "arriving", "since_s": 0,
                                          "lat": 29.6612, "lon": 106.5461}
    assert alerts[0]["since_s"] >= live.STUCK_AFTER.total_seconds() + 60


def test_each_viewer_sees_only_its_organisations_vehicles_and_alerts(app, session, fleet):
    ours = fleet[0]
    rival = Vehicle(organisation_id=make_org(session, kind="operator").id, plate="渝A·X777", model="x", seats=4,
                    region="liangjiang", status=VehicleStatus.fault, lat=29.8001, lon=106.7001)
    ours.status = VehicleStatus.fault
    session.add_all([rival, ours])
    session.commit()
    frame = _frame(app, session)

    mine = _view(frame, live.ConsoleView(frozenset({ours.organisation_id})))
    assert rival.id not in mine["vehicles"]["id"] and ours.id in mine["vehicles"]["id"]
    assert "org" not in mine["vehicles"]
    assert [(a["kind"], a["vehicle"]) for a in mine["alerts"]] == [("fault", ours.id)]
    assert all("org" not in a for a in mine["alerts"])
    theirs = _view(frame, live.ConsoleView(frozenset({rival.organisation_id})))
    assert theirs["vehicles"]["id"] == [rival.id] and [a["vehicle"] for a in theirs["alerts"]] == [rival.id]
    boxed = _view(frame, live.ConsoleView(None, (29.8, 106.7, 29.8002, 106.7002)))  # an admin, cut to a box
    assert boxed["vehicles"]["id"] == [rival.id] and [a["vehicle"] for a in boxed["alerts"]] == [rival.id]
    assert boxed["heat"] == frame["heat"], "demand has no owner: every viewer sees it"


def test_a_faulted_charger_a_vehicle_is_booked_on_is_an_alert(app, session, fleet):
    vehicle = fleet[0]
    vehicle.soc, vehicle.position_at = CHARGE_BELOW_SOC - 8, utcnow()
    session.add(vehicle)
    session.commit()
    desk = app.extensions["charging_desk"]
    Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
               region="liangjiang", owner="frames-test", charging=desk).step()
    session.expire_all()
    vehicle = session.get(Vehicle, vehicle.id)
    assert vehicle.charge_booking_id, "the dispatcher booked it a charger"
    assert [a for a in _frame(app, session, charging=desk)["alerts"] if a["kind"] == "charger_down"] == []

    booking = session.get(Booking, vehicle.charge_booking_id)
    # The demo charger of that slot comes on line, then reports a fault.
    connector, point = session.exec(select(Connector, ChargePoint).join(ChargePoint)
                                    .where(Connector.resource_id == booking.resource_id)).one()
    point.booted_at = point.last_seen_at = utcnow()
    point.connected, connector.status = True, LiveStatus.faulted
    session.add_all([point, connector])
    session.commit()

    alerts = [a for a in _frame(app, session, charging=desk)["alerts"] if a["kind"] == "charger_down"]
    assert alerts == [{"kind": "charger_down", "org": vehicle.organisation_id, "vehicle": vehicle.id,
                       "booking": booking.id, "status": "faulted",
                       "lat": pytest.approx(vehicle.target_lat), "lon": pytest.approx(vehicle.target_lon)}]
    assert _frame(app, session)["alerts"] == [], "without a charging desk the console simply has no charger alerts"


def test_one_publisher_per_region_and_one_of_them_sends_the_kpis(app, session, fleet, monkeypatch):
    sent = []
    monkeypatch.setattr(live, "publish_console", lambda r, message: sent.append(message))
    publishers = [live.ConsolePublisher(app.extensions["db_engine"], app.extensions["redis"], region=region,
                                        owner=f"test-{region}") for region in ("liangjiang", "yongchuan")]
    for publisher in publishers:
        publisher.step()
    frames = [m for m in sent if m["kind"] == "frame"]
    assert [f["region"] for f in frames] == ["liangjiang", "yongchuan"]
    ids = {f["region"]: set(f["vehicles"]["id"]) for f in frames}
    assert ids["liangjiang"] and ids["yongchuan"] and not ids["liangjiang"] & ids["yongchuan"]
    assert [m["kind"] for m in sent].count("metrics") == 1, "the KPI lease lets one publisher send them"
