"""Charging slots for robotaxi fleets: booked, used and settled like anyone's, billed on account.

Dispatch defines the charging-desk protocol it needs (`robotaxi_dispatch.charging`) and this
implements it, so dispatch never imports the booking service. The booking belongs to the
fleet's operator account, so it shows in that account's timeline and the site operator sees
it like any other booking.
"""
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.accounts.models import Membership, UserRole
from backend.errors import ApiError
from booking.bookings import services
from booking.bookings.availability import ResourceFilter, nearby_availability
from booking.bookings.models import Booking, BookingCreate
from booking.sites.models import ResourceKind, SiteKind
from robotaxi_dispatch.charging import ChargeSlot

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

    def book(self, session: Session, *, organisation_id: int, lat: float, lon: float,
             now: datetime) -> ChargeSlot | None:
        """Hold the earliest free charger slot at the nearest stations that have one."""
        user_id = fleet_account(session, organisation_id=organisation_id)
        if user_id is None:
            return None
        offers = nearby_availability(session, lat=lat, lon=lon, radius_m=SEARCH_RADIUS_M,
                                     site_kind=SiteKind.charging_station.value,
                                     wanted=ResourceFilter(resource_kind=ResourceKind.charger.value),
                                     start=now, end=now + SEARCH_AHEAD, now=now, limit=CANDIDATE_SITES)
        for offer in offers:
            for resource in offer.resources:
                slot = resource.slots[0]
                try:
                    booking = services.hold_slot(session, user_id=user_id, now=now, on_account=True,
                                                 data=BookingCreate(resource_id=resource.resource.id,
                                                                    start=slot.start, end=slot.end))
                except ApiError as exc:
                    if exc.code == "slot_taken":  # someone was quicker: try the next charger
                        continue
                    raise
                return ChargeSlot(booking_id=booking.id, lat=offer.site.location.lat, lon=offer.site.location.lon)
        return None

    def plug_in(self, session: Session, *, booking_id: int, now: datetime) -> None:
        services.check_in(session, booking_id=booking_id, user_id=_holder(session, booking_id), now=now)

    def finish(self, session: Session, *, booking_id: int, energy_kwh: float, now: datetime) -> None:
        services.complete_booking(session, self.gateway, booking_id=booking_id, user_id=_holder(session, booking_id),
                                  energy_kwh=energy_kwh, hydrogen_kg=None, unplugged_at=now, now=now)

    def release(self, session: Session, *, booking_id: int, now: datetime) -> None:
        services.cancel_booking(session, self.gateway, booking_id=booking_id, user_id=_holder(session, booking_id),
                                now=now)


def _holder(session: Session, booking_id: int) -> int:
    """Return the fleet account a slot was booked on (the booking services act for its holder)."""
    return session.exec(select(Booking.user_id).where(Booking.id == booking_id)).one()
