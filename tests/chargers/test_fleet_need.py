"""Dispatch tells the charging desk when a vehicle is needed again; a charger on the line keeps it."""
from datetime import UTC, datetime, timedelta

from sqlmodel import select, update

from backend.seed.loader import load_demo
from booking.bookings.rules import CITY_TZ
from booking.chargers.models import ChargePoint, ChargingSession
from robotaxi_dispatch.charging import BATTERY_KWH, DAY_WINDOW, needed_again
from robotaxi_dispatch.dispatcher import Dispatcher
from robotaxi_dispatch.rides.models import Vehicle

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 in Chongqing


def test_a_vehicle_sent_by_day_is_wanted_back_soon_and_one_sent_at_night_by_the_morning_rush():
    assert needed_again(NOW) == NOW + DAY_WINDOW
    seven = datetime(2026, 12, 3, 7, 0, tzinfo=CITY_TZ)
    assert needed_again(datetime(2026, 12, 2, 22, 30, tzinfo=CITY_TZ)) == seven
    assert needed_again(datetime(2026, 12, 3, 1, 15, tzinfo=CITY_TZ)) == seven


def test_the_desk_records_the_need_on_the_session_of_a_charger_on_the_line(app, session):
    load_demo(session)
    session.exec(update(ChargePoint).values(booted_at=NOW))  # every seeded charger is on the line
    vehicle = session.exec(select(Vehicle).where(Vehicle.region == "liangjiang").order_by(Vehicle.id)).first()
    vehicle.soc, vehicle.position_at = 10.0, NOW
    session.add(vehicle)
    session.commit()
    Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
               region="liangjiang", owner="need-test", charging=app.extensions["charging_desk"]).step(now=NOW)
    session.expire_all()
    booking_id = session.get(Vehicle, vehicle.id).charge_booking_id
    charge = session.exec(select(ChargingSession).where(ChargingSession.booking_id == booking_id)).one()
    assert charge.needed_by == NOW + timedelta(hours=2)
    assert charge.wanted_wh == 0.9 * BATTERY_KWH * 1000
    assert charge.reservation is None  # the CSMS reserves it when it is due, as any booking
