"""`flask seed`: a realistic Chongqing demo, the same on both backends, on land in its districts."""
from collections import Counter
from datetime import datetime

import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from backend.geo import lat_lon
from backend.geography import DISTRICT_NAMES, district_at, in_water
from backend.seed import catalogue
from backend.seed.loader import demo_identity, load_demo
from booking.chargers.models import ChargePoint, Connector
from booking.chargers.services import authenticate
from booking.sites.models import Resource, Site

JIEFANGBEI = (29.5578, 106.5772)


@pytest.fixture
def seeded(session):
    counts = load_demo(session)
    return counts


def test_seed_covers_every_district_and_kind(seeded, session):
    sites = session.exec(select(Site)).all()
    assert seeded["sites"] == len(sites) >= 200
    assert set(Counter(s.district for s in sites)) == set(DISTRICT_NAMES)
    kinds = Counter(s.kind for s in sites)
    assert {"charging_station", "swap_station", "hydrogen_station", "dealer", "proving_ground",
            "venue", "parking_garage"} <= set(kinds)
    names = {s.name_en for s in sites}
    assert "Longxing International Circuit" in names
    assert "Chongqing International Expo Centre" in names


def test_every_site_is_on_land_inside_its_district(seeded, session):
    for site in session.exec(select(Site)).all():
        lat, lon = lat_lon(site.location)
        assert district_at(lat, lon) == site.district, site.name_en
        assert not in_water(lat, lon), site.name_en


def test_rivers_are_water():
    # Mid-river points of the Yangtze (Caiyuanba) and the Jialing (Huanghuayuan).
    assert in_water(29.543, 106.5645)
    assert in_water(29.5715, 106.545)
    assert not in_water(*JIEFANGBEI)


def test_high_power_chargers_and_corridor_hydrogen(seeded, session):
    chargers = session.exec(select(Resource).where(Resource.kind == "charger")).all()
    assert any(c.attributes["power_kw"] == 120 for c in chargers)
    assert any(c.attributes["voltage_class"] == 800 for c in chargers)
    hydrogen = session.exec(select(Site).where(Site.kind == "hydrogen_station")).all()
    assert {s.district for s in hydrogen} == {"jiulongpo", "shapingba", "yongchuan"}


def test_seed_twice_adds_nothing(seeded, session):
    again = load_demo(session)
    assert set(again.values()) == {0}


def test_demo_accounts_log_in_with_every_role(seeded, client):
    roles = set()
    for email, *_ in catalogue.ACCOUNTS:
        answer = client.post("/api/v1/auth/login",
                             json={"email": email, "password": catalogue.DEMO_PASSWORD})
        assert answer.status_code == 200, email
        roles |= set(answer.get_json()["user"]["roles"])
    assert roles == {"citizen", "operator", "organiser", "site_operator", "admin"}


def test_seeded_city_answers_nearby_and_service_areas(seeded, client):
    lat, lon = JIEFANGBEI
    items = client.get(f"/api/v1/sites?lat={lat}&lon={lon}&radius_m=3000&limit=50").get_json()["items"]
    assert len(items) >= 5
    assert items[0]["district"] == "yuzhong"
    areas = client.get("/api/v1/service-areas").get_json()["features"]
    assert {a["properties"]["region"] for a in areas} == {"liangjiang", "yongchuan"}


def test_every_demo_charger_is_on_the_line(seeded, session):
    chargers = set(session.exec(select(Resource.id).where(Resource.kind == "charger")).all())
    assert set(session.exec(select(Connector.resource_id)).all()) == chargers
    first = session.exec(select(ChargePoint).order_by(ChargePoint.id)).first()
    assert first.identity == demo_identity(first.site_id, 1)
    assert authenticate(session, identity=first.identity, password=catalogue.DEMO_PASSWORD)


def test_season_is_on_sale_and_its_seats_add_up(seeded, client, session):
    from sqlalchemy import func

    from booking.events.models import OrderItem, Ticket, TicketTier, WaitlistEntry

    assert seeded["events"] == len(catalogue.EVENTS)
    events = client.get("/api/v1/events?limit=20", headers={"Accept-Language": "en"}).get_json()["items"]
    assert {e["category"] for e in events} == {"auto_show", "motorsport", "av_challenge", "culture"}
    assert "Chongqing Auto Show 2027" in {e["title"] for e in events}
    assert all(datetime.fromisoformat(e["starts_at"]) > utcnow() and len(e["tiers"]) >= 2 for e in events)
    tiers = [t for e in events for t in e["tiers"]]
    assert any(0 < t["remaining"] <= 0.05 * t["quota"] for t in tiers)  # nearly sold out
    sold_out = [t for t in tiers if t["remaining"] == 0]
    assert sold_out and all(t["on_sale"] for t in tiers)
    waiting = session.exec(select(WaitlistEntry)).all()
    assert waiting and {w.tier_id for w in waiting} <= {t["id"] for t in sold_out}
    for tier in session.exec(select(TicketTier)).all():
        seats = session.exec(select(func.sum(OrderItem.quantity)).where(OrderItem.tier_id == tier.id)).one()
        tickets = session.exec(select(func.count()).where(Ticket.tier_id == tier.id)).one()
        assert tier.sold == (seats or 0) == tickets, tier.name_en
