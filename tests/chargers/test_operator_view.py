"""What a site operator sees of a site's chargers: live status, the session running, the last faults."""
from datetime import timedelta

from ocpp.v201 import call as call201

from backend.dbtypes import utcnow
from booking.chargers.csms import faults_of
from tests.chargers.test_csms import BOOT_201, ocpp_time, status_201


def meter(wh: float, w: float) -> list[dict]:
    return [{"timestamp": ocpp_time(utcnow()), "sampled_value": [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}},
        {"value": w, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}}]}]


def problem(event_id: int, tech_code: str, **extra) -> dict:
    return {"event_id": event_id, "timestamp": ocpp_time(utcnow()), "trigger": "Alerting", "actual_value": "true",
            "tech_code": tech_code, "event_notification_type": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": 1, "connector_id": 1}},
            "variable": {"name": "Problem"}, **extra}


def chargers(client, line, **query) -> dict:
    return client.get(f"/api/v1/manage/sites/{line.site.id}/chargers", query_string=query,
                      headers=line.operator_headers)


def test_the_operator_sees_each_connector_its_running_session_and_its_last_faults(client, line):
    sim = line.simulator().open()
    sim.call(BOOT_201)
    sim.call(status_201("Available"))
    began = utcnow() - timedelta(minutes=10)
    for kind, seq, wh, w in [("Started", 0, 1000, 0), ("Updated", 1, 3500, 60000)]:  # a driver without booking
        sim.call(call201.TransactionEvent(
            event_type=kind, timestamp=ocpp_time(began), trigger_reason="CablePluggedIn", seq_no=seq,
            transaction_info={"transaction_id": "walk-in"}, evse={"id": 1, "connector_id": 1},
            meter_value=meter(wh, w)))
    [state] = chargers(client, line).json["items"]
    assert state["live_status"] == "available" and state["status_at"].endswith("+08:00")
    assert state["session"] == {"status": "charging", "booking_id": None, "fleet": False, "energy_kwh": 2.5,
                                "power_kw": 60.0, "limit_kw": None, "since": state["session"]["since"]}
    assert state["session"]["since"].endswith("+08:00")

    sim.call(call201.NotifyEvent(generated_at=ocpp_time(utcnow()), seq_no=0, event_data=[
        problem(1, "OverTemperature"), problem(2, "GroundFailure", cleared=True)]))
    sim.call(status_201("Faulted"))
    state = chargers(client, line).json["items"][0]
    assert state["live_status"] == "faulted"
    assert [f["error"] for f in state["faults"]] == ["Faulted", "OverTemperature"]
    assert all(f["at"].endswith("+08:00") for f in state["faults"])
    assert [f["error"] for f in chargers(client, line, faults=1).json["items"][0]["faults"]] == ["Faulted"]
    sim.close()


def test_only_the_site_operator_sees_its_chargers(client, line):
    assert client.get(f"/api/v1/manage/sites/{line.site.id}/chargers", headers=line.headers).status_code == 403
    assert chargers(client, line, faults=999).status_code == 422


def test_a_notify_event_is_a_fault_when_it_raises_a_problem_or_alerts():
    changed = {**problem(3, ""), "trigger": "Delta", "variable": {"name": "Power"}, "actual_value": "7400"}
    station_wide = {**problem(4, ""), "component": {"name": "ChargingStation"}}
    assert faults_of([problem(1, "OverTemperature"), problem(2, "X", cleared=True), changed, station_wide]) == [
        (1, 1, "OverTemperature"), (None, None, "ChargingStation.Problem")]
