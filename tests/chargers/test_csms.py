"""Charge-point simulators (OCPP 2.0.1 and 1.6, the `ocpp` library) against the running CSMS."""
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlmodel import Session, select
from websockets.exceptions import InvalidStatus

from backend.dbtypes import utcnow
from booking.bookings import pricing
from booking.bookings.models import Booking
from booking.chargers.csms import reading_of
from booking.chargers.models import ChargePoint, ChargingSession, Connector
from booking.chargers.services import hash_password
from tests.booking.conftest import booking_body, next_slot, pay
from tests.chargers.conftest import PASSWORD
from tests.chargers.simulator import Simulator

BOOT_201 = call201.BootNotification(charging_station={"vendor_name": "XPENG", "model": "S5"}, reason="PowerUp")
BOOT_16 = call16.BootNotification(charge_point_vendor="TELD", charge_point_model="DC-120")


def ocpp_time(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def status_201(status: str):
    return call201.StatusNotification(timestamp=ocpp_time(utcnow()), connector_status=status, evse_id=1,
                                      connector_id=1)


def status_16(status: str, error: str = "NoError"):
    return call16.StatusNotification(connector_id=1, error_code=error, status=status)


def eventually(check, timeout: float = 10):
    """Return check()'s first truthy answer, polling until the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError("condition never held")


def live_status(client, line):
    """Return the bound charger's live status in its site's availability, None when it is not offered."""
    start, end = utcnow(), utcnow() + timedelta(hours=6)
    answer = client.get(f"/api/v1/sites/{line.site.id}/availability",
                        query_string={"from": start.isoformat(), "to": end.isoformat()}).json
    offered = {r["resource"]["id"]: r["live_status"] for r in answer["resources"]}
    return offered.get(line.charger.id, "not offered")


def confirmed_booking(client, line, *, after=timedelta(0)) -> dict:
    start, end = next_slot("charger", after=after)
    booking = client.post("/api/v1/bookings", json=booking_body(line.charger, start, end), headers=line.headers).json
    assert pay(client, booking, line.headers).status_code == 200
    return client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json


def started_slot(app, booking_id: int, minutes_ago: int = 20) -> None:
    """Move a booking's slot so that it began a while ago, as if the citizen had booked earlier."""
    with Session(app.extensions["db_engine"]) as session:
        booking = session.get(Booking, booking_id)
        booking.start_at = utcnow() - timedelta(minutes=minutes_ago)
        booking.end_at = booking.blocked_until = booking.start_at + timedelta(hours=1)
        session.commit()


def test_boot_and_status_reach_availability_and_the_operator(client, line):
    assert live_status(client, line) is None  # never connected: offered without a live status
    sim = line.simulator().open()
    assert sim.call(BOOT_201).status == "Accepted"
    sim.call(status_201("Available"))
    assert live_status(client, line) == "available"
    sim.call(status_201("Occupied"))
    assert live_status(client, line) == "occupied"
    managed = client.get(f"/api/v1/manage/sites/{line.site.id}/resources", headers=line.operator_headers).json
    bound = {r["id"]: r["ocpp"] for r in managed["items"]}
    assert bound[line.charger.id]["ocpp_identity"] == line.identity
    assert bound[line.charger.id]["live_status"] == "occupied"
    assert bound[line.charger.id]["protocol"] == "ocpp2.0.1"
    assert bound[line.spare.id] is None
    assert sim.call(call201.Heartbeat()).current_time
    sim.close()


@pytest.mark.parametrize("who, password", [("known", "wrong-password-000000"),
                                           ("unknown", "station-secret-0123456789")])
def test_unknown_identity_or_wrong_password_is_refused_at_the_handshake(line, who, password):
    sim = line.simulator(password=password)
    if who == "unknown":
        sim.identity = "CQ-NOBODY"
    with pytest.raises(InvalidStatus) as refused:
        sim.open()
    assert refused.value.response.status_code == 401


def test_confirmed_booking_is_reserved_and_its_cancellation_cancels_the_reservation(client, line):
    sim = line.simulator().open()
    sim.call(BOOT_201)
    sim.call(status_201("Available"))
    booking = confirmed_booking(client, line)
    reserved = sim.expect("ReserveNow")
    assert reserved["evse_id"] == 1 and reserved["id_token"]["type"] == "Central"
    shown = eventually(lambda: client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers)
                       .json["charging"]["reservation"] == "accepted")
    assert shown
    assert client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=line.headers).status_code == 200
    assert sim.expect("CancelReservation")["reservation_id"] == reserved["id"]
    sim.close()


def test_ocpp16_reservation_check_in_remote_start_and_metered_bill(app, client, line):
    sim = line.simulator("ocpp1.6").open()
    sim.call(BOOT_16)
    sim.call(status_16("Available"))
    booking = confirmed_booking(client, line)
    reserved = sim.expect("ReserveNow")
    assert reserved["connector_id"] == 1
    started_slot(app, booking["id"])
    assert client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=line.headers).status_code == 200
    remote = sim.expect("RemoteStartTransaction")
    assert remote["id_tag"] == reserved["id_tag"]
    began = utcnow() - timedelta(minutes=15)
    answer = sim.call(call16.StartTransaction(connector_id=1, id_tag=remote["id_tag"], meter_start=1000,
                                              timestamp=ocpp_time(began)))
    assert answer.id_tag_info["status"] == "Accepted"
    sim.call(call16.MeterValues(connector_id=1, transaction_id=answer.transaction_id, meter_value=[{
        "timestamp": ocpp_time(began + timedelta(minutes=5)),
        "sampled_value": [{"value": "9000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                          {"value": "96", "measurand": "Power.Active.Import", "unit": "kW"}]}]))
    live = client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json["charging"]
    assert live["energy_kwh"] == 8.0 and live["power_kw"] == 96.0 and live["cost_so_far_fen"] > 0
    assert client.post(f"/api/v1/bookings/{booking['id']}/complete", json={"energy_kwh": 1},
                       headers=line.headers).json["code"] == "metered_charger"
    stopped = began + timedelta(minutes=10)
    sim.call(call16.StopTransaction(meter_stop=21000, timestamp=ocpp_time(stopped),
                                    transaction_id=answer.transaction_id, reason="EVDisconnected"))
    done = client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json
    assert done["status"] == "completed"
    expected = pricing.charging_price(line.charger.attributes, began, stopped, 20.0, stopped)
    assert done["final_price"]["amount"] == expected["total_fen"]
    assert done["settlement"]["energy_kwh"] == 20.0 and done["settlement"]["idle_fen"] == 0
    assert done["payment"]["amount_captured"] == expected["total_fen"]
    sim.close()


def test_ocpp201_session_settles_from_the_meter_with_the_idle_fee(app, client, line, session):
    sim = line.simulator().open()
    sim.call(BOOT_201)
    sim.call(status_201("Available"))
    booking = confirmed_booking(client, line)
    sim.expect("ReserveNow")
    started_slot(app, booking["id"], minutes_ago=50)
    client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=line.headers)
    token = sim.expect("RequestStartTransaction")["id_token"]
    began, full = utcnow() - timedelta(minutes=45), utcnow() - timedelta(minutes=35)

    def event(kind, at, wh, seq, **info):
        return call201.TransactionEvent(
            event_type=kind, timestamp=ocpp_time(at), trigger_reason="MeterValuePeriodic", seq_no=seq,
            transaction_info={"transaction_id": "tx-1", **info}, id_token=token if kind == "Started" else None,
            evse={"id": 1, "connector_id": 1}, meter_value=[{"timestamp": ocpp_time(at), "sampled_value": [
                {"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}])

    assert sim.call(event("Started", began, 500, 0)).id_token_info["status"] == "Accepted"
    sim.call(event("Updated", full, 30500, 1, charging_state="SuspendedEV"))
    sim.call(event("Updated", full + timedelta(minutes=5), 30500, 2))  # full: the meter no longer moves
    sim.call(event("Ended", full + timedelta(minutes=10), 30500, 3, stopped_reason="Local"))
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json["status"] == "checked_in"
    sim.call(status_201("Available"))  # the car leaves: idle time ends
    done = client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json
    assert done["status"] == "completed"
    session.rollback()  # end the fixture's read snapshot
    charge = session.exec(select(ChargingSession).where(ChargingSession.booking_id == booking["id"])).one()
    expected = pricing.charging_price(line.charger.attributes, began, full, 30.0, charge.unplugged_at)
    assert done["settlement"]["idle_minutes"] >= 24 and done["settlement"]["idle_fen"] > 0
    assert done["final_price"]["amount"] == expected["total_fen"]
    sim.close()


def test_remote_stop_from_the_app(app, client, line):
    sim = line.simulator().open()
    sim.call(BOOT_201)
    booking = confirmed_booking(client, line)
    started_slot(app, booking["id"])
    client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=line.headers)
    token = sim.expect("RequestStartTransaction")["id_token"]
    assert client.post(f"/api/v1/bookings/{booking['id']}/stop-charging",
                       headers=line.headers).json["code"] == "not_charging"
    sim.call(call201.TransactionEvent(event_type="Started", timestamp=ocpp_time(utcnow()), trigger_reason="RemoteStart",
                                      seq_no=0, transaction_info={"transaction_id": "tx-9"}, id_token=token,
                                      evse={"id": 1, "connector_id": 1}))
    assert client.post(f"/api/v1/bookings/{booking['id']}/stop-charging", headers=line.headers).status_code == 202
    assert sim.expect("RequestStopTransaction")["transaction_id"] == "tx-9"
    sim.close()


def bind_spare(app, line) -> Simulator:
    """Put the site's spare charger behind a charge point of its own and boot it."""
    identity = f"{line.identity}-SPARE"
    with Session(app.extensions["db_engine"]) as session:
        point = ChargePoint(identity=identity, site_id=line.site.id, password_hash=hash_password(PASSWORD))
        session.add(point)
        session.flush()
        session.add(Connector(charge_point_id=point.id, resource_id=line.spare.id))
        session.commit()
    spare = Simulator(line.url, identity, PASSWORD).open()
    spare.call(BOOT_201)
    return spare


@pytest.mark.parametrize("goes_down", ["offline", "faulted"])
def test_a_charger_going_down_leaves_availability_and_its_booking_moves_with_its_reservation(
        app, client, line, goes_down):
    spare = bind_spare(app, line)
    sim = line.simulator("ocpp1.6").open()
    sim.call(BOOT_16)
    sim.call(status_16("Available"))
    booking = confirmed_booking(client, line)
    reserved = sim.expect("ReserveNow")
    assert live_status(client, line) == "available"
    if goes_down == "offline":
        sim.close()
    else:
        sim.call(status_16("Faulted", "GroundFailure"))
    eventually(lambda: live_status(client, line) == "not offered")
    hit = client.get(f"/api/v1/bookings/{booking['id']}", headers=line.headers).json
    assert hit["disrupted"] is True
    moved = client.post(f"/api/v1/bookings/{booking['id']}/rebook", headers=line.headers, json={
        "start": hit["start"], "end": hit["end"], "resource_id": line.spare.id})
    assert moved.status_code == 200 and moved.json["resource_id"] == line.spare.id
    assert spare.expect("ReserveNow")["evse_id"] == 1
    if goes_down == "offline":  # the first charger hears of it when it is back
        sim = line.simulator("ocpp1.6").open()
        sim.call(BOOT_16)
    assert sim.expect("CancelReservation")["reservation_id"] == reserved["reservation_id"]
    managed = client.get(f"/api/v1/manage/sites/{line.site.id}/resources", headers=line.operator_headers).json
    state = next(r["ocpp"] for r in managed["items"] if r["id"] == line.charger.id)
    assert state["live_status"] == goes_down
    if goes_down == "faulted":
        assert state["faults"][0]["error"] == "GroundFailure"
        sim.call(status_16("Available"))
        assert live_status(client, line) == "available"
    sim.close()
    spare.close()


def test_check_in_reaches_the_charger_through_its_owner_without_waiting_for_a_tick(app, client, line):
    sim = line.simulator().open()
    sim.call(BOOT_201)
    booking = confirmed_booking(client, line)
    sim.expect("ReserveNow")
    line.csms.settings = replace(line.csms.settings, tick_s=60)
    time.sleep(0.5)  # the loop is now asleep for a minute unless nudged
    started_slot(app, booking["id"])
    client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=line.headers)
    assert sim.expect("RequestStartTransaction", timeout=5)["id_token"]["type"] == "Central"
    sim.close()


def test_an_id_token_is_authorised_only_for_a_live_booking_on_its_charger(client, line):
    sim = line.simulator().open()
    sim.call(BOOT_201)
    booking = confirmed_booking(client, line)
    token = sim.expect("ReserveNow")["id_token"]
    assert sim.call(call201.Authorize(id_token=token)).id_token_info["status"] == "Accepted"
    forged = {"id_token": "0" * 20, "type": "Central"}
    assert sim.call(call201.Authorize(id_token=forged)).id_token_info["status"] == "Invalid"
    client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=line.headers)
    assert sim.call(call201.Authorize(id_token=token)).id_token_info["status"] == "Invalid"
    sim.close()


def test_meter_values_that_are_not_numbers_are_ignored():
    reading = reading_of([{"timestamp": "2026-11-26T01:00:00Z", "sampled_value": [
        {"value": float("nan")}, {"value": 2.5, "unit_of_measure": {"unit": "kWh"}}]}])
    assert reading.energy_wh == 2500
