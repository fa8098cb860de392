"""How many statements a rider's requests run: each read once, the ride's payment and vehicle with the ride."""
import re

import pytest

from tests.factories import bearer, make_user, statements_run
from tests.robotaxi_dispatch.test_rides import LIJIA, YUFU, city, dispatcher  # noqa: F401  (city: a fixture)

TRIP = {"pickup": LIJIA, "dropoff": YUFU, "passengers": 1}
RIDES_TABLES = {"service_areas", "vehicles", "rides", "ride_events"}


def _queries(statements: list[str]) -> list[str]:
    """Return the statements other than transaction control (SQLite's BEGIN goes through the cursor)."""
    return [s for s in statements if not s.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]


def _table(statement: str) -> str:
    """Return the table a statement reads or writes first."""
    found = re.match(r"\s*(?:SELECT\b.*?\sFROM|INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", statement, re.S)
    assert found, statement
    return found[1]


def _rides_part(statements: list[str]) -> list[str]:
    """Return the tables of the statements on the rides' own tables, in order (payments' are payments')."""
    return [t for t in map(_table, _queries(statements)) if t in RIDES_TABLES]


def _run(app, send):
    with statements_run(app) as statements:
        answer = send()
    assert answer.status_code in (200, 201), answer.json
    return answer.json, statements


def test_a_quote_reads_the_trip_area_and_the_nearby_vehicles_once(app, client, city):  # noqa: F811
    _, statements = _run(app, lambda: client.post("/api/v1/rides/quote", json=TRIP))
    assert [_table(s) for s in _queries(statements)] == ["service_areas", "vehicles"]


def test_a_request_reads_nothing_twice_and_shows_the_payment_it_made(app, client, city):  # noqa: F811
    ride, statements = _run(app, lambda: client.post("/api/v1/rides", headers=city["rider"], json=TRIP))
    # The trip's area (no nearby vehicles: a ride keeps no pickup estimate), the ride and its event, and one
    # conditional update marking it authorised.
    assert _rides_part(statements) == ["service_areas", "rides", "ride_events", "rides"]
    assert len(_queries(statements)) <= 13  # with the wallet and the payment's own statements
    assert ride["payment"]["status"] == "authorised"
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json == ride


@pytest.mark.parametrize("assigned", [False, True], ids=["requested", "assigned"])
def test_a_ride_is_shown_from_one_statement(app, client, city, assigned):  # noqa: F811
    ride = client.post("/api/v1/rides", headers=city["rider"], json=TRIP).json
    if assigned:
        assert dispatcher(app).step()["assigned"] == 1
    shown, statements = _run(app, lambda: client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]))
    assert len(_queries(statements)) == 1
    assert shown["payment"] == ride["payment"]
    assert (shown["vehicle"] is not None) == assigned
    if assigned:
        assert shown["vehicle"]["position"] is not None  # the latest known, from Redis


def test_someone_elses_ride_is_not_found_from_one_statement(app, client, session, city):  # noqa: F811
    ride = client.post("/api/v1/rides", headers=city["rider"], json=TRIP).json
    stranger = bearer(app, session, make_user(session))
    with statements_run(app) as statements:
        answer = client.get(f"/api/v1/rides/{ride['id']}", headers=stranger)
    assert answer.status_code == 404 and answer.json["code"] == "ride_not_found"
    assert len(_queries(statements)) == 1


@pytest.mark.parametrize("assigned", [False, True], ids=["requested", "assigned"])
def test_a_cancellation_shows_the_payment_as_its_release_left_it(app, client, city, assigned):  # noqa: F811
    ride = client.post("/api/v1/rides", headers=city["rider"], json=TRIP).json
    if assigned:
        assert dispatcher(app).step()["assigned"] == 1
    cancelled, statements = _run(app, lambda: client.post(f"/api/v1/rides/{ride['id']}/cancel",
                                                          headers=city["rider"]))
    # The ride locked (its payment read with it, not locked) and changed, its vehicle read and freed, its
    # event; a requested ride's release is canceled at once, whose webhook finds the ride over.
    assert _rides_part(statements) == (["rides", "rides", "vehicles", "ride_events", "vehicles"] if assigned else
                                       ["rides", "rides", "ride_events", "rides"])
    assert len(_queries(statements)) <= (22 if assigned else 18)  # with the settlement's (a fee is captured)
    assert cancelled["status"] == "cancelled" and cancelled["payment"]["status"] != "authorised"
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json == cancelled
