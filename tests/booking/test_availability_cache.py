"""Cached availability, nearby and per site: served without the database, yet a change shows in the
very next search."""
import threading
import time
from datetime import datetime, timedelta

import pytest
import redis
import requests
from sqlalchemy import event, insert

from backend.dbtypes import utcnow
from booking.bookings import availability, slot_cache
from booking.bookings.models import Outage
from booking.chargers.models import ChargePoint, Connector, LiveStatus
from booking.chargers.services import Plug, connector_status
from booking.sites.models import Resource, Site
from tests.booking.conftest import booking_body, next_slot
from tests.factories import bearer, make_user, statements_run

SEARCHES = 6
CLIENTS = 6


def _search(start, end) -> dict:
    return {"lat": 29.5576, "lon": 106.5772, "radius_m": 2000, "resource_kind": "charger",
            "from": start.isoformat(), "to": end.isoformat()}


def _offered(client, start, end) -> set[tuple[int, str]]:
    """Return (resource id, slot start) of every slot the nearby search offers."""
    answer = client.get("/api/v1/availability", query_string=_search(start, end))
    assert answer.status_code == 200, answer.json
    return {(r["resource"]["id"], s["start"]) for site in answer.json["items"]
            for r in site["resources"] for s in r["slots"]}


def _offered_by_site(site_id):
    """Return a search like _offered that asks the site's own page instead."""
    def offered(client, start, end) -> set[tuple[int, str]]:
        answer = client.get(f"/api/v1/sites/{site_id}/availability", query_string={
            "from": start.isoformat(), "to": end.isoformat(), "resource_kind": "charger"})
        assert answer.status_code == 200, answer.json
        return {(r["resource"]["id"], s["start"]) for r in answer.json["resources"] for s in r["slots"]}
    return offered


@pytest.fixture(params=["nearby", "site"])
def offered(request, world):
    """Each way a citizen sees free slots: the nearby search and the site's page."""
    return _offered if request.param == "nearby" else _offered_by_site(world.site.id)


def _selects(app, call) -> int:
    with statements_run(app) as seen:
        call()
    return len([q for q in seen if q.lstrip().upper().startswith("SELECT")])


def test_repeated_search_is_answered_without_the_database(app, client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    assert _selects(app, lambda: _offered(client, start, end)) > 0
    assert _selects(app, lambda: _offered(client, start, end)) == 0


def test_a_search_repeated_in_the_process_decodes_and_builds_nothing_again(client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    _offered(client, start, end)  # computes and stores the entries
    first = _offered(client, start, end)  # decodes them once
    decoded, built = slot_cache._decoded.cache_info().misses, availability._cached_slot.cache_info().misses
    assert _offered(client, start, end) == first
    assert slot_cache._decoded.cache_info().misses == decoded
    assert availability._cached_slot.cache_info().misses == built


def test_candidates_are_the_rows_read_not_copies(offered, client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    built = []

    def note(target, _args, _kwargs):
        built.append(target)
    availability._candidates_cache.clear()  # a cold search: sites and resources are read
    for model in (Site, Resource):
        event.listen(model, "init", note)
    try:
        assert offered(client, start, end)
    finally:
        for model in (Site, Resource):
            event.remove(model, "init", note)
    assert built == []  # a copy cost about 50 us a row, most of a cold search


def test_repeated_site_page_reads_only_live_statuses(app, client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    page = _offered_by_site(world.site.id)
    assert _selects(app, lambda: page(client, start, end)) > 1
    # The site, its resources and their slots come from the cache; what chargers report is read each time.
    assert _selects(app, lambda: page(client, start, end)) == 1


def test_the_site_page_shows_every_slot_the_nearby_search_shortens(client, world):
    start, _ = next_slot("charger", after=timedelta(hours=1))
    end = start + timedelta(hours=6)
    charger = world.resources["charger"]
    nearby = {s for r, s in _offered(client, start, end) if r == charger.id}
    page = {s for r, s in _offered_by_site(world.site.id)(client, start, end) if r == charger.id}
    assert len(nearby) == availability.SLOTS_PER_RESOURCE_NEARBY
    assert nearby < page  # neither answer's entry is served for the other
    assert page == {s for r, s in _offered_by_site(world.site.id)(client, start, end) if r == charger.id}


def test_searches_within_a_grid_step_share_their_entries(app, client, session, world):
    slot, _ = next_slot("charger", after=timedelta(hours=1))
    step = availability.rules.rule_for("charger").step
    # Two drivers asking 13 minutes apart, between the same two grid starts, for three hours.
    first, second = (slot - step + timedelta(minutes=m) for m in (7, 20))
    earlier = _offered(client, first, first + timedelta(hours=3))
    later = []
    assert _selects(app, lambda: later.append(_offered(client, second, second + timedelta(hours=3)))) == 0
    availability.touch(session, [resource.id for resource in world.resources.values()])
    afresh = _offered(client, second, second + timedelta(hours=3))
    assert later[0] == afresh == earlier  # as the database answers: both start at the same grid start
    assert all(second.isoformat() <= start for _, start in afresh)  # nothing before the asked start


def test_a_hold_that_lapses_frees_its_slot_in_the_next_search(client, session, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=1))
    booking = client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers=world.headers).json
    assert booking["status"] == "held"

    def offered(now):
        session.commit()  # a fresh snapshot: the booking was committed by the request
        found = availability.nearby_availability(
            session, lat=29.5576, lon=106.5772, radius_m=2000, site_kind=None,
            wanted=availability.ResourceFilter(resource_kind="charger"), start=start, end=end + timedelta(hours=2),
            now=now, limit=20, language="en")
        return {(r.resource.id, s.start) for site in found for r in site.resources for s in r.slots}
    lapses = datetime.fromisoformat(booking["hold_expires_at"])
    assert (charger.id, start) not in offered(utcnow())  # stored: nothing announces the hold's lapse
    assert (charger.id, start) not in offered(lapses - timedelta(seconds=1))
    assert (charger.id, start) in offered(lapses)


def test_a_search_reads_each_statement_on_its_own(app, client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    levels = []

    def note(conn, _cursor, _statement, _parameters, _context, _executemany):
        levels.append(conn.get_execution_options().get("isolation_level"))
    availability._candidates_cache.clear()  # a cold search: candidates and occupancy are read
    event.listen(app.extensions["db_engine"], "before_cursor_execute", note)
    try:
        assert _offered(client, start, end)
    finally:
        event.remove(app.extensions["db_engine"], "before_cursor_execute", note)
    assert levels and set(levels) == {"AUTOCOMMIT"}  # no BEGIN and no ROLLBACK around them


def test_booking_and_cancelling_show_in_the_next_search(offered, client, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=1))
    slot = (charger.id, start.isoformat())
    assert slot in offered(client, start, end)
    booking = client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers=world.headers).json
    assert slot not in offered(client, start, end)
    client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)
    assert slot in offered(client, start, end)


def test_an_outage_shows_in_the_next_search(offered, client, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=1))
    assert (charger.id, start.isoformat()) in offered(client, start, end)
    answer = client.post(f"/api/v1/manage/sites/{world.site.id}/resources/{charger.id}/outages",
                         json={"start": start.isoformat(), "end": end.isoformat(), "reason": "cable"},
                         headers=world.operator_headers)
    assert answer.status_code == 201, answer.json
    assert (charger.id, start.isoformat()) not in offered(client, start, end)


def test_opening_hours_edits_show_in_the_next_search(offered, client, world):
    start, end = next_slot("charger", after=timedelta(hours=1))
    assert offered(client, start, end)
    always = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    closed = {day: [] for day in always}
    for hours, open_now in ((closed, False), (always, True)):
        answer = client.patch(f"/api/v1/manage/sites/{world.site.id}", json={"opening_hours": hours},
                              headers=world.operator_headers)
        assert answer.status_code == 200, answer.json
        assert bool(offered(client, start, end)) is open_now


def test_touch_announces_a_change_made_outside_the_booking_models(offered, client, session, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=1))
    slot = (charger.id, start.isoformat())
    assert slot in offered(client, start, end)
    # A writer the booking models do not see: what a charger's live status does to a slot.
    session.execute(insert(Outage).values(resource_id=charger.id, start_at=start, end_at=end, reason="faulted"))
    availability.touch(session, [charger.id])
    assert slot in offered(client, start, end)  # not yet committed
    session.commit()
    assert slot not in offered(client, start, end)


def test_a_live_status_change_shows_in_the_next_search(offered, client, session, world):
    charger = world.resources["charger"]
    now = utcnow()
    point = ChargePoint(identity=f"CQ-CACHE-{charger.id}", site_id=world.site.id, password_hash="-",
                        booted_at=now, connected=True, last_seen_at=now)
    session.add(point)
    session.flush()
    session.add(Connector(charge_point_id=point.id, resource_id=charger.id, evse_id=1, connector_id=1))
    session.commit()
    start, end = next_slot("charger", after=timedelta(hours=1))
    slot = (charger.id, start.isoformat())
    assert slot in offered(client, start, end)
    for status, shown in ((LiveStatus.faulted, False), (LiveStatus.available, True)):
        # What the CSMS does on a StatusNotification, in its own transaction.
        connector_status(session, plug=Plug(point.identity, 1, 1), status=status, error=None, now=utcnow())
        session.commit()
        assert (slot in offered(client, start, end)) is shown


def test_no_search_offers_a_slot_booked_before_it_started(app, session, world, live_server):
    """Concurrent clients search and book; a slot booked before a search was sent is never in it."""
    charger = world.resources["charger"]
    start, _ = next_slot("charger", after=timedelta(hours=1))
    end = start + timedelta(hours=3)
    headers = [bearer(app, session, make_user(session)) for _ in range(CLIENTS)]
    booked, stale, lock = [], [], threading.Lock()

    def citizen(auth):
        with requests.Session() as http:
            for _ in range(SEARCHES):
                sent = time.monotonic()
                with lock:
                    taken = {slot for at, slot in booked if at < sent}
                items = http.get(f"{live_server}/api/v1/availability", params=_search(start, end),
                                 timeout=60).json()["items"]
                offers = [(r["resource"]["id"], s) for site in items for r in site["resources"]
                          if r["resource"]["id"] == charger.id for s in r["slots"]]
                stale.extend(s["start"] for _, s in offers if s["start"] in taken)
                if not offers:
                    continue
                _, slot = offers[0]
                answer = http.post(f"{live_server}/api/v1/bookings", headers=auth, timeout=60, json={
                    "resource_id": charger.id, "start": slot["start"], "end": slot["end"]})
                assert answer.status_code in (201, 409), answer.text
                if answer.status_code == 201:
                    with lock:
                        booked.append((time.monotonic(), slot["start"]))

    threads = [threading.Thread(target=citizen, args=(auth,)) for auth in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert booked
    assert stale == []


def test_searches_go_on_from_the_database_while_redis_is_down(app, client, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=1))
    engine = app.extensions["db_engine"]
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    slot_cache.register(engine, dead)
    try:
        assert (charger.id, start.isoformat()) in _offered(client, start, end)
        client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers=world.headers)
        assert (charger.id, start.isoformat()) not in _offered(client, start, end)
    finally:
        slot_cache.register(engine, app.extensions["redis"])
