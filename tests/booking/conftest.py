"""Sites with one resource of each kind, and helpers to find bookable slots and pay for them."""
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from booking.bookings import rules
from booking.sites.models import Resource
from tests.factories import bearer, make_org, make_site, make_user

RESOURCES = [
    {"kind": "charger", "name_en": "800 V supercharger", "capacity": 1,
     "attributes": {"power_kw": 480, "connector": "GB/T DC", "voltage_class": 800,
                    "service_fee_fen_per_kwh": 80}},
    {"kind": "charger", "name_en": "120 kW DC", "capacity": 1,
     "attributes": {"power_kw": 120, "connector": "GB/T DC", "voltage_class": 400,
                    "service_fee_fen_per_kwh": 60}},
    {"kind": "swap_lane", "capacity": 1, "attributes": {"battery_models": ["choco-swap-25"],
                                                        "price_fen": 8000}},
    {"kind": "h2_dispenser", "capacity": 1, "attributes": {"pressure_mpa": 70, "price_fen_per_kg": 3500}},
    {"kind": "test_drive_car", "capacity": 1, "attributes": {"car_model": "avatr-11", "price_fen": 0}},
    {"kind": "track_session", "capacity": 3, "attributes": {"price_fen": 59900}},
    {"kind": "parking_bay", "capacity": 2, "attributes": {"price_fen_per_hour": 800,
                                                          "automated_valet": True}},
]


@dataclass
class World:
    app: object
    site: object
    resources: dict
    citizen: object
    headers: dict
    other_headers: dict
    operator_headers: dict


@pytest.fixture
def world(app, session):
    """Return a 24-hour site with one resource per kind, a citizen, another citizen, its operator."""
    org = make_org(session)
    site = make_site(session, organisation=org, resources=RESOURCES)
    resources = {}
    for resource in session.exec(select(Resource).where(Resource.site_id == site.id)).all():
        resources.setdefault(resource.kind, resource)
    citizen, other = make_user(session), make_user(session)
    operator = make_user(session, roles=("site_operator",), organisation=org)
    return World(app, site, resources, citizen, bearer(app, session, citizen),
                 bearer(app, session, other), bearer(app, session, operator))


def next_slot(kind: str, *, after: timedelta = timedelta(0), slots: int = 1) -> tuple[datetime, datetime]:
    """Return the first bookable window of a kind starting at least `after` beyond the notice."""
    rule = rules.rule_for(kind)
    earliest = (utcnow() + rule.min_notice + after).astimezone(rules.CITY_TZ)
    step = rule.step.seconds // 60
    minutes = earliest.hour * 60 + earliest.minute + 1
    start = earliest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        minutes=-(-minutes // step) * step)
    return start, start + timedelta(minutes=rule.slot_minutes * slots)


def book(client, world, kind, *, after=timedelta(0), headers=None, **extra):
    """Book the next free slot of the world's resource of a kind, `after` from now."""
    start, end = next_slot(kind, after=after)
    return client.post("/api/v1/bookings", json=booking_body(world.resources[kind], start, end, **extra),
                       headers=headers or world.headers)


def booking_body(resource, start: datetime, end: datetime, **extra) -> dict:
    return {"resource_id": resource.id, "start": start.isoformat(), "end": end.isoformat(), **extra}


def pay(client, booking: dict, headers: dict, card: str = "4242424242424242"):
    """Pay a booking's sandbox payment with a test card, as the app would."""
    return client.post(f"/api/v1/payments/{booking['payment']['id']}/sandbox/confirm",
                       json={"card_number": card}, headers=headers)


@pytest.fixture
def show(app, client, session):
    """A published motorsport event with a 50-seat tier, its organiser and a citizen."""
    org = make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue", lat=29.744, lon=106.805)
    organiser = bearer(app, session, make_user(session, roles=("organiser",), organisation=org))
    now = utcnow()
    event = client.post("/api/v1/organiser/events", headers=organiser, json={
        "category": "motorsport", "title_zh": "龙兴赛道日", "title_en": "Longxing Track Day",
        "venue_site_id": venue.id, "starts_at": (now + timedelta(days=10)).isoformat(),
        "ends_at": (now + timedelta(days=10, hours=8)).isoformat()})
    assert event.status_code == 201, event.json
    event_id = event.json["id"]
    tier = client.post(f"/api/v1/organiser/events/{event_id}/tiers", headers=organiser, json={
        "name_zh": "看台", "name_en": "Grandstand", "price_fen": 28000, "quota": 50, "per_order_limit": 4,
        "sales_start": (now - timedelta(hours=1)).isoformat(), "sales_end": (now + timedelta(days=9)).isoformat()})
    assert tier.status_code == 201, tier.json
    assert client.post(f"/api/v1/organiser/events/{event_id}/publish", headers=organiser).status_code == 200
    citizen = bearer(app, session, make_user(session))
    return {"event_id": event_id, "tier_id": tier.json["id"], "organiser": organiser,
            "citizen": citizen, "org": org, "venue": venue}


def order(client, show, quantity=2, headers=None, tier_id=None):
    return client.post(f"/api/v1/events/{show['event_id']}/orders", headers=headers or show["citizen"],
                       json={"items": [{"tier_id": tier_id or show["tier_id"], "quantity": quantity}]})
