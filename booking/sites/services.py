"""Finding sites near a point, and site operators publishing and editing their own."""
from functools import lru_cache

from sqlalchemy import Float, Integer, bindparam, exists
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.dbtypes import utcnow
from backend.exceptions import Forbidden, NotFound
from backend.geo import bound_box, box_values, distance_m, lat_lon, point_ewkt, within_box
from backend.i18n import pick
from backend.keyset import beyond
from backend.patches import apply_patch
from booking.sites import attributes
from booking.sites.models import (
    CarModel,
    Point,
    Resource,
    ResourceCreate,
    ResourcePublic,
    ResourceUpdate,
    Site,
    SiteCreate,
    SiteDetail,
    SiteKind,
    SitePublic,
    SiteUpdate,
)


def nearby_sites(session: Session, *, lat: float, lon: float, radius_m: float,
                 kind: SiteKind | str | None = None, limit: int = 50, offset: int = 0,
                 resource_kind: str | None = None) -> list[tuple[Site, float]]:
    """Return published sites within the radius, nearest first, with their distance in metres.

    `resource_kind` keeps only sites with an active resource of that kind.
    """
    statement = _nearby_statement(session.get_bind().dialect.name, kind=kind is not None,
                                  resource_kind=resource_kind is not None)
    # Callers pass the enum or its value (nearby availability passes the value).
    params = {"lat": lat, "lon": lon, "radius_m": radius_m, "limit": limit, "offset": offset,
              "kind": None if kind is None else SiteKind(kind).value, "resource_kind": resource_kind,
              **box_values(lat, lon, radius_m)}
    return [(site, float(dist)) for site, dist in session.exec(statement, params=params).all()]


@lru_cache
def _nearby_statement(dialect: str, *, kind: bool, resource_kind: bool):
    """Build, once per kind of search, the query of published sites near a point with their distances.

    Every value a search brings is a bound parameter: building the statement and its cache key
    anew cost about a tenth of a sites request.
    """
    table = Site.__table__
    distance = distance_m(Site.location, bindparam("lat", type_=Float), bindparam("lon", type_=Float),
                          dialect).label("distance_m")
    query = (select(Site, distance)
             .where(within_box(table, table.c.location, bound_box(), dialect), Site.published.is_(True),
                    distance <= bindparam("radius_m", type_=Float)))
    if kind:
        query = query.where(Site.kind == bindparam("kind"))
    if resource_kind:
        query = query.where(exists().where(Resource.site_id == Site.id, Resource.kind == bindparam("resource_kind"),
                                           Resource.active))
    # populate_existing: a search read again under a new catalogue token must see the sites as they
    # are now, not as this session first loaded them
    return (query.order_by(distance, Site.id).offset(bindparam("offset", type_=Integer))
            .limit(bindparam("limit", type_=Integer)).execution_options(populate_existing=True))


def site_public(site: Site, distance: float | None = None, *, language: str) -> SitePublic:
    """Describe a site in the language."""
    lat, lon = lat_lon(site.location)
    return SitePublic(
        id=site.id, kind=site.kind, name=pick(site.name_zh, site.name_en, language),
        address=pick(site.address_zh, site.address_en, language), name_zh=site.name_zh,
        name_en=site.name_en, district=site.district, location=Point(lat=lat, lon=lon),
        opening_hours=site.opening_hours, organisation_id=site.organisation_id,
        published=site.published,
        distance_m=None if distance is None else round(distance, 1),
    )


def resource_public(resource: Resource, *, language: str) -> ResourcePublic:
    """Describe a resource in the language; attributes that break their schema are not shown."""
    facts = attributes.usable(resource.kind, resource.attributes)
    return ResourcePublic(**resource.model_dump(exclude={"site_id", "attributes"}),
                          attributes=facts or {}, misconfigured=facts is None,
                          name=pick(resource.name_zh, resource.name_en, language))


def _may_manage(principal: Principal | None, site: Site) -> bool:
    if principal is None:
        return False
    return principal.has_role("admin") or (
        principal.has_role("site_operator") and site.organisation_id in principal.organisation_ids)


def site_detail(session: Session, *, site_id: int, principal: Principal | None, language: str) -> SiteDetail:
    """Return a site with its resources; unpublished sites only to those who manage them."""
    site = session.get(Site, site_id)
    if site is None or not (site.published or _may_manage(principal, site)):
        raise NotFound("not_found", "No site {site_id}.", params={"site_id": site_id})
    resources = session.exec(
        select(Resource).where(Resource.site_id == site_id).order_by(Resource.id)).all()
    return SiteDetail(**site_public(site, language=language).model_dump(),
                      resources=[resource_public(r, language=language) for r in resources])


def managed_site(session: Session, *, site_id: int, principal: Principal) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound("not_found", "No site {site_id}.", params={"site_id": site_id})
    if not _may_manage(principal, site):
        raise Forbidden("forbidden", "This site belongs to another organisation.")
    return site


def create_site(session: Session, *, principal: Principal, data: SiteCreate,
                organisation_id: int | None) -> Site:
    """Publish a site for one of the caller's organisations."""
    org_id = organisation_id or next(iter(sorted(principal.organisation_ids)), None)
    if org_id is None or not (principal.has_role("admin") or org_id in principal.organisation_ids):
        raise Forbidden("forbidden", "You can only publish sites for your own organisation.")
    site = Site(**data.model_dump(exclude={"location"}), organisation_id=org_id,
                location=point_ewkt(data.location.lat, data.location.lon))
    session.add(site)
    session.commit()
    return site


def update_site(session: Session, *, principal: Principal, site_id: int, patch: SiteUpdate) -> Site:
    """Edit a site the caller manages."""
    site = managed_site(session, site_id=site_id, principal=principal)
    apply_patch(site, patch, exclude=frozenset({"location"}))
    if patch.location is not None:
        site.location = point_ewkt(patch.location.lat, patch.location.lon)
    site.updated_at = utcnow()
    session.add(site)
    session.commit()
    return site


def add_resource(session: Session, *, principal: Principal, site_id: int,
                 data: ResourceCreate) -> Resource:
    """Add a bookable resource to a site the caller manages."""
    managed_site(session, site_id=site_id, principal=principal)
    resource = Resource(**data.model_dump(exclude={"attributes"}), site_id=site_id,
                        attributes=attributes.checked(data.kind, data.attributes, data.capacity))
    session.add(resource)
    session.commit()
    return resource


def update_resource(session: Session, *, principal: Principal, site_id: int, resource_id: int,
                    patch: ResourceUpdate) -> Resource:
    """Edit a resource of a site the caller manages."""
    managed_site(session, site_id=site_id, principal=principal)
    resource = session.get(Resource, resource_id)
    if resource is None or resource.site_id != site_id:
        raise NotFound("not_found", "No resource {resource_id} at site {site_id}.",
                       params={"resource_id": resource_id, "site_id": site_id})
    apply_patch(resource, patch)
    resource.attributes = attributes.checked(resource.kind, resource.attributes, resource.capacity)
    session.add(resource)
    session.commit()
    return resource


def car_models(session: Session, *, cursor: tuple | None, limit: int) -> list[CarModel]:
    """Return up to `limit` catalogue models after the cursor (maker, code), by maker."""
    query = select(CarModel)
    if cursor is not None:
        query = query.where(beyond([CarModel.maker, CarModel.code], cursor, descending=False))
    return list(session.exec(query.order_by(CarModel.maker, CarModel.code).limit(limit)).all())


def managed_sites(session: Session, *, principal: Principal, cursor: tuple | None, limit: int) -> list[Site]:
    """Return the sites of the caller's organisations (admins: all), published or not, by id."""
    query = select(Site)
    if not principal.has_role("admin"):
        query = query.where(Site.organisation_id.in_(sorted(principal.organisation_ids)))
    if cursor is not None:
        query = query.where(beyond([Site.id], cursor, descending=False))
    return list(session.exec(query.order_by(Site.id).limit(limit)).all())
