"""Free slots per site and near a point, with filters, in a bounded number of queries."""
from datetime import timedelta

from sqlalchemy import event

from backend.dbtypes import utcnow
from backend.seed.loader import load_demo
from tests.booking.conftest import RESOURCES, booking_body, next_slot
from tests.factories import make_org, make_site


def _window(hours=6):
    start = utcnow().replace(microsecond=0)
    return {"from": start.isoformat(), "to": (start + timedelta(hours=hours)).isoformat()}


def test_site_availability_hides_taken_slots(client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    resource = world.resources["charger"]
    before = client.get(f"/api/v1/sites/{world.site.id}/availability", query_string=_window()
                        | {"resource_kind": "charger"}).json
    starts = {s["start"] for r in before["resources"] if r["resource"]["id"] == resource.id
              for s in r["slots"]}
    assert start.isoformat() in starts
    assert {r["resource"]["kind"] for r in before["resources"]} == {"charger"}
    client.post("/api/v1/bookings", json=booking_body(resource, start, end), headers=world.headers)
    after = client.get(f"/api/v1/sites/{world.site.id}/availability", query_string=_window()
                       | {"resource_kind": "charger"}).json
    starts = {s["start"] for r in after["resources"] if r["resource"]["id"] == resource.id
              for s in r["slots"]}
    assert start.isoformat() not in starts


def test_capacity_counts_down(client, world):
    resource = world.resources["track_session"]
    start, end = next_slot("track_session")
    client.post("/api/v1/bookings", json=booking_body(resource, start, end), headers=world.headers)
    window = {"from": start.isoformat(), "to": end.isoformat(), "resource_kind": "track_session"}
    slots = client.get(f"/api/v1/sites/{world.site.id}/availability", query_string=window).json
    assert slots["resources"][0]["slots"][0]["remaining"] == resource.capacity - 1


def test_nearby_800v_nearest_first_with_filters(app, client, session, world):
    org = make_org(session)
    far = make_site(session, organisation=org, lat=29.5700, lon=106.5772, resources=RESOURCES[:1])
    query = {"lat": 29.5576, "lon": 106.5772, "radius_m": 5000, "voltage_class": 800,
             "resource_kind": "charger"} | _window()
    items = client.get("/api/v1/availability", query_string=query).json["items"]
    assert [i["site"]["id"] for i in items] == [world.site.id, far.id]
    assert all(r["resource"]["attributes"]["voltage_class"] == 800 for i in items for r in i["resources"])
    strong = client.get("/api/v1/availability", query_string=query | {"min_power_kw": 500}).json
    assert strong["items"] == []
    cars = client.get("/api/v1/availability", query_string={
        "lat": 29.5576, "lon": 106.5772, "car_model": "avatr-11"} | _window(24)).json["items"]
    assert [i["site"]["id"] for i in cars] == [world.site.id]


def test_nearby_answers_in_a_bounded_number_of_queries(app, client, session, world):
    org = make_org(session)

    def count_queries(n_sites):
        for i in range(n_sites):
            make_site(session, organisation=org, lat=29.55 + i * 0.001, lon=106.57, resources=RESOURCES[:2])
        seen = []
        engine = app.extensions["db_engine"]
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            answer = client.get("/api/v1/availability", query_string={
                "lat": 29.5576, "lon": 106.5772, "radius_m": 20000} | _window())
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert answer.status_code == 200
        return len([q for q in seen if q.lstrip().upper().startswith("SELECT")])

    assert count_queries(3) == count_queries(30)


def test_bad_windows(client, world):
    start = utcnow()
    for window, code in [({"from": start.isoformat(), "to": start.isoformat()}, "end_before_start"),
                         ({"from": start.isoformat(), "to": (start + timedelta(days=9)).isoformat()},
                          "window_too_long")]:
        answer = client.get(f"/api/v1/sites/{world.site.id}/availability", query_string=window)
        assert answer.status_code == 422 and answer.json["code"] == code
    missing = client.get("/api/v1/sites/99999/availability", query_string=_window())
    assert missing.status_code == 404


def test_car_models_catalogue(client, session):
    load_demo(session)
    items = client.get("/api/v1/car-models").json["items"]
    assert {"BEV", "EREV", "PHEV", "FCEV"} <= {m["powertrain"] for m in items}
    assert all(m["range_km"] > 0 and m["autonomy_level"] for m in items)
