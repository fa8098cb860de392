"""What the evening's event requests cost the database, and the answers the fewer queries still give."""
from datetime import timedelta

from sqlalchemy import update

from backend.dbtypes import utcnow
from booking.events.models import Order
from tests.booking.conftest import order
from tests.booking.test_events import pay
from tests.factories import bearer, make_event, make_org, make_site, make_user, statements_run

PAYMENTS = ("payments", "sandbox_intents")  # the payment a placed order starts is the payments' part


def _statements(app, call, *, leave_out=()) -> tuple[list[str], object]:
    """Return the statements a call runs (the transactions' BEGINs and anything naming `leave_out` aside)."""
    with statements_run(app) as seen:
        answer = call()
    return [s for s in seen if not s.lstrip().upper().startswith("BEGIN")
            and not any(table in s for table in leave_out)], answer


def _cheaper_tier(client, show) -> int:
    now = utcnow()
    tier = client.post(f"/api/v1/organiser/events/{show['event_id']}/tiers", headers=show["organiser"], json={
        "name_zh": "草地", "name_en": "Lawn", "price_fen": 9000, "quota": 20,
        "sales_start": (now - timedelta(hours=1)).isoformat(), "sales_end": (now + timedelta(days=9)).isoformat()})
    assert tier.status_code == 201, tier.json
    return tier.json["id"]


def test_an_event_is_one_query_and_a_page_of_events_two(app, client, show):
    lawn = _cheaper_tier(client, show)
    order(client, show, quantity=3)
    seen, event = _statements(app, lambda: client.get(f"/api/v1/events/{show['event_id']}"))
    assert len(seen) == 1 and event.status_code == 200
    assert [(t["id"], t["remaining"]) for t in event.json["tiers"]] == [(lawn, 20), (show["tier_id"], 47)]
    near = {"lat": 29.744, "lon": 106.805, "radius_m": 50000}
    seen, page = _statements(app, lambda: client.get("/api/v1/events", query_string=near))
    assert len(seen) == 2 and page.json["items"] == [event.json | {"distance_m": 0.0}]


def test_a_page_of_events_keeps_each_events_tiers_and_the_cursor(app, client, session, show):
    org = make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue", lat=29.75, lon=106.81)
    later = [make_event(session, organisation=org, venue=venue, days_ahead=20 + i) for i in range(3)]
    _cheaper_tier(client, show)
    first = client.get("/api/v1/events", query_string={"limit": 2}).json
    assert [(e["id"], len(e["tiers"])) for e in first["items"]] == [(show["event_id"], 2), (later[0].id, 1)]
    seen, rest = _statements(app, lambda: client.get("/api/v1/events", query_string={
        "limit": 2, "cursor": first["next_cursor"]}))
    assert len(seen) == 2 and [e["id"] for e in rest.json["items"]] == [later[1].id, later[2].id]
    assert rest.json["next_cursor"] is None


def test_placing_an_order_costs_five_statements_besides_its_payment(app, client, show):
    seen, placed = _statements(app, lambda: order(client, show, quantity=2), leave_out=PAYMENTS)
    assert placed.status_code == 201 and placed.json["tickets"] == [] and placed.json["items"] == [
        {"tier_id": show["tier_id"], "quantity": 2}]
    # the event with the tiers asked for, the seats taken, the order, its line, the order as answered
    assert len(seen) == 5, seen


def test_a_lapsed_order_gives_its_seats_back_to_the_next_order(app, client, session, show):
    client.patch(f"/api/v1/organiser/events/{show['event_id']}/tiers/{show['tier_id']}",
                 headers=show["organiser"], json={"quota": 4})
    lapsing = order(client, show, quantity=4).json
    session.exec(update(Order).where(Order.id == lapsing["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    other = bearer(app, session, make_user(session))
    assert order(client, show, quantity=4, headers=other).status_code == 201
    assert client.get(f"/api/v1/orders/{lapsing['id']}", headers=show["citizen"]).json["status"] == "expired"


def test_orders_for_no_event_a_cancelled_one_or_another_events_tier_are_refused(app, client, session, show):
    org = make_org(session, kind="organiser")
    other = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    foreign_tier = client.get(f"/api/v1/events/{other.id}").json["tiers"][0]["id"]
    wrong = order(client, show, quantity=1, tier_id=foreign_tier)
    assert wrong.status_code == 422 and wrong.json["code"] == "tier_not_in_event"
    missing = client.post("/api/v1/events/999999/orders", headers=show["citizen"],
                          json={"items": [{"tier_id": show["tier_id"], "quantity": 1}]})
    assert missing.status_code == 404 and missing.json["code"] == "event_not_found"
    assert client.get("/api/v1/events/999999").status_code == 404
    client.post(f"/api/v1/organiser/events/{show['event_id']}/cancel", headers=show["organiser"])
    cancelled = order(client, show, quantity=1)
    assert cancelled.status_code == 409 and cancelled.json["code"] == "event_cancelled"
    assert client.get(f"/api/v1/events/{show['event_id']}").json["status"] == "cancelled"


def test_a_gate_scan_costs_two_statements(app, client, show):
    placed = order(client, show, quantity=1).json
    pay(client, placed, show["citizen"])
    code = client.get("/api/v1/tickets", headers=show["citizen"]).json["items"][0]["code"]
    gate = f"/api/v1/organiser/events/{show['event_id']}/check-ins"
    scan = lambda: client.post(gate, json={"code": code}, headers=show["organiser"])  # noqa: E731
    # whose the event is with the ticket, then the conditional update that admits it once
    for result in ("admitted", "already_checked_in"):
        seen, answer = _statements(app, scan)
        assert answer.json["result"] == result and len(seen) == 2, seen


def test_a_scan_is_refused_for_no_event_or_anothers_and_tells_a_ticket_of_another_event(app, client, session, show):
    placed = order(client, show, quantity=1).json
    pay(client, placed, show["citizen"])
    code = client.get("/api/v1/tickets", headers=show["citizen"]).json["items"][0]["code"]
    org = make_org(session, kind="organiser")
    stranger = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    other = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    scan = lambda event_id, who, scanned=code: client.post(  # noqa: E731
        f"/api/v1/organiser/events/{event_id}/check-ins", json={"code": scanned}, headers=who)
    assert scan(999999, show["organiser"]).status_code == 404
    for scanned in (code, "garbage"):
        assert scan(show["event_id"], stranger, scanned).status_code == 403
    assert scan(other.id, stranger).json["result"] == "wrong_event"
    assert scan(show["event_id"], show["organiser"], "garbage").json["result"] == "invalid"
    assert scan(show["event_id"], show["organiser"]).json["result"] == "admitted"
