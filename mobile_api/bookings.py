"""Bookings of charging, swap, hydrogen, test-drive, track and valet slots, and their availability."""
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import select

from backend.db import get_session
from backend.dbtypes import utcnow
from booking.bookings import availability, billing, outages, services
from booking.bookings.models import (
    BookingComplete, BookingCreate, BookingPage, BookingPublic, OutageCreate, OutagePublic, Rebook,
)
from booking.bookings.rules import city_time
from booking.sites.models import CarModel, ResourceKind, SiteKind
from mobile_api.http import BEARER, QueryParams, decode_cursor, json_response, page, payment_gateway, require_principal
from mobile_api.idempotency import idempotent

bp = APIBlueprint("bookings", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="bookings")])


class BookingPath(BaseModel):
    booking_id: int


class SitePath(BaseModel):
    site_id: int


class OutagePath(BaseModel):
    site_id: int
    resource_id: int


class PageQuery(QueryParams):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=64)


class WindowQuery(QueryParams):
    model_config = ConfigDict(populate_by_name=True)
    start: AwareDatetime = Field(alias="from", description="RFC 3339 with offset")
    end: AwareDatetime = Field(alias="to", description="RFC 3339 with offset")
    resource_kind: ResourceKind | None = None
    min_power_kw: float | None = Field(default=None, ge=0, le=1000)
    connector: str | None = Field(default=None, max_length=32)
    voltage_class: int | None = Field(default=None, description="400 or 800")
    battery_model: str | None = Field(default=None, max_length=64)
    car_model: str | None = Field(default=None, max_length=64)

    def wanted(self) -> availability.ResourceFilter:
        return availability.ResourceFilter(
            resource_kind=self.resource_kind.value if self.resource_kind else None,
            min_power_kw=self.min_power_kw, connector=self.connector,
            voltage_class=self.voltage_class, battery_model=self.battery_model,
            car_model=self.car_model)


class NearbyWindowQuery(WindowQuery):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(default=5000, gt=0, le=50_000)
    kind: SiteKind | None = None
    limit: int = Field(default=20, ge=1, le=50)


class AvailabilityPage(BaseModel):
    items: list[availability.SiteAvailability]


class CarModelList(BaseModel):
    items: list[CarModel]


def _answer(booking, status: int = 200):
    return json_response(services.booking_public(get_session(), booking), status)


@bp.post("/bookings", responses={201: BookingPublic}, security=BEARER)
@idempotent
def create_booking(body: BookingCreate):
    """Hold a slot (`held` until paid, with `hold_expires_at`); 409 `slot_taken` if it is gone."""
    principal = require_principal()
    session = get_session()
    booking = services.hold_slot(session, user_id=principal.user_id, data=body)
    billing.request_payment(session, payment_gateway(), booking=booking)
    return _answer(booking, 201)


@bp.get("/bookings", responses={200: BookingPage}, security=BEARER)
def list_bookings(query: PageQuery):
    """List the caller's own bookings, latest first."""
    principal, session = require_principal(), get_session()
    offset = decode_cursor(query.cursor)
    rows = services.list_bookings(session, user_id=principal.user_id, limit=query.limit + 1,
                                  offset=offset)
    rows, cursor = page(rows, limit=query.limit, offset=offset)
    return json_response(BookingPage(items=[services.booking_public(session, b) for b in rows],
                                     next_cursor=cursor))


@bp.get("/bookings/<int:booking_id>", responses={200: BookingPublic}, security=BEARER)
def get_booking(path: BookingPath):
    """Return one of the caller's bookings."""
    principal = require_principal()
    return _answer(services.own_booking(get_session(), booking_id=path.booking_id,
                                        user_id=principal.user_id))


@bp.post("/bookings/<int:booking_id>/cancel", responses={200: BookingPublic}, security=BEARER)
def cancel_booking(path: BookingPath):
    """Cancel; free until the kind's cut-off, then a fee is kept and the rest refunded."""
    principal = require_principal()
    return _answer(services.cancel_booking(get_session(), payment_gateway(),
                                           booking_id=path.booking_id, user_id=principal.user_id))


@bp.post("/bookings/<int:booking_id>/check-in", responses={200: BookingPublic}, security=BEARER)
def check_in(path: BookingPath):
    """Check in at the site (from 30 minutes before the start)."""
    principal = require_principal()
    return _answer(services.check_in(get_session(), booking_id=path.booking_id,
                                     user_id=principal.user_id))


@bp.post("/bookings/<int:booking_id>/complete", responses={200: BookingPublic}, security=BEARER)
def complete(path: BookingPath, body: BookingComplete):
    """Complete; charging and hydrogen are settled from what was delivered."""
    principal = require_principal()
    return _answer(services.complete_booking(
        get_session(), payment_gateway(), booking_id=path.booking_id, user_id=principal.user_id,
        energy_kwh=body.energy_kwh, hydrogen_kg=body.hydrogen_kg, unplugged_at=body.unplugged_at))


@bp.post("/bookings/<int:booking_id>/rebook", responses={200: BookingPublic}, security=BEARER)
def rebook(path: BookingPath, body: Rebook):
    """Move a booking an outage disrupted to another free slot of the same site, free of charge."""
    principal = require_principal()
    return _answer(outages.rebook(get_session(), booking_id=path.booking_id,
                                  user_id=principal.user_id, data=body))


@bp.get("/sites/<int:site_id>/availability", responses={200: availability.SiteAvailability})
def site_availability(path: SitePath, query: WindowQuery):
    """Free slots per resource of a site in a window (at most 7 days)."""
    answer = availability.site_availability(get_session(), site_id=path.site_id,
                                            start=query.start, end=query.end,
                                            wanted=query.wanted(), now=utcnow())
    return json_response(answer)


@bp.get("/availability", responses={200: AvailabilityPage})
def nearby_availability(query: NearbyWindowQuery):
    """Nearby sites with a free matching slot in the window, nearest first."""
    items = availability.nearby_availability(
        get_session(), lat=query.lat, lon=query.lon, radius_m=query.radius_m,
        site_kind=query.kind.value if query.kind else None, wanted=query.wanted(),
        start=query.start, end=query.end, now=utcnow(), limit=query.limit)
    return json_response(AvailabilityPage(items=items))


@bp.get("/car-models", responses={200: CarModelList})
def car_models():
    """The test-drive catalogue: powertrain (BEV, EREV, PHEV, FCEV), range and autonomy level."""
    rows = get_session().exec(select(CarModel).order_by(CarModel.maker, CarModel.code)).all()
    return json_response(CarModelList(items=list(rows)))


@bp.post("/manage/sites/<int:site_id>/resources/<int:resource_id>/outages",
         responses={201: OutagePublic}, security=BEARER)
def add_outage(path: OutagePath, body: OutageCreate):
    """Take a resource out of service for a window (site_operator); bookings hit are disrupted."""
    principal = require_principal("site_operator", "admin")
    outage, hit = outages.add_outage(get_session(), principal=principal, site_id=path.site_id,
                                     resource_id=path.resource_id, data=body)
    return json_response(OutagePublic(id=outage.id, resource_id=outage.resource_id,
                                      start=city_time(outage.start_at), end=city_time(outage.end_at),
                                      reason=outage.reason, disrupted_bookings=hit), 201)
