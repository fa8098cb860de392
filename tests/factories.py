"""Factories for test data: users with roles, organisations, sites, tokens."""
import itertools

from sqlmodel import Session

from backend.accounts.models import Membership, Organisation, User, UserRole
from backend.accounts.services import hash_password, principal_of
from backend.accounts.tokens import issue_access_token
from backend.geo import point_ewkt
from booking.sites.models import Resource, Site

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
                               secret=app.config["SECRET_KEY"], ttl_s=600)
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
