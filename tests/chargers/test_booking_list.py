"""The bookings list answers each booking as its own page does, payment and live charging included."""
from datetime import timedelta

from sqlmodel import select

from backend.dbtypes import utcnow
from booking.chargers.models import ChargingSession, Connector
from tests.booking.conftest import booking_body, next_slot, pay


def test_each_listed_booking_is_its_own_answer(client, line, session):
    made = []
    for n, resource in enumerate((line.charger, line.charger, line.spare)):
        start, end = next_slot("charger", after=timedelta(hours=2 * n))
        answer = client.post("/api/v1/bookings", json=booking_body(resource, start, end), headers=line.headers)
        assert answer.status_code == 201, answer.json
        made.append(answer.json)
    pay(client, made[0], line.headers)  # one paid, two only held
    connector = session.exec(select(Connector).where(Connector.resource_id == line.charger.id)).one()
    began = utcnow() - timedelta(minutes=5)
    session.add(ChargingSession(connector_id=connector.id, booking_id=made[0]["id"], status="charging",
                                started_at=began, last_energy_at=began, meter_start_wh=0, meter_wh=4_000,
                                power_w=60_000))
    session.commit()

    listed = client.get("/api/v1/bookings", headers=line.headers).json["items"]

    assert sorted(b["id"] for b in listed) == sorted(b["id"] for b in made)
    for item in listed:
        alone = client.get(f"/api/v1/bookings/{item['id']}", headers=line.headers).json
        assert item == alone
    by_id = {b["id"]: b for b in listed}
    assert by_id[made[0]["id"]]["charging"]["energy_kwh"] == 4.0
    assert by_id[made[0]["id"]]["payment"]["status"] != by_id[made[1]["id"]]["payment"]["status"]
    assert by_id[made[1]["id"]]["charging"] is None and by_id[made[2]["id"]]["payment"]["client_secret"]
