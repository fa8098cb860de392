"""Rides booked ahead on both backends: rules, capacity, authorisation, release and dispatch in time,
cancellation terms, the ride home from an event, the timeline and pre-positioning."""
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlmodel import Session, select

from backend.dbtypes import utcnow
from booking.events.models import Order, Ticket, TicketTier
from robotaxi_dispatch.engine.booked import EARLY_S, ON_TIME_S
from robotaxi_dispatch.engine.simulation import Scenario, Simulation
from robotaxi_dispatch.rides import fares, scheduled
from robotaxi_dispatch.rides.models import Ride, RideStatus
from tests.factories import bearer, make_event, make_org, make_site, make_user, save_card
from tests.robotaxi_dispatch import test_rides
from tests.robotaxi_dispatch.test_rides import LIJIA, SAVES_THEN_DECLINES, YUFU, dispatcher
from tests.security.test_unique_races import race

city = test_rides.city  # the same service area, two cars near Lijia and a rider with a card

YUELAI_EXPO = {"lat": 29.7195, "lon": 106.5665}


@pytest.fixture
def any_hour(monkeypatch):
    """Book at any hour: these tests book for the next hour, whenever they run."""
    monkeypatch.setattr(scheduled, "SERVICE_HOURS", (0, 24))


def book(client, headers, pickup_at: datetime, *, expect=201, **extra):
    answer = client.post("/api/v1/rides", headers=headers, json={
        "pickup": LIJIA, "dropoff": YUFU, "passengers": 1, "pickup_at": pickup_at.isoformat()} | extra)
    assert answer.status_code == expect, answer.json
    return answer.json


def services_of(app):
    return app.extensions["payment_gateway"], app.extensions["redis"]


def _session(app) -> Session:
    return Session(app.extensions["db_engine"])


def move_pickup(app, ride_id: int, pickup_at: datetime) -> None:
    """Let time pass: the ride's pickup is now this close."""
    with _session(app) as s:
        s.get(Ride, ride_id).pickup_at = pickup_at
        s.commit()


def local_time(days: int, hour: int) -> datetime:
    """Return a moment `days` from today at a local hour in Chongqing."""
    today = utcnow().astimezone(fares.SHANGHAI).replace(hour=hour, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days)


def test_pickup_time_rules(client, city):
    now = utcnow()
    too_soon = book(client, city["rider"], now + timedelta(minutes=10), expect=422)
    assert too_soon["code"] == "too_short_notice"
    too_far = book(client, city["rider"], now + timedelta(days=7, hours=1), expect=422)
    assert too_far["code"] == "beyond_booking_window"
    night = book(client, city["rider"], local_time(2, 3), expect=422)
    assert night["code"] == "outside_service_hours"
    outside = client.post("/api/v1/rides", headers=city["rider"], json={
        "pickup": {"lat": 29.5578, "lon": 106.5772}, "dropoff": YUFU, "pickup_at": local_time(2, 10).isoformat()})
    assert outside.status_code == 422 and outside.json["code"] == "outside_service_area"


def test_a_booked_ride_is_scheduled_with_its_terms_and_not_dispatched_early(app, client, city):
    pickup_at = local_time(2, 10)
    ride = book(client, city["rider"], pickup_at)
    assert ride["status"] == "scheduled" and ride["payment"] is None  # authorised two hours before pickup
    assert datetime.fromisoformat(ride["pickup_at"]) == pickup_at and ride["pickup_at"].endswith("+08:00")
    terms = ride["cancellation"]
    assert datetime.fromisoformat(terms["free_until"]) == pickup_at - fares.FREE_CANCEL_BEFORE
    assert terms["fee"]["amount"] == fares.CANCELLATION_FEE_FEN and "09:30" in terms["summary"]
    assert dispatcher(app).step()["assigned"] == 0
    gateway, redis = services_of(app)
    with _session(app) as s:
        assert scheduled.release_due(s, gateway, redis, now=utcnow()) == []
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["status"] == "scheduled"


def test_booked_rides_are_held_to_a_share_of_the_fleet(client, city, app, session):
    pickup_at = local_time(3, 10)
    first = book(client, city["rider"], pickup_at)  # two vehicles: one booked pickup per half hour
    other = bearer(app, session, make_user(session))
    save_card(client, other)
    full = book(client, other, pickup_at + timedelta(minutes=10), expect=409)
    assert full["code"] == "booked_rides_full"
    book(client, other, pickup_at + timedelta(minutes=40))  # the next window has room
    assert client.post(f"/api/v1/rides/{first['id']}/cancel", headers=city["rider"]).status_code == 200
    book(client, other, pickup_at + timedelta(minutes=10))  # a cancelled booking frees its place


def test_a_booked_ride_is_dispatched_in_time(app, client, city, any_hour):
    now = utcnow()
    ride = book(client, city["rider"], now + timedelta(minutes=40))
    assert ride["payment"]["status"] == "authorised"  # within two hours: authorised at once
    gateway, redis = services_of(app)
    move_pickup(app, ride["id"], now + timedelta(minutes=15))
    with _session(app) as s:  # the nearest car is about a minute away: too early to release
        assert scheduled.release_due(s, gateway, redis, now=utcnow()) == []
    move_pickup(app, ride["id"], utcnow() + timedelta(seconds=EARLY_S))  # its car plus the margin: now
    with _session(app) as s:
        assert scheduled.release_due(s, gateway, redis, now=utcnow()) == [ride["id"]]
    assert client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json["status"] == "requested"
    move_pickup(app, ride["id"], utcnow() + timedelta(minutes=10))
    assert dispatcher(app).step()["assigned"] == 0  # released early: a car sent now would wait at the kerb
    pickup_at = utcnow() + timedelta(seconds=EARLY_S - 30)
    move_pickup(app, ride["id"], pickup_at)
    assert dispatcher(app).step() == {"assigned": 1, "no_vehicle": 0}
    got = client.get(f"/api/v1/rides/{ride['id']}", headers=city["rider"]).json
    assert got["status"] == "assigned"
    with _session(app) as s:
        row = s.get(Ride, ride["id"])
        assert row.assigned_at + timedelta(seconds=row.pickup_eta_s) <= pickup_at + timedelta(seconds=ON_TIME_S)
    notes = client.get("/api/v1/me/notifications", headers=city["rider"]).json["items"]
    assert [n["kind"] for n in notes] == ["ride_on_its_way"] and notes[0]["data"]["ride_id"] == ride["id"]
    assert client.get("/api/v1/ops/metrics", headers=city["operator"]).json["booked_on_time_share"] is None  # not due
    assert test_rides.event(client, city, got["vehicle"]["id"], "arrived_pickup").status_code == 200
    move_pickup(app, ride["id"], utcnow() - timedelta(seconds=10))  # its time came: the car was there
    assert client.get("/api/v1/ops/metrics", headers=city["operator"]).json["booked_on_time_share"] == 1.0


def test_a_booked_ride_waits_for_its_pickup_time_before_giving_up(app, client, city, any_hour):
    ride = book(client, city["rider"], utcnow() + timedelta(minutes=40))
    with _session(app) as s:  # released long ago for a pickup still ahead: no car within reach yet
        row = s.get(Ride, ride["id"])
        row.status, row.released_at = RideStatus.requested, utcnow() - timedelta(minutes=30)
        s.commit()
    assert dispatcher(app).step() == {"assigned": 0, "no_vehicle": 0}


def test_authorised_two_hours_ahead_and_a_declined_card_cancels_and_tells_the_rider(app, client, city, session):
    declined = bearer(app, session, make_user(session))
    save_card(client, declined, SAVES_THEN_DECLINES)
    pickup_at = local_time(2, 10)
    good = book(client, city["rider"], pickup_at)
    bad = book(client, declined, pickup_at + timedelta(hours=1))
    gateway, redis = services_of(app)
    with _session(app) as s:
        assert scheduled.authorise_due(s, gateway, redis, now=pickup_at - timedelta(hours=3)) == 0
        assert scheduled.authorise_due(s, gateway, redis, now=pickup_at) == 1
    assert client.get(f"/api/v1/rides/{good['id']}", headers=city["rider"]).json["payment"]["status"] == "authorised"
    after = client.get(f"/api/v1/rides/{bad['id']}", headers=declined).json
    assert after["status"] == "cancelled" and after["cancellation"] is None
    notes = client.get("/api/v1/me/notifications", headers=declined).json["items"]
    assert [n["kind"] for n in notes] == ["ride_cancelled"] and notes[0]["data"] == {"ride_id": bad["id"]}


def test_cancelling_is_free_until_half_an_hour_before_pickup(app, client, city, any_hour):
    early = book(client, city["rider"], local_time(2, 10))
    free = client.post(f"/api/v1/rides/{early['id']}/cancel", headers=city["rider"]).json
    assert free["status"] == "cancelled" and free["cancellation_fee"]["amount"] == 0
    late = book(client, city["rider"], utcnow() + timedelta(minutes=40))
    move_pickup(app, late["id"], utcnow() + timedelta(minutes=20))
    fee = client.post(f"/api/v1/rides/{late['id']}/cancel", headers=city["rider"]).json
    assert fee["status"] == "cancelled" and fee["cancellation_fee"]["amount"] == fares.CANCELLATION_FEE_FEN


def _ticket(session, user_id: int, event) -> int:
    tier = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)).one()
    tier.sold += 1
    order = Order(user_id=user_id, event_id=event.id, status="paid", total_fen=tier.price_fen,
                  expires_at=utcnow() + timedelta(minutes=15))
    session.add_all([tier, order])
    session.flush()
    ticket = Ticket(order_id=order.id, event_id=event.id, tier_id=tier.id, user_id=user_id, serial=f"s{order.id}")
    session.add(ticket)
    session.commit()
    return ticket.id


@pytest.fixture
def show_tonight(session):
    """An event at the Yuelai expo centre ending at 21:00 local in two days."""
    org = make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue", **YUELAI_EXPO)
    event = make_event(session, organisation=org, venue=venue, days_ahead=2)
    event.ends_at = local_time(2, 21)
    event.starts_at = event.ends_at - timedelta(hours=3)
    session.add(event)
    session.commit()
    return event


def test_the_ride_home_from_an_event(app, client, city, session, show_tonight):
    rider = make_user(session)
    headers = bearer(app, session, rider)
    save_card(client, headers)
    ticket_id = _ticket(session, rider.id, show_tonight)
    answer = client.post(f"/api/v1/tickets/{ticket_id}/ride-home", headers=headers,
                         json={"dropoff": LIJIA, "passengers": 2})
    assert answer.status_code == 201, answer.json
    ride = answer.json
    assert ride["status"] == "scheduled" and ride["passengers"] == 2
    assert ride["pickup"] == YUELAI_EXPO and datetime.fromisoformat(ride["pickup_at"]) == show_tonight.ends_at
    stranger = client.post(f"/api/v1/tickets/{ticket_id}/ride-home", headers=city["rider"],
                           json={"dropoff": LIJIA})
    assert stranger.status_code == 404 and stranger.json["code"] == "ticket_not_found"
    timeline = client.get("/api/v1/me/timeline", headers=headers).json["items"]
    rides = [e for e in timeline if e["type"] == "ride"]
    assert rides[0]["id"] == ride["id"] and rides[0]["status"] == "scheduled" and rides[0]["detail"]["booked"]
    assert datetime.fromisoformat(rides[0]["at"]) == show_tonight.ends_at


def test_a_ride_home_needs_an_end_within_a_week(app, client, session, city, show_tonight):
    rider = make_user(session)
    headers = bearer(app, session, rider)
    save_card(client, headers)
    show_tonight.ends_at = utcnow() + timedelta(days=9)
    session.add(show_tonight)
    session.commit()
    ticket_id = _ticket(session, rider.id, show_tonight)
    answer = client.post(f"/api/v1/tickets/{ticket_id}/ride-home", headers=headers, json={"dropoff": LIJIA})
    assert answer.status_code == 422 and answer.json["code"] == "beyond_booking_window"


def test_known_demand_counts_booked_pickups_and_event_endings(app, client, city, session, show_tonight, any_hour):
    now = utcnow()
    ride = book(client, city["rider"], now + timedelta(minutes=40))
    move_pickup(app, ride["id"], now + timedelta(minutes=20))
    for _ in range(40):
        _ticket(session, make_user(session).id, show_tonight)
    show_tonight.ends_at = now + timedelta(minutes=25)
    session.add(show_tonight)
    session.commit()
    with _session(app) as s:
        lat, lon, riders = scheduled.known_demand(s, region="liangjiang", now=now)
        later = scheduled.known_demand(s, region="liangjiang", now=now + timedelta(hours=1))
        elsewhere = scheduled.known_demand(s, region="yongchuan", now=now)
    assert sorted(zip(lat.round(4), lon.round(4), riders)) == sorted([
        (LIJIA["lat"], LIJIA["lon"], 1.0), (YUELAI_EXPO["lat"], YUELAI_EXPO["lon"], 40 * scheduled.RIDE_HOME_SHARE)])
    assert len(later[0]) == 0 and len(elsewhere[0]) == 0


def test_known_demand_raises_a_zones_rebalancing_target():
    from robotaxi_dispatch.engine.rebalancing import DemandForecast, Limits, Vehicles, imbalance
    limits = Limits()
    forecast = DemandForecast(limits.cell_m)
    idle = Vehicles(np.arange(4), np.full(4, 0.0), np.full(4, 0.0))
    forecast.expect([10_000.0], [0.0], [3.0])
    surplus, deficit, reach = imbalance(forecast, idle, (np.empty(0), np.empty(0)), 0.0, limits)
    zone = forecast.zone([10_000.0], [0.0])[0]
    assert deficit[zone] == 3 and deficit.sum() == 3
    assert reach[zone] == limits.max_distance_m  # short of its own riders: reached from further away
    forecast.expect([], [])
    assert imbalance(forecast, idle, (np.empty(0), np.empty(0)), 0.0, limits)[1].sum() == 0


def test_booked_rides_are_dispatched_in_time_in_the_simulation():
    # The warm-up outlasts a release's lead (20 minutes), so measured bookings meet a fleet spread out.
    simulation = Simulation(Scenario(vehicles=300, requests_per_hour=300, minutes=10, warmup_minutes=20,
                                     booked_share=0.5, booked_notice_minutes=40, seed=7))
    figures = simulation.run()
    assert figures["booked_requests"] > 20 and figures["requests"] > 20  # the riders who asked on the spot apart
    assert figures["booked_served_share"] >= 0.95 and figures["booked_on_time_share"] >= 0.9, figures
    b, n = simulation.book, simulation.book.n
    booked_rows = ~np.isnan(b.pickup_at[:n]) & np.isfinite(b.picked_up[:n])
    # Released in time, yet no car sent so early that it waits long at the kerb.
    assert np.all(b.requested[:n][booked_rows] < b.pickup_at[:n][booked_rows])
    early = b.pickup_at[:n][booked_rows] - b.picked_up[:n][booked_rows]
    assert np.median(early) <= EARLY_S


def test_riders_booking_the_last_place_at_once_get_one_ride(app, client, session, city, live_server):
    riders = [bearer(app, session, make_user(session)) for _ in range(8)]
    for headers in riders:
        save_card(client, headers)
    body = {"pickup": LIJIA, "dropoff": YUFU, "pickup_at": local_time(2, 10).isoformat()}
    codes = race(f"{live_server}/api/v1/rides", [body] * len(riders), riders)
    assert codes == {(201, None): 1, (409, "booked_rides_full"): len(riders) - 1}, codes
    session.rollback()
    assert len(session.exec(select(Ride).where(Ride.status == RideStatus.scheduled)).all()) == 1
