"""The dispatcher sends idle vehicles toward forecast demand, unless the region's operators turn it off."""
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from backend.seed.loader import load_demo
from robotaxi_dispatch import streams
from robotaxi_dispatch.dispatcher import REBALANCE_EVERY, Dispatcher
from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, OUT_OF_SERVICE
from robotaxi_dispatch.rides.fares import SHANGHAI
from robotaxi_dispatch.rides.models import Ride, Vehicle, VehicleStatus
from tests.factories import make_user

YUELAI = (29.7195, 106.5665)


@pytest.fixture
def dispatcher(app, session):
    """Liangjiang's dispatcher, having seen many requests at Yuelai and none elsewhere."""
    load_demo(session)
    dispatcher = Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
                            region="liangjiang", owner="rebalancing-test")
    x, y = to_xy(np.full(200, YUELAI[0]), np.full(200, YUELAI[1]))
    dispatcher.forecast.observe(x, y, utcnow().timestamp())
    return dispatcher


def _rebalancing(session) -> list[Vehicle]:
    session.rollback()  # end any earlier read: see the dispatcher's commits
    return session.exec(select(Vehicle).where(Vehicle.status == VehicleStatus.rebalancing)).all()


def _plan_and_send(dispatcher, session, meanwhile=lambda moves: None) -> None:
    """Tick until the dispatcher plans rebalancing, let the plan finish, then tick once to send it."""
    for _ in range(REBALANCE_EVERY):
        dispatcher.step()
    assert dispatcher._plan is not None and _rebalancing(session) == []  # the tick did not wait for it
    meanwhile(dispatcher._plan.result(timeout=30))
    dispatcher.step()


def test_idle_vehicles_head_for_forecast_demand_and_stay_matchable(app, session, dispatcher):
    _plan_and_send(dispatcher, session)
    moving = _rebalancing(session)
    assert moving and all(v.region == "liangjiang" for v in moving)
    for vehicle in moving:
        assert (vehicle.target_lat, vehicle.target_lon) == pytest.approx(YUELAI, abs=0.01)
    assert set(dispatcher._heading) == {v.id for v in moving}
    dispatcher._loaded_at = None  # a full reload keeps them matchable and remembers their targets
    dispatcher.step()
    slots = dispatcher.index.slots_of([v.id for v in moving])
    assert (dispatcher.index.status[slots] == AVAILABLE).all() and set(dispatcher._heading) == {v.id for v in moving}


def test_operators_switch_rebalancing_off_per_region(app, session, dispatcher):
    app.extensions["redis"].set(streams.rebalancing_key("liangjiang"), "off")
    for _ in range(REBALANCE_EVERY + 1):
        dispatcher.step()
    assert dispatcher._plan is None and _rebalancing(session) == []


def test_a_vehicle_matched_while_the_plan_is_made_is_not_sent(app, session, dispatcher):
    planned = []

    def matched_meanwhile(moves):
        planned.extend(moves.ids.tolist())
        dispatcher.index.set_status(moves.ids, OUT_OF_SERVICE)  # what a match does to the index

    _plan_and_send(dispatcher, session, matched_meanwhile)
    assert planned and _rebalancing(session) == [] and dispatcher._heading == {}


def test_the_forecast_learns_each_hours_demand_from_the_past_weeks_rides_once_a_day(app, session, dispatcher):
    rider = make_user(session)
    today = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)

    def ride(days_ago: int, **fields) -> None:
        session.add(Ride(user_id=rider.id, region="liangjiang", pickup_lat=YUELAI[0], pickup_lon=YUELAI[1],
                         dropoff_lat=29.60, dropoff_lon=106.50, passengers=1, distance_m=5000, trip_s=600,
                         quoted_fare_fen=2000, authorised_fen=2500,
                         requested_at=today.replace(hour=8, minute=30) - timedelta(days=days_ago), **fields))
    for days_ago in (1, 1, 3):
        ride(days_ago)
    ride(3, pickup_at=today)  # booked ahead: known demand, not the hour's usual
    ride(8)                   # before the week
    ride(0)                   # today: not a past day
    session.commit()
    dispatcher._learn_past_days(session, today)
    zone = dispatcher.forecast.zone(*to_xy(YUELAI[0], YUELAI[1]))
    by_hour = dispatcher.forecast.by_hour
    # Three rides at 8:00 over the two days the service ran.
    assert by_hour is not None and by_hour[8, zone] == pytest.approx(3 / (2 * 3600))
    assert by_hour.sum() == by_hour[8, zone]
    ride(2)
    session.commit()
    dispatcher._learn_past_days(session, today + timedelta(hours=5))  # the same day: not read again
    assert dispatcher.forecast.by_hour is by_hour
