"""Events and tickets over HTTP: organisers sell, citizens buy and pay, gates admit once."""
import threading
from collections import Counter
from datetime import timedelta

import requests

from backend.dbtypes import utcnow
from booking.events import orders
from tests.booking.conftest import order
from tests.factories import bearer, make_org, make_user

VISA = "4242424242424242"


def pay(client, placed, headers):
    return client.post(f"/api/v1/payments/{placed['payment']['id']}/sandbox/confirm",
                       json={"card_number": VISA}, headers=headers)


def remaining(client, show):
    return client.get(f"/api/v1/events/{show['event_id']}").json["tiers"][0]["remaining"]


def test_buy_pay_get_qr_tickets_and_enter_once(client, show):
    listed = client.get("/api/v1/events", query_string={"lat": 29.74, "lon": 106.80}).json["items"]
    assert [e["id"] for e in listed] == [show["event_id"]] and listed[0]["distance_m"] < 1000
    placed = order(client, show).json
    assert placed["status"] == "pending" and placed["expires_at"] and placed["total"]["amount"] == 56000
    assert remaining(client, show) == 48
    assert pay(client, placed, show["citizen"]).status_code == 200
    paid = client.get(f"/api/v1/orders/{placed['id']}", headers=show["citizen"]).json
    assert paid["status"] == "paid" and len(paid["tickets"]) == 2
    tickets = client.get("/api/v1/tickets", headers=show["citizen"]).json["items"]
    code = tickets[0]["code"]
    qr = client.get(f"/api/v1/tickets/{tickets[0]['id']}/qr.svg", headers=show["citizen"])
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and b"<svg" in qr.data
    gate = f"/api/v1/organiser/events/{show['event_id']}/check-ins"
    assert client.post(gate, json={"code": code}, headers=show["organiser"]).json["result"] == "admitted"
    assert client.post(gate, json={"code": code}, headers=show["organiser"]).json["result"] == "already_checked_in"
    for forged in (code[:-1] + ("A" if code[-1] != "A" else "B"), code[:-3], "1.abc", "garbage"):
        assert client.post(gate, json={"code": forged}, headers=show["organiser"]).json["result"] == "invalid"
    sales = client.get(f"/api/v1/organiser/events/{show['event_id']}/sales", headers=show["organiser"]).json
    assert sales["tiers"][0] | {} == {"tier_id": show["tier_id"], "tier": "Grandstand", "quota": 50,
                                      "sold": 2, "held": 0, "checked_in": 1, "revenue_fen": 56000}
    csv = client.get(f"/api/v1/organiser/events/{show['event_id']}/sales?format=csv", headers=show["organiser"])
    assert csv.mimetype == "text/csv" and "Grandstand,50,2,0,1,56000" in csv.get_data(as_text=True)
    timeline = client.get("/api/v1/me/timeline", headers=show["citizen"]).json["items"]
    assert [(i["type"], i["status"]) for i in timeline] == [("order", "paid")]


def test_bad_orders_are_refused(app, client, session, show):
    assert order(client, show, quantity=0).status_code == 422
    over = order(client, show, quantity=5)
    assert over.status_code == 422 and over.json["code"] == "limit_exceeded"
    other = client.post("/api/v1/organiser/events", headers=show["organiser"], json={
        "category": "culture", "title_zh": "车展", "title_en": "Draft show", "venue_site_id": show["venue"].id,
        "starts_at": (utcnow() + timedelta(days=3)).isoformat(),
        "ends_at": (utcnow() + timedelta(days=3, hours=2)).isoformat()}).json
    assert client.get(f"/api/v1/events/{other['id']}").status_code == 404  # a draft is not public
    assert client.post(f"/api/v1/events/{other['id']}/orders", headers=show["citizen"], json={
        "items": [{"tier_id": show["tier_id"], "quantity": 1}]}).status_code == 404
    stranger = bearer(app, session, make_user(session, roles=("organiser",), organisation=make_org(session)))
    assert client.post(f"/api/v1/organiser/events/{show['event_id']}/publish", headers=stranger).status_code == 403
    assert client.get(f"/api/v1/organiser/events/{show['event_id']}/sales", headers=show["citizen"]).status_code == 403
    closed = client.patch(f"/api/v1/organiser/events/{show['event_id']}/tiers/{show['tier_id']}",
                          headers=show["organiser"], json={"sales_end": (utcnow() - timedelta(minutes=1)).isoformat()})
    assert closed.status_code == 200
    late = order(client, show, quantity=1)
    assert late.status_code == 409 and late.json["code"] == "sales_closed"


def test_expired_orders_give_seats_back(client, session, show):
    order(client, show, quantity=4)
    assert remaining(client, show) == 46
    session.commit()
    orders.expire_orders(session, now=utcnow() + timedelta(minutes=16))
    session.commit()
    assert remaining(client, show) == 50


def test_cancel_paid_order_refunds_and_the_waitlist_gets_offers_in_order(app, client, session, show):
    client.patch(f"/api/v1/organiser/events/{show['event_id']}/tiers/{show['tier_id']}",
                 headers=show["organiser"], json={"quota": 2})
    placed = order(client, show, quantity=2).json
    pay(client, placed, show["citizen"])
    first, second = (bearer(app, session, make_user(session)) for _ in range(2))
    sold_out = order(client, show, quantity=1, headers=first)
    assert sold_out.status_code == 409 and sold_out.json["code"] == "sold_out"
    join = lambda who: client.post(f"/api/v1/events/{show['event_id']}/waitlist", headers=who,  # noqa: E731
                                   json={"tier_id": show["tier_id"], "quantity": 1})
    assert join(first).json["position"] == 1 and join(second).json["position"] == 2
    cancelled = client.post(f"/api/v1/orders/{placed['id']}/cancel", headers=show["citizen"]).json
    assert cancelled["status"] == "cancelled" and cancelled["refunded"]["amount"] == 56000
    assert cancelled["payment"]["status"] == "refunded"
    assert all(not t["valid"] for t in cancelled["tickets"])
    offers = [client.get("/api/v1/me/timeline", headers=who).json["items"] for who in (first, second)]
    assert [[i["status"] for i in items] for items in offers] == [["pending"], ["pending"]]
    assert remaining(client, show) == 0


def test_cancelling_the_event_refunds_everyone(client, show):
    placed = order(client, show, quantity=1).json
    pay(client, placed, show["citizen"])
    answer = client.post(f"/api/v1/organiser/events/{show['event_id']}/cancel", headers=show["organiser"]).json
    assert answer["orders_cancelled"] == 1 and answer["event"]["status"] == "cancelled"
    got = client.get(f"/api/v1/orders/{placed['id']}", headers=show["citizen"]).json
    assert got["status"] == "cancelled" and got["payment"]["status"] == "refunded"


def test_offline_batch_resolves_duplicates(client, show):
    placed = order(client, show, quantity=1).json
    pay(client, placed, show["citizen"])
    code = client.get("/api/v1/tickets", headers=show["citizen"]).json["items"][0]["code"]
    t0 = utcnow()
    scans = [{"code": code, "scanned_at": (t0 + timedelta(seconds=5)).isoformat()},
             {"code": code, "scanned_at": t0.isoformat()}, {"code": "9.bogus", "scanned_at": t0.isoformat()}]
    results = client.post(f"/api/v1/organiser/events/{show['event_id']}/check-ins/batch",
                          headers=show["organiser"], json={"scans": scans}).json["results"]
    assert [r["result"] for r in results] == ["already_checked_in", "admitted", "invalid"]


def _rush(url, calls):
    start = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def run(i):
        body, headers = calls[i]
        start.wait()
        answers[i] = requests.post(url, json=body, headers=headers, timeout=120)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_two_hundred_buyers_fifty_seats(app, session, show, live_server):
    buyers = [bearer(app, session, make_user(session)) for _ in range(200)]
    body = {"items": [{"tier_id": show["tier_id"], "quantity": 1}]}
    answers = _rush(f"{live_server}/api/v1/events/{show['event_id']}/orders", [(body, b) for b in buyers])
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 50, 409: 150}, codes
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"sold_out"}


def test_gates_scanning_one_code_at_once_admit_once(client, show, live_server):
    placed = order(client, show, quantity=1).json
    pay(client, placed, show["citizen"])
    code = client.get("/api/v1/tickets", headers=show["citizen"]).json["items"][0]["code"]
    answers = _rush(f"{live_server}/api/v1/organiser/events/{show['event_id']}/check-ins",
                    [({"code": code}, show["organiser"])] * 8)
    assert Counter(a.json()["result"] for a in answers) == {"admitted": 1, "already_checked_in": 7}
