"""Notifications: recorded with the change that causes them, sent after commit, live on Redis and pushed."""
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlmodel import Session, select

from backend import realtime
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.notifications import services
from backend.notifications.cli import run_once
from backend.notifications.models import DeliveryStatus, Notification, NotificationKind, PushDelivery
from backend.notifications.outbox import MAX_ATTEMPTS, channel
from booking.events.models import TicketTier
from robotaxi_dispatch.rides.models import Ride, Vehicle
from tests.booking.conftest import (
    booking_body,
    next_slot,
    pay,
    world,  # noqa: F401 (a fixture)
)
from tests.factories import bearer, make_event, make_org, make_site, make_user


class Receiver:
    """A device's webhook: records each push with its signature, or answers 500 while `failing`."""

    def __init__(self):
        self.pushes, self.failing = [], False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failing:
                    self.send_response(500)
                else:
                    receiver.pushes.append((self.headers["X-Push-Signature"], body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(app):
    webhook = app.extensions["push_providers"]["webhook"]
    allowed, webhook.allow_private = webhook.allow_private, True  # the receiver is on loopback
    found = Receiver()
    yield found
    found.server.shutdown()
    webhook.allow_private = allowed


@pytest.fixture
def sold_out(app, client, session):
    """An event whose one 2-seat tier a first citizen holds, and a second citizen queueing for it."""
    org = make_org(session, kind="organiser")
    event = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    tier = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)).first()
    tier.quota = 2
    session.add(tier)
    session.commit()
    first, second = make_user(session), make_user(session)
    heads = {"first": bearer(app, session, first), "second": bearer(app, session, second),
             "organiser": bearer(app, session, make_user(session, roles=("organiser",), organisation=org))}
    held = client.post(f"/api/v1/events/{event.id}/orders", headers=heads["first"],
                       json={"items": [{"tier_id": tier.id, "quantity": 2}]}).json
    assert client.post(f"/api/v1/events/{event.id}/waitlist", headers=heads["second"],
                       json={"tier_id": tier.id, "quantity": 2}).status_code == 201
    return {"event": event, "tier": tier, "held": held, "second_user": second, **heads}


def delivery_now(app) -> PushDelivery:
    """Read the one push delivery afresh (the test's own session may hold an older snapshot)."""
    with Session(app.extensions["db_engine"]) as fresh:
        return fresh.exec(select(PushDelivery)).one()


def inbox(client, headers, **query):
    answer = client.get("/api/v1/me/notifications", headers=headers, query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_a_waiting_list_offer_reaches_the_inbox_the_live_channel_and_the_device(app, client, sold_out, receiver):
    device = client.post("/api/v1/me/devices", headers=sold_out["second"],
                         json={"provider": "webhook", "address": receiver.url})
    assert device.status_code == 201 and device.json["secret"]
    live = app.extensions["redis"].pubsub()
    live.subscribe(realtime.channel_prefix(app.extensions["redis"]) + channel(sold_out["second_user"].id))
    live.get_message(timeout=1)  # the subscription's confirmation
    cancelled = client.post(f"/api/v1/orders/{sold_out['held']['id']}/cancel", headers=sold_out["first"])
    assert cancelled.status_code == 200
    offer = inbox(client, {**sold_out["second"], "Accept-Language": "en"})
    assert offer["unread_count"] == 1 and offer["items"][0]["kind"] == "waitlist_offer"
    assert offer["items"][0]["title"] == "Seats are held for you" and offer["items"][0]["data"]["order_id"]
    assert offer["items"][0]["created_at"].endswith("+08:00") and device.json["created_at"].endswith("+08:00")
    published = live.get_message(timeout=2)
    assert json.loads(published["data"])["id"] == offer["items"][0]["id"]
    assert live.get_message(timeout=0.5) is None, "published once"
    app.extensions["notifications"].drain()
    (header, body), = receiver.pushes
    stamp, mac = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(device.json["secret"].encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected) and json.loads(body)["kind"] == "waitlist_offer"
    assert inbox(client, sold_out["first"])["items"] == []  # the canceller hears nothing


def test_offers_about_to_lapse_and_lapsed_are_told_once(app, client, session, sold_out):
    from booking.events import orders

    client.post(f"/api/v1/orders/{sold_out['held']['id']}/cancel", headers=sold_out["first"])
    offer_id = inbox(client, sold_out["second"])["items"][0]["data"]["order_id"]
    soon = utcnow() + orders.OFFER_TTL - timedelta(minutes=5)
    assert run_once(app, now=soon)["reminders"] == 1
    assert run_once(app, now=soon + timedelta(minutes=1))["reminders"] == 0
    with write_transaction(session):  # as the order desk runs it: a fresh snapshot, one writer
        orders.expire_orders(session, now=soon + timedelta(minutes=10), event_id=sold_out["event"].id)
    kinds = [n["kind"] for n in inbox(client, sold_out["second"])["items"]]
    assert kinds == ["waitlist_offer_expired", "waitlist_offer_expiring", "waitlist_offer"]
    assert inbox(client, sold_out["second"])["items"][0]["data"]["order_id"] == offer_id


def test_event_moved_and_cancelled_reach_every_holder(client, sold_out):
    url = f"/api/v1/organiser/events/{sold_out['event'].id}"
    later = sold_out["event"].starts_at + timedelta(days=1)
    client.patch(url, headers=sold_out["organiser"], json={"title_en": "Renamed"})
    assert inbox(client, sold_out["first"])["items"] == []  # a new title is not a new time
    client.patch(url, headers=sold_out["organiser"], json={
        "starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=6)).isoformat()})
    moved = inbox(client, {**sold_out["first"], "Accept-Language": "en"})["items"]
    assert [n["kind"] for n in moved] == ["event_changed"] and "now starts at" in moved[0]["body"]
    assert client.post(url + "/cancel", headers=sold_out["organiser"]).status_code == 200
    assert [n["kind"] for n in inbox(client, sold_out["first"])["items"]] == ["event_cancelled", "event_changed"]
    assert inbox(client, sold_out["second"])["items"] == []  # only waiting, no order


def test_outage_hitting_a_booking_and_a_booking_starting_soon(app, client, session, world):  # noqa: F811
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(minutes=20))
    booked = client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers=world.headers).json
    pay(client, booked, world.headers)
    assert run_once(app)["reminders"] == 1 and run_once(app)["reminders"] == 0
    client.post(f"/api/v1/manage/sites/{world.site.id}/resources/{charger.id}/outages", headers=world.operator_headers,
                json={"start": start.isoformat(), "end": end.isoformat(), "reason": "cooling fault"})
    kinds = [n["kind"] for n in inbox(client, world.headers)["items"]]
    assert kinds == ["booking_disrupted", "booking_starting_soon"]
    assert inbox(client, world.other_headers)["items"] == []


def test_the_rider_hears_the_car_arrive(app, client, session):
    org = make_org(session, kind="operator")
    rider = make_user(session)
    ride = Ride(user_id=rider.id, status="assigned", region="liangjiang", pickup_lat=29.66, pickup_lon=106.545,
                dropoff_lat=29.69, dropoff_lon=106.58, passengers=1, distance_m=4000, trip_s=600,
                quoted_fare_fen=2000, authorised_fen=3000)
    session.add(ride)
    session.flush()
    vehicle = Vehicle(organisation_id=org.id, plate="渝A·L0042", model="apollo-rt6", seats=4, region="liangjiang",
                      status="dispatched", ride_id=ride.id, lat=29.66, lon=106.545, position_at=utcnow())
    session.add(vehicle)
    session.flush()
    ride.vehicle_id = vehicle.id
    session.commit()
    operator = bearer(app, session, make_user(session, roles=("operator",), organisation=org))
    assert client.post(f"/api/v1/fleet/vehicles/{vehicle.id}/events", headers=operator,
                       json={"event": "arrived_pickup"}).status_code == 200
    (arrived,) = inbox(client, bearer(app, session, rider))["items"]
    assert arrived["kind"] == "ride_arriving" and arrived["data"] == {
        "ride_id": ride.id, "vehicle_id": vehicle.id, "plate": "渝A·L0042"}


def test_read_marks_preferences_and_pages(app, client, session):
    user, other = make_user(session), make_user(session)
    for n in range(5):
        services.notify(session, user_id=user.id, kind=NotificationKind.event_changed, title=("改", "Moved"),
                        body=(f"{n}", f"{n}"), data={"n": n})
    session.commit()
    headers = bearer(app, session, user)
    walked, cursor, added = [], None, 0
    while True:
        page = inbox(client, headers, limit=2, **({"cursor": cursor} if cursor else {}))
        walked += [n["data"]["n"] for n in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
        added += 1
        services.notify(session, user_id=user.id, kind=NotificationKind.event_changed, title=("改", "Moved"),
                        body=("new", "new"), data={"n": "new"})
        session.commit()
    assert walked == [4, 3, 2, 1, 0]
    first = inbox(client, headers)["items"][0]["id"]
    stranger = bearer(app, session, other)
    assert client.post(f"/api/v1/me/notifications/{first}/read", headers=stranger).status_code == 404
    read = client.post(f"/api/v1/me/notifications/{first}/read", headers=headers).json
    assert read["read_at"] is not None
    assert client.get("/api/v1/me/notifications/unread-count", headers=headers).json["unread_count"] == 5 + added - 1
    assert client.post("/api/v1/me/notifications/read-all", headers=headers).json["marked"] == 5 + added - 1
    assert inbox(client, headers, unread="true")["items"] == []
    prefs = client.put("/api/v1/me/notification-preferences", headers=headers,
                       json={"kinds": {"event_changed": {"inbox": False, "push": False}}}).json["kinds"]
    assert prefs["event_changed"] == {"inbox": False, "push": False} and prefs["ride_arriving"]["push"] is True
    with write_transaction(session):  # as features record them: in a fresh write transaction
        services.notify(session, user_id=user.id, kind=NotificationKind.event_changed, title=("改", "Moved"),
                        body=("x", "x"), data={})
    assert inbox(client, headers)["unread_count"] == 0


def test_nothing_is_sent_for_a_change_that_rolls_back(app, session):
    user = make_user(session)
    live = app.extensions["redis"].pubsub()
    live.subscribe(realtime.channel_prefix(app.extensions["redis"]) + channel(user.id))
    live.get_message(timeout=1)
    services.notify(session, user_id=user.id, kind=NotificationKind.event_cancelled, title=("x", "x"),
                    body=("x", "x"), data={})
    session.rollback()
    assert live.get_message(timeout=0.5) is None
    assert session.exec(select(Notification)).all() == []


def test_a_failing_device_is_retried_with_backoff_then_given_up(app, client, session, receiver):
    user = make_user(session)
    headers = bearer(app, session, user)
    client.post("/api/v1/me/devices", headers=headers, json={"address": receiver.url})
    receiver.failing = True
    services.notify(session, user_id=user.id, kind=NotificationKind.booking_starting_soon, title=("x", "x"),
                    body=("x", "x"), data={})
    session.commit()
    outbox = app.extensions["notifications"]
    outbox.drain()
    delivery = delivery_now(app)
    assert delivery.attempts == 1 and delivery.status == DeliveryStatus.pending and "500" in delivery.last_error
    assert outbox.retry_due() == {"delivered": 0, "pending": 0, "failed": 0}  # not due yet
    moment = utcnow()
    for attempt in range(2, MAX_ATTEMPTS + 1):
        moment += timedelta(hours=1)
        outbox.retry_due(moment)
        delivery = delivery_now(app)
        assert delivery.attempts == attempt
    assert delivery.status == DeliveryStatus.failed and receiver.pushes == []


def test_a_device_that_recovers_gets_its_push_once(app, client, session, receiver):
    user = make_user(session)
    client.post("/api/v1/me/devices", headers=bearer(app, session, user), json={"address": receiver.url})
    receiver.failing = True
    services.notify(session, user_id=user.id, kind=NotificationKind.booking_starting_soon, title=("x", "x"),
                    body=("x", "x"), data={})
    session.commit()
    app.extensions["notifications"].drain()
    receiver.failing = False
    later = utcnow() + timedelta(minutes=5)
    # Two runners at once (two server processes): the claim lets only one of them send it.
    runners = [threading.Thread(target=app.extensions["notifications"].retry_due, args=(later,)) for _ in range(4)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    assert len(receiver.pushes) == 1
    assert delivery_now(app).status == DeliveryStatus.delivered


def test_devices_are_checked_and_owned(app, client, session):
    headers = bearer(app, session, make_user(session))
    webhook = app.extensions["push_providers"]["webhook"]
    allowed, webhook.allow_private = webhook.allow_private, False
    try:
        for address in ("http://127.0.0.1:6379/", "http://10.0.0.8/hook", "ftp://example.com/x", "not a url"):
            answer = client.post("/api/v1/me/devices", headers=headers, json={"address": address})
            assert answer.status_code == 422 and answer.json["code"] == "invalid_device_address", address
    finally:
        webhook.allow_private = allowed
    assert client.post("/api/v1/me/devices", headers=headers,
                       json={"provider": "carrier-pigeon", "address": "x"}).json["code"] == "unknown_push_provider"
    webhook.allow_private = True
    try:
        device = client.post("/api/v1/me/devices", headers=headers, json={"address": "http://127.0.0.1:9/x"}).json
    finally:
        webhook.allow_private = allowed
    assert [d["id"] for d in client.get("/api/v1/me/devices", headers=headers).json["items"]] == [device["id"]]
    other = bearer(app, session, make_user(session))
    assert client.delete(f"/api/v1/me/devices/{device['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/me/devices/{device['id']}", headers=headers).status_code == 204
