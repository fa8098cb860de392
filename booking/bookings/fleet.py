"""Charging slots for robotaxi fleets: booked, used and settled like anyone's, billed on account.

Dispatch defines the charging-desk protocol it needs (`robotaxi_dispatch.charging`) and this
implements it, so dispatch never imports the booking service. The booking belongs to the
fleet's operator account, so it shows in that account's timeline and the site operator sees
it like any other booking.
"""
from datetime import datetime, timedelta

from sqlmodel import Session, SQLModel, select

from backend.accounts.models import Membership, UserRole
from backend.exceptions import SlotTaken
from backend.i18n import DEFAULT_LANGUAGE
from backend.money import Money
from booking.bookings import rules, services
from booking.bookings.availability import ResourceFilter, nearby_availability
from booking.bookings.models import Booking, BookingCreate, BookingStatus
from booking.chargers import live as chargers
from booking.chargers.models import DOWN
from booking.sites.models import ResourceKind, SiteKind
from robotaxi_dispatch.charging import ChargeNeed, ChargeSlot

SEARCH_RADIUS_M = 15_000
SEARCH_AHEAD = timedelta(hours=2)
CANDIDATE_SITES = 3


def fleet_account(session: Session, *, organisation_id: int) -> int | None:
    """Return the user that books for a fleet: its first operator member."""
    return session.exec(select(Membership.user_id)
                        .join(UserRole, UserRole.user_id == Membership.user_id)
                        .where(Membership.organisation_id == organisation_id, UserRole.role == "operator")
                        .order_by(Membership.user_id)).first()


class FleetChargingDesk:
    """The booking service behind dispatch's charging desk (robotaxi_dispatch.charging.ChargingDesk)."""

    def __init__(self, gateway):
        self.gateway = gateway

    def book(self, session: Session, *, organisation_id: int, lat: float, lon: float, need: ChargeNeed,
             now: datetime) -> ChargeSlot | None:
        """Hold the earliest free charger slot at the nearest stations that have one.

        On a charger on the line the session remembers the need, for the site's charging profiles.
        """
        user_id = fleet_account(session, organisation_id=organisation_id)
        if user_id is None:
            return None
        offers = nearby_availability(session, lat=lat, lon=lon, radius_m=SEARCH_RADIUS_M,
                                     site_kind=SiteKind.charging_station.value,
                                     wanted=ResourceFilter(resource_kind=ResourceKind.charger.value),
                                     start=now, end=now + SEARCH_AHEAD, now=now, limit=CANDIDATE_SITES,
                                     language=DEFAULT_LANGUAGE)  # names are never shown here
        for offer in offers:
            for resource in offer.resources:
                slot = resource.slots[0]
                try:
                    booking, *_ = services.hold_slot(session, user_id=user_id, now=now, on_account=True,
                                                 data=BookingCreate(resource_id=resource.resource.id,
                                                                    start=slot.start, end=slot.end))
                except SlotTaken:  # someone was quicker: try the next charger
                    continue
                chargers.note_need(session, booking, energy_kwh=need.energy_kwh, needed_by=need.needed_by)
                return ChargeSlot(booking_id=booking.id, lat=offer.site.location.lat, lon=offer.site.location.lon)
        return None

    def plug_in(self, session: Session, *, booking_id: int, now: datetime) -> None:
        services.check_in(session, booking_id=booking_id, user_id=_holder(session, booking_id), now=now)

    def finish(self, session: Session, *, booking_id: int, energy_kwh: float, now: datetime) -> None:
        if chargers.plug_of(session, session.get_one(Booking, booking_id).resource_id) is not None:
            return  # a charger on the line settles the slot from its meter when the car unplugs
        services.complete_booking(session, self.gateway, booking_id=booking_id, user_id=_holder(session, booking_id),
                                  energy_kwh=energy_kwh, hydrogen_kg=None, unplugged_at=now, now=now)

    def release(self, session: Session, *, booking_id: int, now: datetime) -> None:
        services.cancel_booking(session, self.gateway, booking_id=booking_id, user_id=_holder(session, booking_id),
                                now=now)

    def chargers_down(self, session: Session, *, booking_ids: list[int], now: datetime) -> dict[int, str]:
        """Tell the console which slots sit on a charger that is faulted or offline now."""
        held = session.exec(select(Booking.id, Booking.resource_id).where(Booking.id.in_(booking_ids))).all()
        live = chargers.live_statuses(session, resource_ids=[resource for _, resource in held], now=now)
        return {booking: live[resource].value for booking, resource in held if live.get(resource) in DOWN}


def _holder(session: Session, booking_id: int) -> int:
    """Return the fleet account a slot was booked on (the booking services act for its holder)."""
    return session.exec(select(Booking.user_id).where(Booking.id == booking_id)).one()


class StatementLine(SQLModel):
    """One charging slot settled on the fleet's account."""

    booking_id: int
    site_id: int
    start: datetime
    end: datetime
    energy_kwh: float
    amount: Money


class Statement(SQLModel):
    """What a fleet owes for a month: its settled charging slots and their total."""

    organisation_id: int
    month: str
    lines: list[StatementLine]
    total: Money


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    """Return a calendar month's start and end in Chongqing's time zone."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=rules.CITY_TZ)
    return start, (start + timedelta(days=32)).replace(day=1)


def _energy_kwh(settlement: dict) -> float:
    """Return the energy a settled charge delivered (the bill keeps it per time-of-use period)."""
    return round(sum(value for key, value in settlement.items() if key.endswith("_kwh")), 3)


def statement(session: Session, *, organisation_id: int, month: str) -> Statement:
    """Return what a fleet owes for a month (YYYY-MM): its charging slots settled on account, by end time."""
    start, end = _month_bounds(month)
    members = select(Membership.user_id).where(Membership.organisation_id == organisation_id)
    settled = session.exec(select(Booking).where(
        Booking.user_id.in_(members), Booking.status == BookingStatus.completed,
        Booking.end_at >= start, Booking.end_at < end).order_by(Booking.end_at, Booking.id)).all()
    lines = [StatementLine(booking_id=b.id, site_id=b.site_id, start=rules.city_time(b.start_at),
                           end=rules.city_time(b.end_at), energy_kwh=_energy_kwh(b.settlement),
                           amount=Money(amount=b.final_price_fen or 0, currency=b.currency))
             for b in settled if b.settlement.get("billing") == "account"]
    return Statement(organisation_id=organisation_id, month=month, lines=lines,
                     total=Money(amount=sum(line.amount.amount for line in lines)))
