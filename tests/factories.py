"""Factories for test data: users with roles, organisations, sites, events, owned objects, tokens."""
import itertools
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event
from sqlmodel import Session, select

from backend import keys
from backend.accounts.models import Membership, Organisation, User, UserRole
from backend.accounts.services import hash_password, principal_of
from backend.accounts.tokens import issue_access_token
from backend.dbtypes import utcnow
from backend.geo import point_ewkt
from booking.bookings.models import Booking
from booking.events.models import Event, Order, OrderItem, Ticket, TicketTier
from booking.sites.models import Resource, Site
from robotaxi_dispatch.rides.models import Ride, Vehicle

_seq = itertools.count(1)
PASSWORD = "correct horse battery"
# Hashed once: argon2 is deliberately slow and most tests never log in with it.
_PASSWORD_HASH = hash_password(PASSWORD)


def make_org(session: Session, *, kind: str = "site_operator", **fields) -> Organisation:
    n = next(_seq)
    org = Organisation(slug=fields.pop("slug", f"org-{n}"), name_zh=f"组织{n}",
                       name_en=f"Org {n}", kind=kind, **fields)
    session.add(org)
    session.commit()
    return org


def make_user(session: Session, *, roles=("citizen",), organisation: Organisation | None = None,
              email: str | None = None) -> User:
    n = next(_seq)
    user = User(email=email or f"user{n}@example.com", password_hash=_PASSWORD_HASH,
                name=f"User {n}")
    session.add(user)
    session.flush()
    for role in roles:
        session.add(UserRole(user_id=user.id, role=role))
    if organisation is not None:
        session.add(Membership(user_id=user.id, organisation_id=organisation.id))
    session.commit()
    return user


def bearer(app, session: Session, user: User) -> dict:
    """Return an Authorization header carrying a fresh access token for the user."""
    token = issue_access_token(principal=principal_of(session, user.id),
                               keys=keys.ring(app.config, keys.ACCESS_TOKEN), ttl_s=600)
    return {"Authorization": f"Bearer {token}"}


def make_site(session: Session, *, organisation: Organisation, lat: float = 29.5576,
              lon: float = 106.5772, kind: str = "charging_station", published: bool = True,
              resources: list[dict] = ()) -> Site:
    n = next(_seq)
    site = Site(kind=kind, name_zh=f"站点{n}", name_en=f"Site {n}", address_zh=f"地址{n}",
                address_en=f"Address {n}", district="yuzhong",
                opening_hours={d: [["00:00", "24:00"]] for d in
                               ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                location=point_ewkt(lat, lon), organisation_id=organisation.id,
                published=published)
    session.add(site)
    session.flush()
    for spec in resources:
        session.add(Resource(site_id=site.id, name_zh=spec.get("name_zh", "资源"),
                             name_en=spec.get("name_en", "Resource"), **{
                                 k: v for k, v in spec.items() if k not in ("name_zh", "name_en")}))
    session.commit()
    return site


def make_event(session: Session, *, organisation: Organisation, venue: Site,
               published: bool = True, days_ahead: int = 10):
    """Return an event of the organisation at the venue with one open 100-seat tier."""
    n, now = next(_seq), utcnow()
    event = Event(category="motorsport", title_zh=f"活动{n}", title_en=f"Event {n}",
                  organisation_id=organisation.id, venue_site_id=venue.id,
                  status="published" if published else "draft",
                  starts_at=now + timedelta(days=days_ahead),
                  ends_at=now + timedelta(days=days_ahead, hours=6))
    session.add(event)
    session.flush()
    session.add(TicketTier(event_id=event.id, name_zh="看台", name_en="Stand", price_fen=10000,
                           quota=100, sales_start=now - timedelta(hours=1),
                           sales_end=now + timedelta(days=days_ahead - 1)))
    session.commit()
    return event


def make_owned(session: Session, *, user: User, resource: Resource, event, vehicle_org: Organisation):
    """Return a booking, a paid order with a ticket, a completed ride and a vehicle for `user`."""
    n, start = next(_seq), utcnow() + timedelta(days=3)
    booking = Booking(user_id=user.id, resource_id=resource.id, site_id=resource.site_id,
                      kind=resource.kind, status="confirmed", start_at=start,
                      end_at=start + timedelta(minutes=30), blocked_until=start + timedelta(minutes=35))
    tier = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)).first()
    tier.sold += 1  # the paid order's seat
    order = Order(user_id=user.id, event_id=event.id, status="paid", total_fen=tier.price_fen,
                  expires_at=utcnow() + timedelta(minutes=15))
    # Terminal, so its Server-Sent Events stream ends at once.
    ride = Ride(user_id=user.id, status="completed", region="liangjiang", pickup_lat=29.66,
                pickup_lon=106.545, dropoff_lat=29.69, dropoff_lon=106.58, passengers=1,
                distance_m=4000, trip_s=600, quoted_fare_fen=2000, authorised_fen=2400, fare_fen=2000)
    vehicle = Vehicle(organisation_id=vehicle_org.id, plate=f"渝A·T{n:04d}", model="test",
                      seats=4, region="liangjiang")
    session.add_all([booking, order, ride, vehicle, tier])
    session.flush()
    session.add(OrderItem(order_id=order.id, tier_id=tier.id, quantity=1, unit_price_fen=tier.price_fen))
    ticket = Ticket(order_id=order.id, event_id=event.id, tier_id=tier.id, user_id=user.id,
                    serial=f"serial{n}")
    session.add(ticket)
    session.commit()
    return {"booking": booking.id, "order": order.id, "ticket": ticket.id, "ride": ride.id,
            "vehicle": vehicle.id}


def save_card(client, headers: dict, card: str = "4242424242424242"):
    """Save a sandbox test card in the user's wallet, as the app does once."""
    answer = client.post("/api/v1/me/payment-methods", json={"card_number": card}, headers=headers)
    assert answer.status_code == 201, answer.json
    return answer.json


@contextmanager
def statements_run(app):
    """Collect the SQL statements the app's engine runs inside the block."""
    seen, engine = [], app.extensions["db_engine"]

    def note(_conn, _cursor, statement, *_rest):
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def walk_pages(client, url: str, query: dict, *, headers=None, between=lambda: None) -> list[dict]:
    """Return every item of a list page by page, calling `between` before each next page."""
    items, cursor = [], None
    while True:
        answer = client.get(url, query_string=query | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert answer.status_code == 200, answer.json
        items += answer.json["items"]
        cursor = answer.json["next_cursor"]
        if cursor is None:
            return items
        between()
