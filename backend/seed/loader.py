"""Load the Chongqing demo into the database; rows that are already there are kept.

The seed is where the feature packages meet, so unlike the rest of `backend` it imports them
(only `flask seed` loads this module).
"""
from sqlmodel import Session, select

from backend.accounts.models import Membership, Organisation, User, UserRole
from backend.accounts.services import hash_password
from backend.dbtypes import utcnow
from backend.geo import point_ewkt
from backend.geography import SERVICE_AREAS
from backend.seed import catalogue
from backend.seed.plan import demo_sites, demo_vehicles
from backend.seed.season import load_season
from booking.chargers.models import ChargePoint, Connector
from booking.chargers.services import hash_password as hash_charger_password
from booking.sites.models import CarModel, Resource, Site, SiteKind
from robotaxi_dispatch.rides.models import Vehicle
from robotaxi_dispatch.service_areas import ServiceArea, polygon_ewkt


def _organisations(session: Session) -> dict[str, int]:
    """Create missing organisations; return every demo organisation's id by slug."""
    existing = {o.slug: o for o in session.exec(select(Organisation)).all()}
    for slug, name_zh, name_en, kind in catalogue.ORGANISATIONS:
        if slug not in existing:
            existing[slug] = Organisation(slug=slug, name_zh=name_zh, name_en=name_en, kind=kind)
            session.add(existing[slug])
    session.flush()
    return {slug: org.id for slug, org in existing.items()}


def _accounts(session: Session, orgs: dict[str, int]) -> int:
    created = 0
    password_hash = hash_password(catalogue.DEMO_PASSWORD)
    fans = [(email, name, ("citizen",), None) for email, name in catalogue.FANS]
    for email, name, roles, org in catalogue.ACCOUNTS + fans:
        if session.exec(select(User).where(User.email == email)).first():
            continue
        user = User(email=email, name=name, password_hash=password_hash)
        session.add(user)
        session.flush()
        session.add_all(UserRole(user_id=user.id, role=role) for role in roles)
        if org:
            session.add(Membership(user_id=user.id, organisation_id=orgs[org]))
        created += 1
    return created


def _car_models(session: Session) -> int:
    known = set(session.exec(select(CarModel.code)).all())
    fresh = [CarModel(code=code, name_zh=zh, name_en=en, maker=maker, powertrain=power,
                      range_km=range_km, autonomy_level=level)
             for code, zh, en, maker, power, range_km, level in catalogue.CAR_MODELS
             if code not in known]
    session.add_all(fresh)
    return len(fresh)


def _sites(session: Session, orgs: dict[str, int]) -> tuple[int, int]:
    known = set(session.exec(select(Site.organisation_id, Site.name_en)).all())
    sites = resources = 0
    for planned in demo_sites():
        org_id = orgs[planned.organisation]
        if (org_id, planned.name_en) in known:
            continue
        address_zh, address_en = planned.address
        site = Site(kind=SiteKind(planned.kind), name_zh=planned.name_zh, name_en=planned.name_en,
                    address_zh=address_zh, address_en=address_en, district=planned.district,
                    opening_hours=planned.opening_hours, organisation_id=org_id,
                    location=point_ewkt(planned.lat, planned.lon))
        session.add(site)
        session.flush()
        session.add_all(Resource(site_id=site.id, **r) for r in planned.resources)
        sites, resources = sites + 1, resources + len(planned.resources)
    return sites, resources


def demo_identity(site_id: int, number: int) -> str:
    """Return the OCPP identity of a site's n-th demo charger."""
    return f"CQ-{site_id:04d}-{number}"


def _charge_points(session: Session) -> int:
    """Put every demo charger not yet on the line behind a charge point of its own (EVSE 1, connector 1)."""
    bound = set(session.exec(select(Connector.resource_id)).all())
    chargers = session.exec(select(Resource).where(Resource.kind == "charger")
                            .order_by(Resource.site_id, Resource.id)).all()
    password_hash = hash_charger_password(catalogue.DEMO_PASSWORD)
    created, numbers = 0, dict[int, int]()
    for charger in chargers:
        numbers[charger.site_id] = numbers.get(charger.site_id, 0) + 1
        if charger.id in bound:
            continue
        point = ChargePoint(identity=demo_identity(charger.site_id, numbers[charger.site_id]),
                            site_id=charger.site_id, password_hash=password_hash)
        session.add(point)
        session.flush()
        session.add(Connector(charge_point_id=point.id, resource_id=charger.id))
        created += 1
    return created


def _service_areas(session: Session) -> int:
    known = set(session.exec(select(ServiceArea.slug)).all())
    fresh = [ServiceArea(slug=slug, name_zh=zh, name_en=en, region=region, area=polygon_ewkt(ring))
             for slug, zh, en, region, ring in SERVICE_AREAS if slug not in known]
    session.add_all(fresh)
    return len(fresh)


def _vehicles(session: Session, orgs: dict[str, int]) -> int:
    known = set(session.exec(select(Vehicle.plate)).all())
    fresh = [Vehicle(organisation_id=orgs["liangjiang-robotaxi"], plate=plate, model="apollo-rt6",
                     seats=seats, region=region, lat=lat, lon=lon, soc=soc, position_at=utcnow())
             for plate, region, lat, lon, seats, soc in demo_vehicles() if plate not in known]
    session.add_all(fresh)
    return len(fresh)


def load_demo(session: Session) -> dict[str, int]:
    """Load whatever part of the demo is missing, in one transaction; return what was added."""
    orgs = _organisations(session)
    counts = {"accounts": _accounts(session, orgs), "car_models": _car_models(session)}
    counts["sites"], counts["resources"] = _sites(session, orgs)
    counts["charge_points"] = _charge_points(session)
    counts["service_areas"] = _service_areas(session)
    counts["vehicles"] = _vehicles(session, orgs)
    session.flush()
    counts["events"] = load_season(session, organisation_id=orgs["cq-motorsport"])
    session.commit()
    return counts
