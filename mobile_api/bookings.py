"""Bookings of charging, swap, hydrogen, test-drive, track and valet slots, and their availability."""
from datetime import datetime

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from backend.db import get_session
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Forbidden, NotFound, SlotTaken
from backend.i18n import current_language, pick
from backend.redis_client import get_redis
from booking.bookings import availability, outages, policy, services
from booking.bookings.models import (
    BookingComplete,
    BookingCreate,
    BookingPage,
    BookingPublic,
    BookingStatus,
    OutageCreate,
    OutagePublic,
    Rebook,
)
from booking.bookings.rules import city_time
from booking.calendar import calendar_file
from booking.chargers import live as chargers
from booking.sites import services as site_services
from booking.sites.models import CarModel, Resource, ResourceKind, Site, SiteKind
from mobile_api.http import (
    BEARER,
    QueryParams,
    QueryTime,
    calendar_response,
    decode_keyset,
    encode_keyset,
    json_response,
    keyset_page,
    payment_gateway,
    require_principal,
)
from mobile_api.idempotency import idempotent
from mobile_api.openapi import operation
from payments import wallet
from payments.exceptions import PaymentMethodRequired

bp = APIBlueprint("bookings", __name__, url_prefix="/api/v1", abp_tags=[Tag(
    name="bookings", description="Charging, swap, hydrogen, test-drive, track and valet slots: availability, holds, "
                                 "payment, check-in, completion, cancellation.")])


# Besides the cancellable ones, the statuses whose calendar entry still stands.
LIVE = (BookingStatus.checked_in, BookingStatus.completed)


class BookingPath(BaseModel):
    booking_id: int


class SitePath(BaseModel):
    site_id: int


class OutagePath(BaseModel):
    site_id: int
    resource_id: int


class PageQuery(QueryParams):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class WindowQuery(QueryParams):
    model_config = ConfigDict(populate_by_name=True)
    start: QueryTime = Field(alias="from", description="RFC 3339 with offset")
    end: QueryTime = Field(alias="to", description="RFC 3339 with offset")
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
    """Nearby sites with a free slot, nearest first."""

    items: list[availability.SiteAvailability]


class CarModelPage(BaseModel):
    """The test-drive catalogue by maker, with the cursor of the next page."""

    items: list[CarModel]
    next_cursor: str | None = None


def booking_view(session, booking) -> BookingPublic:
    """Return a booking's public view with what cancelling it costs now."""
    return _with_cancellation(booking, services.booking_public(session, booking, language=current_language()))


def _with_cancellation(booking, view: BookingPublic) -> BookingPublic:
    view.cancellation = policy.cancellation(booking, utcnow(), current_language())
    return view


def _answer(booking, status: int = 200):
    return json_response(booking_view(get_session(), booking), status)


@bp.post("/bookings", security=BEARER, **operation(
    "createBooking", {201: BookingPublic}, raises=(SlotTaken, Conflict, NotFound, PaymentMethodRequired),
    idempotent=True,
    example={"resource_id": 42, "start": "2026-12-01T14:00:00+08:00", "end": "2026-12-01T14:30:00+08:00"}))
@idempotent
def create_booking(body: BookingCreate):
    """Hold a slot (`held` until paid, with `hold_expires_at`); 409 `slot_taken` if it is gone."""
    principal, session, gateway = require_principal(), get_session(), payment_gateway()
    # One tap without a default method is 402, and nothing is held.
    hold = services.hold_slot(session, user_id=principal.user_id, data=body, gateway=gateway)
    payment = hold.payment and wallet.send(session, gateway, hold.payment)
    # Answered from what this request read and wrote: the payment's answer is on the session's objects already.
    view = services.held_public(hold, payment, language=current_language())
    return json_response(_with_cancellation(hold.booking, view), 201)


@bp.get("/bookings", **operation("listBookings", {200: BookingPage}), security=BEARER)
def list_bookings(query: PageQuery):
    """List the caller's own bookings, latest first."""
    principal, session = require_principal(), get_session()
    page, last = services.list_bookings(session, user_id=principal.user_id, limit=query.limit,
                                        after=decode_keyset(query.cursor, datetime, int), language=current_language())
    return json_response(BookingPage(items=[_with_cancellation(*shown) for shown in page],
                                     next_cursor=encode_keyset(last) if last else None))


@bp.get("/bookings/<int:booking_id>", security=BEARER,
        **operation("getBooking", {200: BookingPublic}, raises=(NotFound,)))
def get_booking(path: BookingPath):
    """Return one of the caller's bookings."""
    principal = require_principal()
    return json_response(_with_cancellation(*services.shown_booking(
        get_session(), booking_id=path.booking_id, user_id=principal.user_id, language=current_language())))


@bp.get("/bookings/<int:booking_id>.ics", security=BEARER, **operation(
    "getBookingCalendar", {200: {"description": "The booking as an iCalendar file",
                                 "content": {"text/calendar": {"schema": {"type": "string"}}}}}, raises=(NotFound,)))
def booking_calendar(path: BookingPath):
    """The booking as a calendar file, with the site's address and location."""
    principal, session, language = require_principal(), get_session(), current_language()
    booking = services.own_booking(session, booking_id=path.booking_id, user_id=principal.user_id)
    site, resource = session.get_one(Site, booking.site_id), session.get_one(Resource, booking.resource_id)
    terms = policy.cancellation(booking, utcnow(), language)
    body = calendar_file(uid=f"booking-{booking.id}", summary=pick(resource.name_zh, resource.name_en, language),
                         start=booking.start_at, end=booking.end_at, venue=site, language=language,
                         description=terms.summary if terms else "",
                         cancelled=booking.status not in policy.CANCELLABLE + LIVE)
    return calendar_response(body, f"booking-{booking.id}.ics")


@bp.post("/bookings/<int:booking_id>/cancel", security=BEARER,
         **operation("cancelBooking", {200: BookingPublic}, raises=(NotFound, Conflict)))
def cancel_booking(path: BookingPath):
    """Cancel; free until the kind's cut-off, then a fee is kept and the rest refunded."""
    principal = require_principal()
    return _answer(services.cancel_booking(get_session(), payment_gateway(),
                                           booking_id=path.booking_id, user_id=principal.user_id))


@bp.post("/bookings/<int:booking_id>/check-in", security=BEARER,
         **operation("checkInBooking", {200: BookingPublic}, raises=(NotFound, Conflict)))
def check_in(path: BookingPath):
    """Check in at the site (from 30 minutes before the start)."""
    principal, session = require_principal(), get_session()
    booking = services.check_in(session, booking_id=path.booking_id, user_id=principal.user_id)
    chargers.wake_owner(get_redis(), session, booking.resource_id)  # the remote start goes out now
    return _answer(booking)


@bp.post("/bookings/<int:booking_id>/complete", security=BEARER, **operation(
    "completeBooking", {200: BookingPublic}, raises=(NotFound, Conflict),
    example={"energy_kwh": 42.5, "unplugged_at": "2026-12-01T14:35:00+08:00"}))
def complete(path: BookingPath, body: BookingComplete):
    """Complete; charging and hydrogen are settled from what was delivered."""
    principal = require_principal()
    return _answer(services.complete_booking(
        get_session(), payment_gateway(), booking_id=path.booking_id, user_id=principal.user_id,
        energy_kwh=body.energy_kwh, hydrogen_kg=body.hydrogen_kg, unplugged_at=body.unplugged_at))


@bp.post("/bookings/<int:booking_id>/rebook", security=BEARER, **operation(
    "rebookBooking", {200: BookingPublic}, raises=(NotFound, SlotTaken, Conflict),
    example={"start": "2026-12-01T15:00:00+08:00", "end": "2026-12-01T15:30:00+08:00"}))
def rebook(path: BookingPath, body: Rebook):
    """Move a booking an outage disrupted to another free slot of the same site, free of charge."""
    principal = require_principal()
    return _answer(outages.rebook(get_session(), booking_id=path.booking_id,
                                  user_id=principal.user_id, data=body))


@bp.get("/sites/<int:site_id>/availability",
        **operation("getSiteAvailability", {200: availability.SiteAvailability}, raises=(NotFound,)))
def site_availability(path: SitePath, query: WindowQuery):
    """Free slots per resource of a site in a window (at most 7 days)."""
    answer = availability.site_availability(get_session(), site_id=path.site_id,
                                            start=query.start, end=query.end,
                                            wanted=query.wanted(), now=utcnow(), language=current_language())
    return json_response(answer)


@bp.get("/availability", **operation("listNearbyAvailability", {200: AvailabilityPage}))
def nearby_availability(query: NearbyWindowQuery):
    """Nearby sites with a free matching slot in the window, nearest first."""
    items = availability.nearby_availability(
        get_session(), lat=query.lat, lon=query.lon, radius_m=query.radius_m,
        site_kind=query.kind.value if query.kind else None, wanted=query.wanted(),
        start=query.start, end=query.end, now=utcnow(), limit=query.limit, language=current_language())
    return json_response(AvailabilityPage.model_construct(items=items))  # items are models already


@bp.get("/car-models", **operation("listCarModels", {200: CarModelPage}))
def car_models(query: PageQuery):
    """The test-drive catalogue by maker: powertrain (BEV, EREV, PHEV, FCEV), range and autonomy level."""
    rows = site_services.car_models(get_session(), limit=query.limit + 1,
                                    cursor=decode_keyset(query.cursor, str, str))
    items, cursor = keyset_page(rows, limit=query.limit, key=lambda m: (m.maker, m.code))
    return json_response(CarModelPage(items=items, next_cursor=cursor))


@bp.post("/manage/sites/<int:site_id>/resources/<int:resource_id>/outages", security=BEARER, **operation(
    "addOutage", {201: OutagePublic}, raises=(Forbidden, NotFound),
    example={"start": "2026-12-02T09:00:00+08:00", "end": "2026-12-02T12:00:00+08:00", "reason": "Cable replacement"}))
def add_outage(path: OutagePath, body: OutageCreate):
    """Take a resource out of service for a window (site_operator); bookings hit are disrupted."""
    principal = require_principal("site_operator", "admin")
    outage, hit = outages.add_outage(get_session(), principal=principal, site_id=path.site_id,
                                     resource_id=path.resource_id, data=body)
    return json_response(OutagePublic(id=outage.id, resource_id=outage.resource_id,
                                      start=city_time(outage.start_at), end=city_time(outage.end_at),
                                      reason=outage.reason, disrupted_bookings=hit), 201)
