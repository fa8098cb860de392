"""Organisers and site operators list their own events, check-ins, sites, resources, outages and bookings."""
from datetime import timedelta

from backend.dbtypes import utcnow
from booking.bookings.manage import first_name
from booking.bookings.models import Booking
from tests.booking.conftest import next_slot
from tests.factories import bearer, make_event, make_org, make_site, make_user, walk_pages


def test_organiser_lists_own_events_with_filters(app, client, session):
    org, other = make_org(session, kind="organiser"), make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue")
    soon = make_event(session, organisation=org, venue=venue, days_ahead=3)
    draft = make_event(session, organisation=org, venue=venue, days_ahead=20, published=False)
    make_event(session, organisation=other, venue=venue, days_ahead=5)
    headers = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    mine = walk_pages(client, "/api/v1/organiser/events", {"limit": 1}, headers=headers)
    assert [e["id"] for e in mine] == [soon.id, draft.id] and mine[0]["tiers"][0]["id"]
    drafts = client.get("/api/v1/organiser/events?status=draft", headers=headers).json["items"]
    assert [e["id"] for e in drafts] == [draft.id]
    later = client.get("/api/v1/organiser/events", headers=headers,
                       query_string={"from": (utcnow() + timedelta(days=10)).isoformat()}).json["items"]
    assert [e["id"] for e in later] == [draft.id]
    earlier = client.get("/api/v1/organiser/events", headers=headers,
                         query_string={"to": (utcnow() + timedelta(days=10)).isoformat()}).json["items"]
    assert [e["id"] for e in earlier] == [soon.id]
    citizen = bearer(app, session, make_user(session))
    assert client.get("/api/v1/organiser/events", headers=citizen).status_code == 403


def test_adding_a_tier_answers_the_tier(app, client, session):
    org = make_org(session, kind="organiser")
    event = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    headers = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    now = utcnow()
    tier = client.post(f"/api/v1/organiser/events/{event.id}/tiers", headers=headers, json={
        "name_zh": "贵宾", "name_en": "VIP", "price_fen": 50000, "quota": 20,
        "sales_start": now.isoformat(), "sales_end": (now + timedelta(days=5)).isoformat()})
    assert tier.status_code == 201 and tier.json["id"] and tier.json["quota"] == 20
    assert tier.json["remaining"] == 20 and tier.json["price"] == {"amount": 50000, "currency": "CNY"}


def test_check_ins_are_counted_per_gate_and_minute(app, client, session):
    org = make_org(session, kind="organiser")
    event = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    headers = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    citizen = bearer(app, session, make_user(session))
    tier_id = client.get(f"/api/v1/events/{event.id}").json["tiers"][0]["id"]
    placed = client.post(f"/api/v1/events/{event.id}/orders", headers=citizen,
                         json={"items": [{"tier_id": tier_id, "quantity": 4}]}).json
    client.post(f"/api/v1/payments/{placed['payment']['id']}/sandbox/confirm", headers=citizen,
                json={"card_number": "4242424242424242"})
    codes = [t["code"] for t in client.get("/api/v1/tickets", headers=citizen).json["items"]]
    gate = f"/api/v1/organiser/events/{event.id}/check-ins"
    assert client.post(gate, headers=headers, json={"code": codes[0], "gate": "North"}).json["result"] == "admitted"
    assert client.post(gate, headers=headers, json={"code": codes[1], "gate": "North"}).json["result"] == "admitted"
    assert client.post(gate, headers=headers, json={"code": codes[0], "gate": "South"}).json["result"] == \
        "already_checked_in"
    start = utcnow() - timedelta(minutes=10)
    batch = client.post(gate + "/batch", headers=headers, json={"scans": [
        {"code": codes[2], "scanned_at": start.isoformat(), "gate": "South"},
        {"code": codes[3], "scanned_at": (start + timedelta(minutes=2)).isoformat(), "gate": "South"}]})
    assert [r["result"] for r in batch.json["results"]] == ["admitted", "admitted"]
    counts = client.get(gate, headers=headers).json
    assert counts["total"] == 4 and counts["per_gate"] == {"North": 2, "South": 2}
    south = [row for row in counts["per_minute"] if row["gate"] == "South"]
    assert [row["admitted"] for row in south] == [1, 1] and south[0]["minute"] < south[1]["minute"]
    assert sum(row["admitted"] for row in counts["per_minute"]) == 4
    other = bearer(app, session, make_user(session, roles=("organiser",),
                                           organisation=make_org(session, kind="organiser")))
    assert client.get(gate, headers=other).status_code == 403


def test_site_operator_lists_sites_resources_and_outages_and_ends_them(app, client, session, world):
    other_site = make_site(session, organisation=make_org(session))
    sites = walk_pages(client, "/api/v1/manage/sites", {"limit": 1}, headers=world.operator_headers)
    assert [s["id"] for s in sites] == [world.site.id] and other_site.id not in {s["id"] for s in sites}
    resources = client.get(f"/api/v1/manage/sites/{world.site.id}/resources", headers=world.operator_headers)
    assert len(resources.json["items"]) == 7
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=2))
    booked = client.post("/api/v1/bookings", headers=world.headers, json={
        "resource_id": charger.id, "start": start.isoformat(), "end": end.isoformat()}).json
    outages = f"/api/v1/manage/sites/{world.site.id}/resources/{charger.id}/outages"
    made = client.post(outages, headers=world.operator_headers, json={
        "start": (start - timedelta(hours=3)).isoformat(), "end": (start - timedelta(hours=1)).isoformat(),
        "reason": "cable swap"}).json
    assert made["disrupted_bookings"] == []
    listed = client.get(outages, headers=world.operator_headers).json["items"]
    assert [o["id"] for o in listed] == [made["id"]] and listed[0]["reason"] == "cable swap"
    longer = client.patch(f"{outages}/{made['id']}", headers=world.operator_headers,
                          json={"end": (start + timedelta(minutes=10)).isoformat()})
    assert longer.status_code == 200 and longer.json["disrupted_bookings"] == [booked["id"]]
    assert client.get(f"/api/v1/bookings/{booked['id']}", headers=world.headers).json["disrupted"] is True
    before_start = client.patch(f"{outages}/{made['id']}", headers=world.operator_headers,
                                json={"end": (start - timedelta(hours=4)).isoformat()})
    assert before_start.status_code == 422 and before_start.json["code"] == "end_before_start"
    assert client.delete(f"{outages}/{made['id']}", headers=world.operator_headers).status_code == 204
    assert client.get(outages, headers=world.operator_headers).json["items"] == []
    assert client.delete(f"{outages}/{made['id']}", headers=world.operator_headers).status_code == 404
    assert client.get(outages, headers=world.headers).status_code == 403


def test_site_operator_sees_bookings_by_first_name_and_utilisation(app, client, session, world):
    bay = world.resources["parking_bay"]  # capacity 2
    start, _ = next_slot("parking_bay", after=timedelta(days=1))
    start = start.replace(hour=10, minute=0)
    end = start + timedelta(hours=3)
    world.citizen.name = "王小渝"
    session.add(world.citizen)
    session.add(Booking(user_id=world.citizen.id, resource_id=bay.id, site_id=world.site.id, kind=bay.kind,
                        status="confirmed", start_at=start, end_at=end, blocked_until=end, quantity=2,
                        exclusive=False))
    session.add(Booking(user_id=world.citizen.id, resource_id=bay.id, site_id=world.site.id, kind=bay.kind,
                        status="cancelled", active=False, start_at=end, end_at=end + timedelta(hours=1),
                        blocked_until=end + timedelta(hours=1), exclusive=False))
    session.commit()
    window = {"from": start.replace(hour=0).isoformat(), "to": (start.replace(hour=0) + timedelta(days=1)).isoformat()}
    url = f"/api/v1/manage/sites/{world.site.id}"
    listed = client.get(url + "/bookings", headers=world.operator_headers, query_string=window).json["items"]
    assert [b["first_name"] for b in listed] == ["小渝", "小渝"]
    assert not {"user_id", "email", "phone", "name"} & set(listed[0])
    used = client.get(url + "/utilisation", headers=world.operator_headers, query_string=window).json["items"]
    bay_day = next(row for row in used if row["resource_id"] == bay.id)
    assert bay_day["open_minutes"] == 2 * 24 * 60 and bay_day["booked_minutes"] == 2 * 180
    assert bay_day["utilisation"] == round(360 / 2880, 4)
    assert len(used) == 7  # one row per resource for the one day
    too_long = {"from": window["from"], "to": (start + timedelta(days=40)).isoformat()}
    assert client.get(url + "/utilisation", headers=world.operator_headers,
                      query_string=too_long).json["code"] == "window_too_long"
    assert client.get(url + "/bookings", headers=world.headers, query_string=window).status_code == 403


def test_first_names():
    assert first_name("王小渝") == "小渝"
    assert first_name("Lin Wei") == "Lin"
    assert first_name("Ada") == "Ada"
