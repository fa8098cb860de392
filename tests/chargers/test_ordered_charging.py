"""Ordered charging against simulators of both protocols: fleet profiles under a site's power cap."""
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from booking.bookings import pricing, services
from booking.bookings.models import BookingCreate
from booking.bookings.rules import CITY_TZ
from booking.chargers import live
from booking.chargers.models import ChargePoint, Connector
from booking.chargers.services import hash_password
from booking.sites.models import Resource
from tests.booking.conftest import next_slot
from tests.chargers.conftest import PASSWORD, Running
from tests.chargers.simulator import Simulator
from tests.chargers.test_csms import BOOT_16, BOOT_201, ocpp_time
from tests.factories import bearer, make_org, make_site, make_user

CHARGER_120 = {"kind": "charger", "name_en": "120 kW", "capacity": 1,
               "attributes": {"power_kw": 120, "connector": "GB/T DC", "voltage_class": 400,
                              "service_fee_fen_per_kwh": 80}}
CAP_KW, CITIZEN_KW = 200, 120


@dataclass
class Station:
    """A capped site whose three 120 kW chargers are plugs 1-3 of one charge point."""
    running: Running
    site_id: int
    chargers: list[Resource]
    identity: str
    fleet_user_id: int
    operator_headers: dict


@pytest.fixture
def station(app, session):
    org = make_org(session)
    site = make_site(session, organisation=org, resources=[CHARGER_120] * 3)
    chargers = session.exec(select(Resource).where(Resource.site_id == site.id).order_by(Resource.id)).all()
    point = ChargePoint(identity=f"CQ-CAP-{site.id}", site_id=site.id, password_hash=hash_password(PASSWORD))
    session.add(point)
    session.flush()
    for n, charger in enumerate(chargers, start=1):
        session.add(Connector(charge_point_id=point.id, resource_id=charger.id, evse_id=n, connector_id=n))
    session.commit()
    fleet = make_user(session)  # who holds the fleet's account does not matter to the charger
    operator = make_user(session, roles=("site_operator",), organisation=org)
    running = Running(app)
    yield Station(running, site.id, chargers, point.identity, fleet.id, bearer(app, session, operator))
    running.stop()


def next_morning() -> datetime:
    """Return 07:00 in Chongqing after tomorrow's valley has begun: a night robotaxi's deadline."""
    local = utcnow().astimezone(CITY_TZ)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), CITY_TZ) + timedelta(hours=7)


def fleet_booking(app, station, plug: int, needed_by: datetime) -> None:
    """Book a charger on the fleet's account with the desk's need, as dispatch does."""
    start, end = next_slot("charger")
    with Session(app.extensions["db_engine"]) as session:
        booking, *_ = services.hold_slot(session, user_id=station.fleet_user_id, on_account=True, data=BookingCreate(
            resource_id=station.chargers[plug - 1].id, start=start, end=end))
        live.note_need(session, booking, energy_kwh=60, needed_by=needed_by)


def start(sim, plug: int, token: str | None):
    """Plug in on a connector: with a reservation's token, or a citizen's card the platform does not know."""
    if sim.protocol == "ocpp1.6":
        return sim.call(call16.StartTransaction(connector_id=plug, id_tag=token or "CITIZEN-CARD", meter_start=0,
                                                timestamp=ocpp_time(utcnow())))
    return sim.call(call201.TransactionEvent(
        event_type="Started", timestamp=ocpp_time(utcnow()), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": f"tx-{plug}"}, evse={"id": plug, "connector_id": plug},
        id_token=token and {"id_token": token, "type": "Central"}))


def reserved_plug(sim) -> tuple[int, str]:
    payload = sim.expect("ReserveNow")
    if sim.protocol == "ocpp1.6":
        return payload["connector_id"], payload["id_tag"]
    return payload["evse_id"], payload["id_token"]["id_token"]


def profiles(sim, count: int) -> dict[int, tuple[datetime, list[tuple[int, float]]]]:
    """Read the next `count` SetChargingProfile calls: plug -> (schedule start, [(offset s, limit W)])."""
    got = {}
    for _ in range(count):
        payload = sim.expect("SetChargingProfile")
        if sim.protocol == "ocpp1.6":
            plug, profile = payload["connector_id"], payload["cs_charging_profiles"]
            schedule = profile["charging_schedule"]
        else:
            plug, profile = payload["evse_id"], payload["charging_profile"]
            schedule = profile["charging_schedule"][0]
        assert profile["charging_profile_purpose"] == "TxProfile" and schedule["charging_rate_unit"] == "W"
        begins = datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
        got[plug] = (begins, [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]])
    return got


def limit_at(schedule, moment: datetime) -> float:
    begins, periods = schedule
    return [limit for offset, limit in periods if begins + timedelta(seconds=offset) <= moment][-1]


def assert_under(plans, headroom_w: float, until: datetime) -> None:
    """Check the summed fleet limits at every minute and every period start up to a moment."""
    begins = min(b for b, _ in plans.values())
    moments = {begins + timedelta(minutes=m) for m in range(int((until - begins).total_seconds() // 60) + 1)}
    moments |= {b + timedelta(seconds=offset) for b, periods in plans.values() for offset, _ in periods}
    for moment in sorted(moments):
        assert sum(limit_at(schedule, moment) for schedule in plans.values()) <= headroom_w


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp1.6"])
def test_fleet_profiles_keep_the_site_under_its_cap_while_citizens_charge_at_full_power(
        app, client, station, protocol):
    sim = Simulator(station.running.url, station.identity, PASSWORD, protocol).open()
    sim.call(BOOT_201 if protocol == "ocpp2.0.1" else BOOT_16)
    answer = client.put(f"/api/v1/manage/sites/{station.site_id}/power-cap", json={"power_cap_kw": CAP_KW},
                        headers=station.operator_headers)
    assert answer.status_code == 200 and answer.json["power_cap_kw"] == CAP_KW
    deadline = next_morning()
    fleet_booking(app, station, 1, deadline)
    fleet_booking(app, station, 2, deadline)
    tokens = dict(reserved_plug(sim) for _ in range(2))
    assert sorted(tokens) == [1, 2]

    start(sim, 1, tokens[1])
    assert set(profiles(sim, 1)) == {1}
    start(sim, 2, tokens[2])
    assert set(profiles(sim, 2)) == {1, 2}
    start(sim, 3, None)  # a citizen: no profile, full power, and the fleet makes room
    plans = profiles(sim, 2)
    assert set(plans) == {1, 2}
    assert_under(plans, (CAP_KW - CITIZEN_KW) * 1000, deadline)
    # Nothing is needed before the morning, so every watt waits for the valley.
    for begins, periods in plans.values():
        assert {pricing.period_at(begins + timedelta(seconds=s)) for s, limit in periods if limit > 0} == {"valley"}
        assert periods[-1][1] == 0

    view = client.get(f"/api/v1/manage/sites/{station.site_id}/chargers", headers=station.operator_headers).json
    sessions = {item["evse_id"]: item["session"] for item in view["items"]}
    assert view["power_cap_kw"] == CAP_KW
    assert sessions[3]["status"] == "charging" and sessions[3]["fleet"] is False and sessions[3]["limit_kw"] is None
    assert sessions[1]["fleet"] is True and sessions[1]["booking_id"] is not None
    assert sessions[1]["since"].endswith("+08:00")
    sim.close()


def test_a_lower_cap_replans_the_running_fleet_sessions(app, client, station):
    sim = Simulator(station.running.url, station.identity, PASSWORD).open()
    sim.call(BOOT_201)
    soon = utcnow() + timedelta(minutes=20)  # 60 kWh cannot be met by then: full power throughout
    fleet_booking(app, station, 1, soon)
    plug, token = reserved_plug(sim)
    start(sim, plug, token)
    assert limit_at(profiles(sim, 1)[1], utcnow() + timedelta(seconds=5)) == 120_000  # no cap: full power
    answer = client.put(f"/api/v1/manage/sites/{station.site_id}/power-cap", json={"power_cap_kw": 50},
                        headers=station.operator_headers)
    assert answer.json["items"][0]["session"]["limit_kw"] == 50
    assert max(limit for _, limit in profiles(sim, 1)[1][1]) == 50_000
    sim.close()


@pytest.mark.parametrize("cap", [0, -5, 200_000, "lots"])
def test_a_power_cap_must_be_a_sensible_number_of_kilowatts(client, station, cap):
    answer = client.put(f"/api/v1/manage/sites/{station.site_id}/power-cap", json={"power_cap_kw": cap},
                        headers=station.operator_headers)
    assert answer.status_code == 422 and answer.json["code"] == "validation_error"
