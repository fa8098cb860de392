"""Bad input is a 4xx problem+json with a stable code, never a 500: nesting, dates, text, attributes."""
from datetime import timedelta

import pytest
import requests
from sqlmodel import select

from backend import json_depth
from backend.dbtypes import utcnow
from booking.sites.models import Resource
from tests.booking.conftest import booking_body, next_slot
from tests.factories import bearer, make_event, make_org, make_site, make_user

EXTREMES = ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-05:00", "1999-12-31T23:59:59Z",
            "2100-01-01T00:00:00Z"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def staff(app, session):
    """A user with every staff role in one organisation, its venue with a charger, and an event."""
    org = make_org(session)
    user = make_user(session, roles=("citizen", "operator", "organiser", "site_operator"),
                     organisation=org)
    site = make_site(session, organisation=org, kind="venue", resources=[
        {"kind": "charger", "capacity": 1, "attributes": {"power_kw": 120, "voltage_class": 400}}])
    event = make_event(session, organisation=org, venue=site)
    resource = session.exec(select(Resource).where(Resource.site_id == site.id)).one()
    return bearer(app, session, user), site, resource, event


@pytest.mark.parametrize("path", ["/api/v1/auth/register", "/api/v1/bookings", "/api/v1/fleet/telemetry"])
def test_deep_json_is_refused_before_parsing_without_login(client, path):
    answer = client.post(path, data=nested(100_000), content_type="application/json")
    assert answer.status_code == 422
    assert answer.json["code"] == "json_too_deep"
    assert client.post(path, data=nested(33), content_type="application/json").json["code"] == "json_too_deep"


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    name = "[" * 500 + '\\"{' * 100
    answer = client.post("/api/v1/auth/register", data=f'{{"email": "x", "name": "{name}"}}',
                         content_type="application/json")
    assert answer.status_code == 422 and answer.json["code"] == "validation_error"


def test_lone_surrogate_is_refused_anywhere_in_a_body(client):
    body = '{"email": "a@example.com", "password": "long enough password", "name": "\\ud800"}'
    answer = client.post("/api/v1/auth/register", data=body, content_type="application/json")
    assert answer.status_code == 422
    assert answer.json["errors"][0]["type"] == "string_unstorable"
    pair = '{"email": "b@example.com", "password": "long enough password", "name": "\\ud83d\\ude97"}'
    assert client.post("/api/v1/auth/register", data=pair, content_type="application/json").status_code == 201


@pytest.mark.parametrize("moment", EXTREMES)
def test_dates_outside_the_calendar_are_422_everywhere(client, staff, moment):
    headers, site, resource, event = staff
    tier = {"name_zh": "看台", "name_en": "Stand", "price_fen": 100, "quota": 10,
            "sales_start": moment, "sales_end": moment}
    calls = [
        ("post", "/api/v1/bookings", {"resource_id": resource.id, "start": moment, "end": moment}),
        ("post", f"/api/v1/manage/sites/{site.id}/resources/{resource.id}/outages",
         {"start": moment, "end": moment, "reason": "maintenance"}),
        ("post", "/api/v1/organiser/events", {"category": "culture", "title_zh": "展", "title_en": "Show",
                                              "venue_site_id": site.id, "starts_at": moment, "ends_at": moment}),
        ("patch", f"/api/v1/organiser/events/{event.id}", {"starts_at": moment}),
        ("post", f"/api/v1/organiser/events/{event.id}/tiers", tier),
        ("post", "/api/v1/fleet/telemetry", {"rows": [{"vehicle_id": 1, "lat": 29.6, "lon": 106.5, "ts": moment}]}),
        ("post", f"/api/v1/organiser/events/{event.id}/check-ins/batch",
         {"scans": [{"code": "1.x", "scanned_at": moment}]}),
    ]
    for method, path, body in calls:
        answer = getattr(client, method)(path, json=body, headers=headers)
        assert answer.status_code == 422, (path, answer.json)
        assert answer.json["code"] == "validation_error", (path, answer.json)
    for path in (f"/api/v1/sites/{site.id}/availability", "/api/v1/availability", "/api/v1/events"):
        answer = client.get(path, query_string={"from": moment, "to": moment, "lat": 29.5, "lon": 106.5})
        assert answer.status_code == 422, (path, answer.json)


def test_telemetry_time_without_offset_is_422(client, staff):
    headers, *_ = staff
    vehicle = client.post("/api/v1/fleet/vehicles", json={"plate": "渝A·N0001", "region": "liangjiang"},
                          headers=headers).json
    row = {"vehicle_id": vehicle["id"], "lat": 29.66, "lon": 106.55, "ts": "2026-05-01T08:00:00"}
    answer = client.post("/api/v1/fleet/telemetry", json={"rows": [row]}, headers=headers)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "rows.0.ts"


@pytest.mark.parametrize("code", ["²³.0a1b2c3d.aaaaaaaaaaaaaaaaaaaaaa", "١٢.0a1b2c3d.aaaaaaaaaaaaaaaaaaaaaa",
                                  "99999999999999999999.0a1b2c3d.aaaaaaaaaaaaaaaaaaaaaa"])
def test_check_in_codes_with_other_digits_are_invalid(client, staff, code):
    headers, _, _, event = staff
    answer = client.post(f"/api/v1/organiser/events/{event.id}/check-ins", json={"code": code}, headers=headers)
    assert answer.status_code == 200 and answer.json == {"result": "invalid"}


BAD_ATTRIBUTES = [
    ("charger", 1, {"power_kw": "fast", "voltage_class": 800}, "attributes.power_kw"),
    ("charger", 1, {"power_kw": 0, "voltage_class": 800}, "attributes.power_kw"),
    ("charger", 1, {"power_kw": 480, "voltage_class": 600}, "attributes.voltage_class"),
    ("charger", 1, {"power_kw": 480, "voltage_class": 400}, "attributes"),
    ("charger", 1, {"power_kw": 120, "voltage_class": 400, "connector": "Schuko"}, "attributes.connector"),
    ("charger", 1, {"power_kw": 120, "voltage_class": 400, "service_fee_fen_per_kwh": -500},
     "attributes.service_fee_fen_per_kwh"),
    ("charger", 1, {"power_kw": 120, "voltage_class": 400, "turbo": True}, "attributes.turbo"),
    ("h2_dispenser", 1, {"pressure_mpa": 50}, "attributes.pressure_mpa"),
    ("swap_lane", 1, {"battery_models": []}, "attributes.battery_models"),
    ("test_drive_car", 1, {}, "attributes.car_model"),
    ("track_session", 1, {"price_fen": 100}, "capacity"),
    ("parking_bay", 5, {"price_fen_per_hour": -1}, "attributes.price_fen_per_hour"),
]


@pytest.mark.parametrize("kind,capacity,attributes,field", BAD_ATTRIBUTES)
def test_resource_attributes_break_their_kind_schema_on_create(client, staff, kind, capacity, attributes, field):
    headers, site, *_ = staff
    answer = client.post(f"/api/v1/manage/sites/{site.id}/resources", headers=headers, json={
        "kind": kind, "name_zh": "资源", "name_en": "Resource", "capacity": capacity, "attributes": attributes})
    assert answer.status_code == 422, answer.json
    assert field in {e["field"] for e in answer.json["errors"]}


def test_resource_attributes_are_checked_on_edit_and_kept_canonical(client, staff, session):
    headers, site, resource, _ = staff
    path = f"/api/v1/manage/sites/{site.id}/resources/{resource.id}"
    answer = client.patch(path, json={"attributes": {"power_kw": "fast", "voltage_class": 800}}, headers=headers)
    assert answer.status_code == 422
    answer = client.patch(path, json={"attributes": {"power_kw": 480, "voltage_class": 800}}, headers=headers)
    assert answer.status_code == 200
    assert answer.json["attributes"] == {"power_kw": 480.0, "connector": "GB/T DC", "voltage_class": 800,
                                         "service_fee_fen_per_kwh": 60}


def test_a_stored_bad_row_breaks_no_public_read(client, app, backend, session, staff):
    """Rows written before the schemas existed: hidden from search, shown flagged, not bookable."""
    headers, site, resource, _ = staff
    good = make_site(session, organisation=make_org(session), resources=[
        {"kind": "charger", "attributes": {"power_kw": 480, "voltage_class": 800}}])
    resource.attributes = {"power_kw": "fast", "voltage_class": 800}
    if backend["BACKEND"] == "sqlite":  # PostgreSQL's JSONB never took a lone surrogate
        resource.attributes["note"] = "\ud800"
    session.add(resource)
    session.commit()
    start = utcnow() + timedelta(hours=2)
    window = {"from": start.isoformat(), "to": (start + timedelta(hours=4)).isoformat(),
              "lat": 29.5576, "lon": 106.5772, "resource_kind": "charger", "min_power_kw": 100}
    answer = client.get("/api/v1/availability", query_string=window)
    assert answer.status_code == 200
    assert [s["site"]["id"] for s in answer.json["items"]] == [good.id]
    detail = client.get(f"/api/v1/sites/{site.id}").json
    assert detail["resources"][0]["misconfigured"] is True and detail["resources"][0]["attributes"] == {}
    assert client.get(f"/api/v1/sites/{site.id}/availability", query_string=window).json["resources"] == []
    slot_start, slot_end = next_slot("charger", after=timedelta(hours=1))
    citizen = bearer(app, session, make_user(session))
    answer = client.post("/api/v1/bookings", json=booking_body(resource, slot_start, slot_end), headers=citizen)
    assert answer.status_code == 409 and answer.json["code"] == "resource_unavailable"


def test_deep_json_sent_chunked_is_refused_too(live_server):
    chunks = (part.encode() for part in ("[" * 50_000, "]" * 50_000))
    answer = requests.post(f"{live_server}/api/v1/auth/register", data=chunks, timeout=30,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["code"] == "json_too_deep"


@pytest.mark.parametrize("text,depth", [
    (b'{"a": [1, {"b": []}]}', 4),
    (b'["[[[[", "\\\\", "\\"[[", [["]]]"]]]', 3),
    (b'{"k\\\\\\"{": "\\\\\\\\"}', 1),
    (b"[" * 40 + b"]" * 40, 40),
    (b'"just a string"', 0),
])
def test_depth_is_counted_outside_strings(text, depth):
    assert json_depth(text) == depth
