"""A metered session bills its booking once, however many events race to settle it."""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlmodel import Session, select

from backend.dbtypes import utcnow
from booking.chargers import services
from booking.chargers.models import ChargingSession, Connector
from payments.models import LedgerEntry
from tests.booking.conftest import booking_body, next_slot, pay


def test_concurrent_settlements_capture_once(app, client, line, session):
    start, end = next_slot("charger")
    booking = client.post("/api/v1/bookings", json=booking_body(line.charger, start, end), headers=line.headers).json
    pay(client, booking, line.headers)
    connector = session.exec(select(Connector).where(Connector.resource_id == line.charger.id)).one()
    began = utcnow() - timedelta(minutes=30)
    charge = ChargingSession(connector_id=connector.id, booking_id=booking["id"], status="ended", started_at=began,
                             last_energy_at=began + timedelta(minutes=20), ended_at=began + timedelta(minutes=21),
                             unplugged_at=began + timedelta(minutes=21), meter_start_wh=0, meter_wh=25_000)
    session.add(charge)
    session.commit()

    def settle(_):
        with Session(app.extensions["db_engine"], expire_on_commit=False) as own:
            services.settle(own, app.extensions["payment_gateway"], session_id=charge.id, now=utcnow())

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(settle, range(4)))
    session.rollback()
    done = client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json
    assert done["status"] == "completed" and done["settlement"]["energy_kwh"] == 25.0
    captures = session.exec(select(LedgerEntry).where(LedgerEntry.payable_id == booking["id"],
                                                      LedgerEntry.kind == "charge")).all()
    assert [c.amount for c in captures] == [done["final_price"]["amount"]]
