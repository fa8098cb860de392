"""A CSMS instance dying without a word: its charge points go offline until another one holds them."""
import time

from sqlmodel import Session, select

from booking.bookings.models import Booking
from booking.chargers.models import ChargePoint, Connector, LiveStatus
from tests.chargers.conftest import PASSWORD, Running
from tests.chargers.simulator import Simulator
from tests.chargers.test_csms import BOOT_201, confirmed_booking, eventually, live_status, status_201

# Instances vouch every 0.3 s here, so an owner lapses after 0.9 s instead of 90 s.
QUICK = 0.3


def test_charge_points_of_a_dead_instance_go_offline_until_they_reconnect_elsewhere(app, client, line):
    first = Running(app, owner="csms-first", liveness_s=QUICK)
    second = Running(app, owner="csms-second", liveness_s=QUICK)
    sim = Simulator(first.url, line.identity, PASSWORD).open()
    sim.call(BOOT_201)
    sim.call(status_201("Available"))
    booking = confirmed_booking(client, line)
    sim.expect("ReserveNow")
    time.sleep(6 * QUICK)  # two lapses' worth: the second instance leaves a vouched-for point alone
    assert live_status(client, line) == "available"

    first.freeze()  # no close, no disconnect recorded: only its silence tells
    eventually(lambda: live_status(client, line) == "not offered", timeout=15)
    with Session(app.extensions["db_engine"]) as session:
        point = session.exec(select(ChargePoint).where(ChargePoint.identity == line.identity)).one()
        connector = session.exec(select(Connector).where(Connector.charge_point_id == point.id)).one()
        assert (point.connected, point.owner, connector.status) == (False, None, LiveStatus.offline)
        assert connector.outage_id is not None  # an outage, as when a connection drops
        assert session.get(Booking, booking["id"]).disrupted is True

    again = Simulator(second.url, line.identity, PASSWORD).open()
    again.call(BOOT_201)
    again.call(status_201("Available"))
    assert live_status(client, line) == "available"
    with Session(app.extensions["db_engine"]) as session:
        assert session.exec(select(ChargePoint.owner).where(ChargePoint.identity == line.identity)).one() == \
            "csms-second"
    first.stop()
    sim.close()
    again.close()
    second.stop()
