"""Sites near a point, site detail, site operators' management, and robotaxi service areas."""
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from backend.db import get_session
from backend.dbtypes import DbId
from booking.sites import services
from booking.sites.models import (
    ResourceCreate, ResourcePublic, ResourceUpdate, SiteCreate, SiteDetail, SiteKind, SitePage,
    SiteUpdate,
)
from mobile_api.http import (
    BEARER, QueryParams, decode_cursor, encode_cursor, json_response, optional_principal, require_principal,
)
from robotaxi_dispatch.service_areas import service_areas_geojson

bp = APIBlueprint("sites", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="sites")])


class NearbyQuery(QueryParams):
    lat: float = Field(ge=-90, le=90, description="WGS84 latitude")
    lon: float = Field(ge=-180, le=180, description="WGS84 longitude")
    radius_m: float = Field(default=5000, gt=0, le=100_000)
    kind: SiteKind | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=64)


class SitePath(BaseModel):
    site_id: int


class ResourcePath(BaseModel):
    site_id: int
    resource_id: int


class SiteCreateBody(SiteCreate):
    organisation_id: DbId | None = None


@bp.get("/sites", responses={200: SitePage})
def list_sites(query: NearbyQuery):
    """List published sites within radius_m of a point, nearest first, with distance_m."""
    offset = decode_cursor(query.cursor)
    rows = services.nearby_sites(get_session(), lat=query.lat, lon=query.lon,
                                 radius_m=query.radius_m, kind=query.kind,
                                 limit=query.limit + 1, offset=offset)
    more = len(rows) > query.limit
    items = [services.site_public(site, dist) for site, dist in rows[: query.limit]]
    cursor = encode_cursor(offset + query.limit) if more else None
    return json_response(SitePage(items=items, next_cursor=cursor))


@bp.get("/sites/<int:site_id>", responses={200: SiteDetail})
def get_site(path: SitePath):
    """Return a site with its resources."""
    detail = services.site_detail(get_session(), site_id=path.site_id,
                                  principal=optional_principal())
    return json_response(detail)


@bp.post("/manage/sites", responses={201: SiteDetail}, security=BEARER)
def create_site(body: SiteCreateBody):
    """Publish a site for the caller's organisation (site_operator)."""
    principal = require_principal("site_operator", "admin")
    session = get_session()
    site = services.create_site(session, principal=principal,
                                data=SiteCreate(**body.model_dump(exclude={"organisation_id"})),
                                organisation_id=body.organisation_id)
    return json_response(services.site_detail(session, site_id=site.id, principal=principal), 201)


@bp.patch("/manage/sites/<int:site_id>", responses={200: SiteDetail}, security=BEARER)
def update_site(path: SitePath, body: SiteUpdate):
    """Edit one of the caller's sites."""
    principal = require_principal("site_operator", "admin")
    session = get_session()
    services.update_site(session, principal=principal, site_id=path.site_id, patch=body)
    return json_response(services.site_detail(session, site_id=path.site_id, principal=principal))


@bp.post("/manage/sites/<int:site_id>/resources", responses={201: ResourcePublic},
         security=BEARER)
def add_resource(path: SitePath, body: ResourceCreate):
    """Add a bookable resource to one of the caller's sites."""
    principal = require_principal("site_operator", "admin")
    resource = services.add_resource(get_session(), principal=principal, site_id=path.site_id,
                                     data=body)
    return json_response(services.resource_public(resource), 201)


@bp.patch("/manage/sites/<int:site_id>/resources/<int:resource_id>",
          responses={200: ResourcePublic}, security=BEARER)
def update_resource(path: ResourcePath, body: ResourceUpdate):
    """Edit a resource of one of the caller's sites."""
    principal = require_principal("site_operator", "admin")
    resource = services.update_resource(get_session(), principal=principal,
                                        site_id=path.site_id, resource_id=path.resource_id,
                                        patch=body)
    return json_response(services.resource_public(resource))


@bp.get("/service-areas")
def service_areas():
    """Return the robotaxi service areas as a GeoJSON FeatureCollection."""
    return json_response(service_areas_geojson(get_session()))
