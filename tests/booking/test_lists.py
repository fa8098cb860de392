"""Every role lists what is theirs, page by page, without repeats or gaps while rows are added."""
from datetime import timedelta

from sqlmodel import select

from backend.dbtypes import utcnow
from booking.bookings.models import Booking
from booking.events.models import Order, Ticket, TicketTier
from booking.sites.models import Resource
from robotaxi_dispatch.rides.models import Ride
from tests.factories import bearer, make_event, make_org, make_site, make_user, walk_pages


def _ride(session, user, at):
    ride = Ride(user_id=user.id, status="completed", region="liangjiang", pickup_lat=29.66, pickup_lon=106.545,
                dropoff_lat=29.69, dropoff_lon=106.58, passengers=1, distance_m=4000, trip_s=600,
                quoted_fare_fen=2000, authorised_fen=2400, fare_fen=2000, requested_at=at)
    session.add(ride)
    session.commit()
    return ride


def _booking(session, user, resource, start):
    booking = Booking(user_id=user.id, resource_id=resource.id, site_id=resource.site_id, kind=resource.kind,
                      status="confirmed", start_at=start, end_at=start + timedelta(minutes=30),
                      blocked_until=start + timedelta(minutes=30), exclusive=False)
    session.add(booking)
    session.commit()
    return booking


def _order(session, user, event):
    order = Order(user_id=user.id, event_id=event.id, status="paid", total_fen=100, expires_at=utcnow())
    session.add(order)
    session.commit()
    return order


def _world(session):
    org = make_org(session, kind="organiser")
    site = make_site(session, organisation=org, kind="venue", resources=[
        {"kind": "parking_bay", "capacity": 40, "attributes": {"price_fen_per_hour": 800}}])
    resource = session.exec(select(Resource).where(Resource.site_id == site.id)).first()
    return org, site, resource


def test_timeline_mixes_rides_bookings_and_orders_and_pages_by_key(app, client, session):
    org, site, resource = _world(session)
    user = make_user(session)
    event = make_event(session, organisation=org, venue=site)
    now = utcnow()
    for n in range(4):
        _ride(session, user, now - timedelta(hours=n))
        _booking(session, user, resource, now + timedelta(days=1, hours=n))
    _order(session, user, event)
    _order(session, user, event)  # two orders at the same moment: ties broken by id
    before = walk_pages(client, "/api/v1/me/timeline", {"limit": 50}, headers=bearer(app, session, user))
    assert {i["type"] for i in before} == {"booking", "order", "ride"} and len(before) == 10
    keys = [(i["at"], i["type"], i["id"]) for i in before]  # every `at` is in +08:00: text sorts as time
    assert keys == sorted(keys, reverse=True)
    added = []

    def insert_newer_and_older():
        added.append(_ride(session, user, utcnow() + timedelta(days=30)))  # lands on a page already read
        added.append(_booking(session, user, resource, now + timedelta(days=2)))

    walked = walk_pages(client, "/api/v1/me/timeline", {"limit": 3}, headers=bearer(app, session, user),
                  between=insert_newer_and_older)
    ids = [(i["type"], i["id"]) for i in walked]
    assert len(ids) == len(set(ids)), "an entry came twice"
    assert {(i["type"], i["id"]) for i in before} <= set(ids), "an entry was skipped"


def test_ride_history_pages_latest_first_while_rides_are_requested(app, client, session):
    user, other = make_user(session), make_user(session)
    now = utcnow()
    mine = [_ride(session, user, now - timedelta(minutes=n)).id for n in range(7)]
    _ride(session, other, now)
    walked = walk_pages(client, "/api/v1/rides", {"limit": 2}, headers=bearer(app, session, user),
                  between=lambda: _ride(session, user, utcnow()))
    ids = [r["id"] for r in walked]
    assert ids[:7] == mine and len(ids) == len(set(ids))
    assert client.get("/api/v1/rides", query_string={"cursor": "not-a-cursor"},
                      headers=bearer(app, session, user)).json["code"] == "validation_error"


def test_tickets_carry_their_event_and_venue_and_page(app, client, session):
    org, site, _ = _world(session)
    user = make_user(session)
    event = make_event(session, organisation=org, venue=site)
    tier = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)).first()
    order = _order(session, user, event)
    session.add_all(Ticket(order_id=order.id, event_id=event.id, tier_id=tier.id, user_id=user.id,
                           serial=f"s{n}") for n in range(5))
    session.commit()
    headers = {**bearer(app, session, user), "Accept-Language": "en"}
    tickets = walk_pages(client, "/api/v1/tickets", {"limit": 2}, headers=headers)
    assert len(tickets) == 5 and [t["id"] for t in tickets] == sorted((t["id"] for t in tickets), reverse=True)
    first = tickets[0]
    assert first["event_title"] == event.title_en and first["venue_name"] == site.name_en
    assert first["venue_address"] == site.address_en and first["venue_location"]["lat"] == 29.5576
    assert first["starts_at"].endswith("+08:00") and "." in first["code"]


def test_car_models_page_by_maker(app, client, session):
    from backend.seed.loader import load_demo

    load_demo(session)
    every = client.get("/api/v1/car-models?limit=100").json
    assert every["next_cursor"] is None
    paged = walk_pages(client, "/api/v1/car-models", {"limit": 3}, headers={})
    assert [m["code"] for m in paged] == [m["code"] for m in every["items"]]
    assert [m["maker"] for m in paged] == sorted(m["maker"] for m in paged)


def test_bookings_page_latest_start_first_while_bookings_are_made(app, client, session):
    _, _, resource = _world(session)
    user = make_user(session)
    now = utcnow()
    made = [_booking(session, user, resource, now + timedelta(days=1, hours=n)).id for n in range(5)]
    walked = walk_pages(client, "/api/v1/bookings", {"limit": 2}, headers=bearer(app, session, user),
                  between=lambda: _booking(session, user, resource, now + timedelta(days=9)))
    ids = [b["id"] for b in walked]
    assert ids == list(reversed(made)) and all(b["cancellation"] for b in walked)
