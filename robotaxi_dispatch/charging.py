"""How dispatch gets a charger for a low-battery vehicle, without knowing how bookings work.

The app wires in a desk backed by the booking service (see `booking.bookings.fleet`); dispatch
only sees this protocol. Without a desk, vehicles still leave service to charge, unbooked.
"""
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from backend.exceptions import DomainError
from robotaxi_dispatch.rides.models import Vehicle, VehicleStatus

log = logging.getLogger(__name__)
CHARGING_STATUSES = (VehicleStatus.to_charger, VehicleStatus.charging)
CITY_TZ = ZoneInfo("Asia/Shanghai")
# A robotaxi's pack; the vehicle reports its state of charge, not its size.
BATTERY_KWH = 60.0
# By day a vehicle sent to charge is wanted back soon; one sent at night by the morning rush.
DAY_WINDOW = timedelta(hours=2)
NIGHT_FROM, MORNING_RUSH = time(21, 0), time(7, 0)


@dataclass(frozen=True)
class ChargeSlot:
    """A slot booked for a vehicle: the booking, and the station it drives to."""
    booking_id: int
    lat: float
    lon: float


@dataclass(frozen=True)
class ChargeNeed:
    """What a charge is for: the energy the battery lacks and when dispatch wants the vehicle back."""
    energy_kwh: float
    needed_by: datetime


class ChargingDesk(Protocol):
    def book(self, session: Session, *, organisation_id: int, lat: float, lon: float, need: ChargeNeed,
             now: datetime) -> ChargeSlot | None:
        """Book the nearest free charger or swap lane for the fleet; None when there is none.

        A charger on the line charges the vehicle by `need.needed_by`, in the cheapest hours it can.
        """

    def plug_in(self, session: Session, *, booking_id: int, now: datetime) -> None:
        """Check the vehicle in at the station (409 `outside_check_in_window` if too early)."""

    def finish(self, session: Session, *, booking_id: int, energy_kwh: float, now: datetime) -> None:
        """Complete the booking with the energy delivered, so it is settled at its real price."""

    def release(self, session: Session, *, booking_id: int, now: datetime) -> None:
        """Cancel a slot the vehicle will not use (an operator sent it elsewhere)."""

    def chargers_down(self, session: Session, *, booking_ids: list[int], now: datetime) -> dict[int, str]:
        """Return the live status ("faulted", "offline") of the booked chargers that cannot serve, by booking."""


def needed_again(now: datetime) -> datetime:
    """Return when a vehicle sent to charge now is wanted back in service."""
    local = now.astimezone(CITY_TZ)
    if MORNING_RUSH <= local.time() < NIGHT_FROM:
        return now + DAY_WINDOW
    morning = datetime.combine(local.date(), MORNING_RUSH, CITY_TZ)
    return morning if morning > local else morning + timedelta(days=1)


def charge_need(vehicle: Vehicle, now: datetime) -> ChargeNeed:
    """Return the energy a vehicle lacks to be full and when it is needed again."""
    missing = (100.0 - (vehicle.soc if vehicle.soc is not None else 0.0)) / 100
    return ChargeNeed(energy_kwh=round(max(0.0, missing) * BATTERY_KWH, 1), needed_by=needed_again(now))


def book_near(session: Session, desk: ChargingDesk | None, vehicle: Vehicle, now: datetime) -> ChargeSlot | None:
    """Book a charger near the vehicle; None without a desk, a position or a free charger.

    A vehicle that already holds a slot keeps it: asking again books nothing more.
    """
    if desk is None or vehicle.lat is None or vehicle.lon is None or vehicle.charge_booking_id is not None:
        return None
    try:
        return desk.book(session, organisation_id=vehicle.organisation_id, lat=vehicle.lat,
                         lon=vehicle.lon, need=charge_need(vehicle, now), now=now)
    except DomainError as exc:  # the vehicle still leaves service to charge, unbooked
        log.warning("no charger booked for vehicle %s: %s", vehicle.id, exc.code)
        return None


def aim_at(vehicle: Vehicle, slot: ChargeSlot | None) -> int | None:
    """Point the vehicle at a newly booked slot, or forget a slot it no longer heads for.

    Return the booking id the vehicle has just left behind, if any.
    """
    if slot is not None:
        vehicle.charge_booking_id, vehicle.target_lat, vehicle.target_lon = slot.booking_id, slot.lat, slot.lon
        return None
    if vehicle.charge_booking_id is None or vehicle.status in CHARGING_STATUSES:
        return None
    left = vehicle.charge_booking_id
    vehicle.charge_booking_id = vehicle.target_lat = vehicle.target_lon = None
    return left


def settle_slot(session: Session, desk: ChargingDesk | None, *, booking_id: int, plugged_in: bool,
                energy_kwh: float | None, now: datetime) -> None:
    """Settle a used slot at the energy delivered, or release one never plugged into."""
    if desk is None:
        return
    if plugged_in:
        desk.finish(session, booking_id=booking_id, energy_kwh=energy_kwh or 0.0, now=now)
    else:
        desk.release(session, booking_id=booking_id, now=now)
