"""Chargers on the line: site operators bind chargers to OCPP identities and watch them; citizens stop a charge."""
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlmodel import select

from backend.db import get_session, write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Forbidden, Invalid, NotFound
from backend.i18n import current_language
from backend.redis_client import get_redis
from booking.bookings import services as bookings
from booking.bookings.models import BookingPublic
from booking.chargers import live, services
from booking.chargers.models import ChargerBinding, ChargerState, PowerCap, SiteChargers
from booking.chargers.services import KEPT_FAULTS
from booking.sites import services as site_services
from booking.sites.models import Resource, ResourcePublic, Site, SitePage
from booking.sites.services import resource_public, site_public
from mobile_api.http import BEARER, QueryParams, decode_keyset, json_response, keyset_page, require_principal
from mobile_api.openapi import operation

bp = APIBlueprint("chargers", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="chargers",
    description="Chargers on the line (OCPP): site operators bind and watch them; citizens stop a charge.")])
MANAGERS = ("site_operator", "admin")


class SitePath(BaseModel):
    site_id: int


class ResourcePath(BaseModel):
    site_id: int
    resource_id: int


class BookingPath(BaseModel):
    booking_id: int


class ManagedResource(ResourcePublic):
    """A resource as its site operator sees it: chargers with their OCPP binding and live state."""

    ocpp: ChargerState | None = None


class ManagedResourceList(BaseModel):
    """A site's resources, for its operator."""

    items: list[ManagedResource]


class PageQuery(QueryParams):
    limit: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


@bp.get("/manage/sites", security=BEARER, **operation("listManagedSites", {200: SitePage}, raises=(Forbidden,)))
def managed_sites(query: PageQuery):
    """List the sites of the caller's organisations (every site for an admin)."""
    principal = require_principal(*MANAGERS)
    rows = site_services.managed_sites(get_session(), principal=principal, limit=query.limit + 1,
                                       cursor=decode_keyset(query.cursor, int))
    sites, cursor = keyset_page(rows, limit=query.limit, key=lambda s: (s.id,))
    return json_response(SitePage(items=[site_public(s, language=current_language()) for s in sites],
                                  next_cursor=cursor))


@bp.get("/manage/sites/<int:site_id>/resources", security=BEARER,
        **operation("listManagedResources", {200: ManagedResourceList}, raises=(Forbidden, NotFound)))
def managed_resources(path: SitePath):
    """List a site's resources; chargers with their OCPP binding, live status, session and faults."""
    principal, session = require_principal(*MANAGERS), get_session()
    states = {s.resource_id: s for s in services.charger_states(session, principal=principal,
                                                                site_id=path.site_id, now=utcnow())}
    resources = session.exec(select(Resource).where(Resource.site_id == path.site_id).order_by(Resource.id)).all()
    language = current_language()
    return json_response(ManagedResourceList(items=[
        ManagedResource(**resource_public(r, language=language).model_dump(), ocpp=states.get(r.id))
        for r in resources]))


class ChargersQuery(QueryParams):
    faults: int = Field(default=5, ge=0, le=KEPT_FAULTS, description="how many of each charger's last faults")


def site_chargers(session, principal, site_id: int, faults: int) -> SiteChargers:
    states = services.charger_states(session, principal=principal, site_id=site_id, now=utcnow(), faults=faults)
    return SiteChargers(site_id=site_id, power_cap_kw=session.get(Site, site_id).power_cap_kw, items=states)


@bp.get("/manage/sites/<int:site_id>/chargers", security=BEARER,
        **operation("listSiteChargers", {200: SiteChargers}, raises=(Forbidden, NotFound)))
def list_site_chargers(path: SitePath, query: ChargersQuery):
    """Watch a site's chargers: each connector's live status, current session and last faults."""
    principal = require_principal(*MANAGERS)
    return json_response(site_chargers(get_session(), principal, path.site_id, query.faults))


@bp.put("/manage/sites/<int:site_id>/power-cap", security=BEARER,
        **operation("setSitePowerCap", {200: SiteChargers}, raises=(Forbidden, NotFound, Invalid),
                    example={"power_cap_kw": 600}))
def set_power_cap(path: SitePath, body: PowerCap):
    """Set the most power the site may draw; fleet charging is planned again beneath it."""
    principal, session = require_principal(*MANAGERS), get_session()
    services.set_power_cap(session, principal=principal, site_id=path.site_id, power_cap_kw=body.power_cap_kw,
                           now=utcnow())
    return json_response(site_chargers(session, principal, path.site_id, ChargersQuery().faults))


@bp.put("/manage/sites/<int:site_id>/resources/<int:resource_id>/ocpp", security=BEARER,
        **operation("bindCharger", {200: ChargerState}, raises=(Forbidden, NotFound, Invalid),
                  example={"ocpp_identity": "CQ-LJ-0001", "evse_id": 1, "connector_id": 1,
                           "password": "a-long-charge-point-secret"}))
def bind_charger(path: ResourcePath, body: ChargerBinding):
    """Bind a charger to a charge point identity, EVSE and connector, and set its Basic-auth password."""
    principal, session = require_principal(*MANAGERS), get_session()
    services.bind_charger(session, principal=principal, site_id=path.site_id, resource_id=path.resource_id,
                          binding=body)
    state = next(s for s in services.charger_states(session, principal=principal, site_id=path.site_id,
                                                    now=utcnow()) if s.resource_id == path.resource_id)
    return json_response(state)


@bp.post("/bookings/<int:booking_id>/stop-charging", security=BEARER,
         **operation("stopCharging", {202: BookingPublic}, raises=(NotFound, Conflict)))
def stop_charging(path: BookingPath):
    """Ask the charger to stop the booking's running charge (RequestStopTransaction); the meter then settles it."""
    principal, session = require_principal(), get_session()
    with write_transaction(session):
        booking = bookings.own_booking(session, booking_id=path.booking_id, user_id=principal.user_id,
                                       lock=True)
        live.request_stop(session, booking)
    live.wake_owner(get_redis(), session, booking.resource_id)
    return json_response(bookings.booking_public(session, booking, language=current_language()), 202)
