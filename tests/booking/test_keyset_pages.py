"""Keyset pages: walking a list while items are inserted never repeats or skips one."""
import base64
from datetime import timedelta

import pytest

from tests.booking.conftest import booking_body, next_slot
from tests.factories import make_event, make_org, make_site, walk_pages

PAGE = 3


@pytest.fixture
def organiser(session):
    return make_org(session, kind="organiser")


def test_events_by_date_with_inserts_between_pages(client, session, organiser):
    venue = make_site(session, organisation=organiser, kind="venue")
    events = [make_event(session, organisation=organiser, venue=venue, days_ahead=10 + i) for i in range(8)]
    # Two events at the very same start: the id breaks the tie.
    events[4].starts_at = events[3].starts_at
    session.add(events[4])
    session.commit()
    inserted = []

    def insert_around():
        inserted.append(make_event(session, organisation=organiser, venue=venue, days_ahead=2).id)   # before
        inserted.append(make_event(session, organisation=organiser, venue=venue, days_ahead=40).id)  # after

    seen = walk_pages(client, "/api/v1/events", {"limit": PAGE}, between=insert_around)
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids))
    assert ids[:len(events)] == [e.id for e in sorted(events, key=lambda e: (e.starts_at, e.id))]
    assert set(ids) - {e.id for e in events} == set(inserted[1::2])  # later ones yes, earlier ones no
    assert [item["starts_at"] for item in seen] == sorted(item["starts_at"] for item in seen)


def test_events_near_a_point_in_the_database_with_inserts_between_pages(client, session, organiser):
    def venue_at(km: float):
        return make_site(session, organisation=organiser, kind="venue", lat=29.5576 + km / 111.32, lon=106.5772)

    events = [make_event(session, organisation=organiser, venue=venue_at(1 + i)) for i in range(7)]
    events.append(make_event(session, organisation=organiser, venue=venue_at(3)))  # a tie with events[2]
    far_away = make_event(session, organisation=organiser, venue=venue_at(30))
    inserted = []

    def insert_around():
        inserted.append(make_event(session, organisation=organiser, venue=venue_at(0.5)).id)  # nearer: before
        inserted.append(make_event(session, organisation=organiser, venue=venue_at(9.5)).id)  # farther: after

    query = {"lat": 29.5576, "lon": 106.5772, "radius_m": 10_000, "limit": PAGE}
    seen = walk_pages(client, "/api/v1/events", query, between=insert_around)
    ids = [item["id"] for item in seen]
    distances = [item["distance_m"] for item in seen]
    assert len(ids) == len(set(ids))
    assert far_away.id not in ids
    assert set(e.id for e in events) <= set(ids)
    assert set(ids) - {e.id for e in events} == set(inserted[1::2])
    assert distances == sorted(distances)
    assert 990 < distances[0] < 1010


def test_bookings_latest_first_with_inserts_between_pages(client, world):
    resource = world.resources["charger"]
    later, sooner = iter(range(100, 160, 2)), iter(range(0, 120, 30))

    def book(after: timedelta) -> int:
        start, end = next_slot("charger", after=after)
        answer = client.post("/api/v1/bookings", json=booking_body(resource, start, end), headers=world.headers)
        assert answer.status_code == 201, answer.json
        return answer.json["id"]

    booked = [book(timedelta(hours=2 + 2 * i)) for i in range(7)]
    inserted = []

    def insert_around():
        inserted.append(book(timedelta(hours=next(later))))      # starts later: sorts before the cursor
        inserted.append(book(timedelta(minutes=next(sooner))))   # starts sooner than all: after it

    seen = walk_pages(client, "/api/v1/bookings", {"limit": PAGE}, headers=world.headers, between=insert_around)
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids))
    assert ids[:len(booked)] == list(reversed(booked))
    assert set(ids) - set(booked) == set(inserted[1::2])
    assert [item["start"] for item in seen] == sorted((item["start"] for item in seen), reverse=True)


def _forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [_forged("not a cursor"), _forged("k:[1, 2]"), _forged("k:[null, 1]"),
                                    _forged('k:["2026-01-01T00:00:00+00:00", 99999999999999]'),
                                    _forged('k:["2026-01-01T00:00:00", 1]'), _forged("k:[1"), _forged("o:3")])
def test_forged_cursors_are_422(client, world, cursor):
    for url, headers in (("/api/v1/events", None), ("/api/v1/bookings", world.headers)):
        answer = client.get(url, query_string={"cursor": cursor}, headers=headers)
        assert answer.status_code == 422, (url, answer.json)
        assert answer.json["code"] == "validation_error"
