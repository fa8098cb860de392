"""Sites near a point, site detail, site operators' management, and robotaxi service areas."""
from datetime import datetime

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from backend.db import get_session
from backend.dbtypes import DbId, Moment
from backend.exceptions import Forbidden, Invalid, NotFound
from backend.i18n import current_language
from booking.bookings import manage, outages
from booking.sites import services
from booking.sites.models import (
    ResourceCreate,
    ResourcePublic,
    ResourceUpdate,
    SiteCreate,
    SiteDetail,
    SiteKind,
    SitePage,
    SiteUpdate,
)
from mobile_api.http import (
    BEARER,
    QueryParams,
    decode_cursor,
    decode_keyset,
    encode_cursor,
    json_response,
    keyset_page,
    optional_principal,
    require_principal,
)
from mobile_api.openapi import operation
from mobile_api.schemas import FeatureCollection
from robotaxi_dispatch.service_areas import service_areas_geojson

bp = APIBlueprint("sites", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="sites", description="Stations, dealers and venues near a point; site operators publish and edit them.")])


SITE_EXAMPLE = {
    "kind": "charging_station", "name_zh": "礼嘉超充站", "name_en": "Lijia Supercharging Station",
    "address_zh": "两江新区礼嘉大道 88 号", "address_en": "88 Lijia Avenue, Liangjiang New Area",
    "district": "liangjiang", "opening_hours": {"mon": [["00:00", "24:00"]]},
    "location": {"lat": 29.6601, "lon": 106.5302}, "published": True,
}


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


class OutagePath(BaseModel):
    site_id: int
    resource_id: int
    outage_id: int


class WindowQuery(QueryParams):
    model_config = ConfigDict(populate_by_name=True)
    start: Moment = Field(alias="from", description="RFC 3339 with offset")
    end: Moment = Field(alias="to", description="RFC 3339 with offset; at most 31 days after `from`")


class WindowPageQuery(WindowQuery):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class OutageList(BaseModel):
    """A resource's outages, latest first."""

    items: list[manage.OutageView]


class OutageEnd(BaseModel):
    """When the resource is back in service."""

    end: Moment


class OutageChanged(manage.OutageView):
    """An outage with its new end, and the live bookings it now touches."""

    disrupted_bookings: list[int]


class SiteBookingPage(BaseModel):
    """Bookings on a site's resources by start, with the cursor of the next page."""

    items: list[manage.SiteBooking]
    next_cursor: str | None = None


class UtilisationList(BaseModel):
    """Per resource and local day: place-minutes booked against place-minutes open."""

    items: list[manage.ResourceDay]


STAFF = ("site_operator", "admin")


class SiteCreateBody(SiteCreate):
    """A site to publish; admins name the organisation."""

    organisation_id: DbId | None = None


@bp.get("/sites", **operation("listSites", {200: SitePage}))
def list_sites(query: NearbyQuery):
    """List published sites within radius_m of a point, nearest first, with distance_m."""
    offset = decode_cursor(query.cursor)
    rows = services.nearby_sites(get_session(), lat=query.lat, lon=query.lon,
                                 radius_m=query.radius_m, kind=query.kind,
                                 limit=query.limit + 1, offset=offset)
    more, language = len(rows) > query.limit, current_language()
    items = [services.site_public(site, dist, language=language) for site, dist in rows[: query.limit]]
    cursor = encode_cursor(offset + query.limit) if more else None
    return json_response(SitePage(items=items, next_cursor=cursor))


@bp.get("/sites/<int:site_id>", **operation("getSite", {200: SiteDetail}, raises=(NotFound,)))
def get_site(path: SitePath):
    """Return a site with its resources."""
    detail = services.site_detail(get_session(), site_id=path.site_id,
                                  principal=optional_principal(), language=current_language())
    return json_response(detail)


@bp.post("/manage/sites", security=BEARER, **operation(
    "createSite", {201: SiteDetail}, raises=(Forbidden,),
    example=SITE_EXAMPLE))
def create_site(body: SiteCreateBody):
    """Publish a site for the caller's organisation (site_operator)."""
    principal = require_principal("site_operator", "admin")
    session = get_session()
    site = services.create_site(session, principal=principal,
                                data=SiteCreate(**body.model_dump(exclude={"organisation_id"})),
                                organisation_id=body.organisation_id)
    return json_response(services.site_detail(session, site_id=site.id, principal=principal,
                                              language=current_language()), 201)


@bp.patch("/manage/sites/<int:site_id>", security=BEARER, **operation(
    "updateSite", {200: SiteDetail}, raises=(Forbidden, NotFound),
    example={"opening_hours": {"sat": [["08:00", "22:00"]]}, "published": True}))
def update_site(path: SitePath, body: SiteUpdate):
    """Edit one of the caller's sites."""
    principal = require_principal("site_operator", "admin")
    session = get_session()
    services.update_site(session, principal=principal, site_id=path.site_id, patch=body)
    return json_response(services.site_detail(session, site_id=path.site_id, principal=principal,
                                              language=current_language()))


@bp.post("/manage/sites/<int:site_id>/resources", security=BEARER, **operation(
    "addResource", {201: ResourcePublic}, raises=(Forbidden, NotFound),
    example={"kind": "charger", "name_zh": "1 号超充桩", "name_en": "Charger 1", "capacity": 1,
             "attributes": {"power_kw": 480, "connector": "GB/T DC", "voltage_class": 800}}))
def add_resource(path: SitePath, body: ResourceCreate):
    """Add a bookable resource to one of the caller's sites."""
    principal = require_principal("site_operator", "admin")
    resource = services.add_resource(get_session(), principal=principal, site_id=path.site_id,
                                     data=body)
    return json_response(services.resource_public(resource, language=current_language()), 201)


@bp.patch("/manage/sites/<int:site_id>/resources/<int:resource_id>", security=BEARER, **operation(
    "updateResource", {200: ResourcePublic}, raises=(Forbidden, NotFound), example={"active": False}))
def update_resource(path: ResourcePath, body: ResourceUpdate):
    """Edit a resource of one of the caller's sites."""
    principal = require_principal("site_operator", "admin")
    resource = services.update_resource(get_session(), principal=principal,
                                        site_id=path.site_id, resource_id=path.resource_id,
                                        patch=body)
    return json_response(services.resource_public(resource, language=current_language()))


@bp.get("/manage/sites/<int:site_id>/resources/<int:resource_id>/outages", security=BEARER,
        **operation("listOutages", {200: OutageList}, raises=(Forbidden, NotFound)))
def list_outages(path: ResourcePath):
    """A resource's outages, latest first."""
    principal, session = require_principal(*STAFF), get_session()
    resource = manage.managed_resource(session, principal=principal, site_id=path.site_id,
                                       resource_id=path.resource_id)
    return json_response(OutageList(items=[manage.outage_view(o) for o in manage.resource_outages(
        session, resource=resource)]))


@bp.patch("/manage/sites/<int:site_id>/resources/<int:resource_id>/outages/<int:outage_id>", security=BEARER,
          **operation("endOutage", {200: OutageChanged}, raises=(Forbidden, NotFound, Invalid),
                      example={"end": "2026-12-02T10:30:00+08:00"}))
def end_outage(path: OutagePath, body: OutageEnd):
    """Move an outage's end: back in service sooner, or later (bookings newly hit are disrupted)."""
    principal = require_principal(*STAFF)
    outage, hit = outages.end_outage(get_session(), principal=principal, site_id=path.site_id,
                                     resource_id=path.resource_id, outage_id=path.outage_id, end=body.end)
    return json_response(OutageChanged(**manage.outage_view(outage).model_dump(), disrupted_bookings=hit))


@bp.delete("/manage/sites/<int:site_id>/resources/<int:resource_id>/outages/<int:outage_id>", security=BEARER,
           **operation("deleteOutage", {204: {"description": "Deleted"}}, raises=(Forbidden, NotFound)))
def delete_outage(path: OutagePath):
    """Remove an outage recorded by mistake."""
    principal = require_principal(*STAFF)
    outages.delete_outage(get_session(), principal=principal, site_id=path.site_id,
                          resource_id=path.resource_id, outage_id=path.outage_id)
    return "", 204


@bp.get("/manage/sites/<int:site_id>/bookings", security=BEARER,
        **operation("listSiteBookings", {200: SiteBookingPage}, raises=(Forbidden, NotFound, Invalid)))
def site_bookings(path: SitePath, query: WindowPageQuery):
    """Bookings on the site's resources starting in the window, by start; customers by first name only."""
    principal = require_principal(*STAFF)
    rows = manage.site_bookings(get_session(), principal=principal, site_id=path.site_id, start=query.start,
                                end=query.end, limit=query.limit + 1, language=current_language(),
                                cursor=decode_keyset(query.cursor, datetime, int))
    items, cursor = keyset_page(rows, limit=query.limit, key=lambda b: (b.start, b.id))
    return json_response(SiteBookingPage(items=items, next_cursor=cursor))


@bp.get("/manage/sites/<int:site_id>/utilisation", security=BEARER,
        **operation("getUtilisation", {200: UtilisationList}, raises=(Forbidden, NotFound, Invalid)))
def site_utilisation(path: SitePath, query: WindowQuery):
    """Per resource and local day: place-minutes booked against place-minutes open."""
    principal = require_principal(*STAFF)
    return json_response(UtilisationList(items=manage.utilisation(
        get_session(), principal=principal, site_id=path.site_id, start=query.start, end=query.end,
        language=current_language())))


@bp.get("/service-areas", **operation("listServiceAreas", {200: FeatureCollection}))
def service_areas():
    """Return the robotaxi service areas as a GeoJSON FeatureCollection."""
    return json_response(service_areas_geojson(get_session(), language=current_language()))
