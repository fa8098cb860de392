"""Low-battery robotaxis book a nearby charger through the booking service, use it and settle it."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from backend.accounts.models import User
from backend.exceptions import Conflict, Invalid
from backend.geo import haversine_m, lat_lon
from backend.seed.loader import load_demo
from booking.bookings.models import Booking, BookingStatus
from booking.sites.models import Site
from robotaxi_dispatch.dispatcher import CHARGE_BELOW_SOC, Dispatcher
from robotaxi_dispatch.rides import fleet
from robotaxi_dispatch.rides.models import Vehicle, VehicleStatus

# A weekday mid-morning in Chongqing (flat tariff), on the hour: the next charger slot starts at 10:30.
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def low_vehicle(session):
    """The seeded Liangjiang fleet, with one vehicle in service and nearly flat."""
    load_demo(session)
    vehicle = session.exec(select(Vehicle).where(Vehicle.region == "liangjiang").order_by(Vehicle.id)).first()
    vehicle.soc, vehicle.position_at = CHARGE_BELOW_SOC - 8, NOW
    session.add(vehicle)
    session.commit()
    return vehicle


def _dispatch(app, charging="app"):
    desk = app.extensions["charging_desk"] if charging == "app" else charging
    return Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
                      region="liangjiang", owner="charging-test", charging=desk)


def _event(app, session, vehicle, event, at, **extra):
    return fleet.vehicle_event(session, app.extensions["payment_gateway"], app.extensions["redis"],
                               principal=fleet.PLATFORM, vehicle_id=vehicle.id, event=event, now=at,
                               charging=app.extensions["charging_desk"], **extra)


def test_dispatcher_books_the_nearest_free_charger_on_the_fleet_account(app, session, low_vehicle):
    _dispatch(app).step(now=NOW)
    session.expire_all()
    vehicle = session.get(Vehicle, low_vehicle.id)
    assert vehicle.status == VehicleStatus.to_charger and vehicle.charge_booking_id
    booking = session.get(Booking, vehicle.charge_booking_id)
    assert booking.kind == "charger" and booking.status == BookingStatus.confirmed
    assert booking.settlement == {"billing": "account"} and booking.hold_expires_at is None
    assert session.get(User, booking.user_id).email == "operator@demo.cq"
    assert booking.start_at - NOW <= timedelta(minutes=35)
    site = session.get(Site, booking.site_id)
    stations = session.exec(select(Site).where(Site.kind == "charging_station")).all()
    here = (vehicle.lat, vehicle.lon)
    distance = {s.id: haversine_m(*here, *lat_lon(s.location)) for s in stations}
    assert distance[site.id] == min(distance.values())  # the seed's stations all have free chargers then
    assert (vehicle.target_lat, vehicle.target_lon) == pytest.approx(lat_lon(site.location))


def test_the_vehicle_plugs_in_charges_and_the_slot_is_settled_at_its_energy(app, session, low_vehicle):
    _dispatch(app).step(now=NOW)
    session.expire_all()
    vehicle = session.get(Vehicle, low_vehicle.id)
    booking_id = vehicle.charge_booking_id
    _event(app, session, vehicle, "charging_started", NOW + timedelta(minutes=20))
    assert session.get(Booking, booking_id).status == BookingStatus.checked_in
    with pytest.raises(Invalid) as refused:
        _event(app, session, vehicle, "charged", NOW + timedelta(minutes=50))
    assert refused.value.code == "energy_required"
    _event(app, session, vehicle, "charged", NOW + timedelta(minutes=50), energy_kwh=40.0)
    session.expire_all()
    booking, vehicle = session.get(Booking, booking_id), session.get(Vehicle, low_vehicle.id)
    assert booking.status == BookingStatus.completed and booking.final_price_fen > 0
    assert booking.settlement["billing"] == "account"
    assert sum(v for k, v in booking.settlement.items() if k.endswith("_kwh")) == pytest.approx(40.0)
    assert vehicle.status == VehicleStatus.available and vehicle.charge_booking_id is None
    assert vehicle.target_lat is None


def test_an_operator_sending_it_elsewhere_releases_the_slot(app, session, low_vehicle):
    _dispatch(app).step(now=NOW)
    session.expire_all()
    booking_id = session.get(Vehicle, low_vehicle.id).charge_booking_id
    _event(app, session, low_vehicle, "return_to_depot", NOW + timedelta(minutes=2))
    session.expire_all()
    assert session.get(Booking, booking_id).status == BookingStatus.cancelled
    vehicle = session.get(Vehicle, low_vehicle.id)
    assert vehicle.status == VehicleStatus.to_depot and vehicle.charge_booking_id is None


def test_an_early_vehicle_waits_for_check_in_to_open(app, session, low_vehicle):
    _dispatch(app).step(now=NOW)
    session.expire_all()
    vehicle = session.get(Vehicle, low_vehicle.id)
    start = session.get(Booking, vehicle.charge_booking_id).start_at
    with pytest.raises(Conflict) as early:
        _event(app, session, vehicle, "charging_started", start - timedelta(minutes=31))
    assert early.value.code == "outside_check_in_window"
    assert session.get(Vehicle, vehicle.id).status == VehicleStatus.to_charger


def test_without_a_desk_the_vehicle_still_leaves_service_to_charge(app, session, low_vehicle):
    _dispatch(app, charging=None).step(now=NOW)
    session.expire_all()
    vehicle = session.get(Vehicle, low_vehicle.id)
    assert vehicle.status == VehicleStatus.to_charger and vehicle.charge_booking_id is None
    assert session.exec(select(Booking)).all() == []


def test_sending_a_vehicle_to_charge_twice_keeps_its_one_slot(app, session, low_vehicle):
    _dispatch(app).step(now=NOW)
    session.expire_all()
    booking_id = session.get(Vehicle, low_vehicle.id).charge_booking_id
    _event(app, session, low_vehicle, "go_charge", NOW + timedelta(minutes=1))
    session.expire_all()
    assert session.get(Vehicle, low_vehicle.id).charge_booking_id == booking_id
    assert [b.id for b in session.exec(select(Booking)).all()] == [booking_id]
