"""The dispatcher sends idle vehicles toward forecast demand, unless the region's operators turn it off."""
import numpy as np
import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from backend.seed.loader import load_demo
from robotaxi_dispatch import streams
from robotaxi_dispatch.dispatcher import REBALANCE_EVERY, Dispatcher
from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, OUT_OF_SERVICE
from robotaxi_dispatch.rides.models import Vehicle, VehicleStatus

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
