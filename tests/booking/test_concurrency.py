"""Real concurrent clients over HTTP: a slot is never sold twice, a session never beyond capacity."""
import threading
from collections import Counter
from datetime import timedelta

import pytest
import requests
from sqlalchemy.exc import IntegrityError

from booking.bookings.models import Booking, BookingStatus
from tests.booking.conftest import booking_body, next_slot
from tests.factories import bearer, make_user

CLIENTS = 50


def race(live_server, headers_list, body) -> list[requests.Response]:
    """Fire the same booking from every client at once and return the answers."""
    start = threading.Barrier(len(headers_list))
    answers = [None] * len(headers_list)

    def client(i):
        with requests.Session() as http:
            start.wait()
            answers[i] = http.post(f"{live_server}/api/v1/bookings", json=body,
                                   headers=headers_list[i], timeout=60)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(headers_list))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _citizens(app, session, n):
    return [bearer(app, session, make_user(session)) for _ in range(n)]


def test_fifty_clients_one_charger_slot(app, session, world, live_server):
    start, end = next_slot("charger", after=timedelta(hours=1))
    answers = race(live_server, _citizens(app, session, CLIENTS),
                   booking_body(world.resources["charger"], start, end))
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 1, 409: CLIENTS - 1}, codes
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"slot_taken"}


def test_track_session_sells_exactly_its_capacity(app, session, world, live_server):
    resource = world.resources["track_session"]
    start, end = next_slot("track_session")
    answers = race(live_server, _citizens(app, session, CLIENTS), booking_body(resource, start, end))
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: resource.capacity, 409: CLIENTS - resource.capacity}, codes


def test_postgres_exclusion_constraint_refuses_overlap_by_itself(backend, session, world):
    if backend["BACKEND"] != "postgres":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE instead")
    start, end = next_slot("charger", after=timedelta(hours=2))
    resource = world.resources["charger"]
    row = dict(user_id=world.citizen.id, resource_id=resource.id, site_id=world.site.id,
               kind="charger", status=BookingStatus.confirmed, start_at=start, end_at=end,
               blocked_until=end)
    session.add(Booking(**row))
    session.commit()
    session.add(Booking(**row | {"start_at": start + timedelta(minutes=10)}))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    session.add(Booking(**row | {"active": False}))  # a cancelled booking blocks nothing
    session.commit()
