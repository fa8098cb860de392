"""Rides assigned but not picked up: queued behind a vehicle's trip, started, or handed to another vehicle.

A ride may be assigned to a vehicle still carrying a rider: the ride points at the vehicle, the
vehicle keeps its own ride until the drop-off, and the dispatcher starts it on the queued ride at
its next tick. The dispatcher may also hand an assigned ride to a vehicle that would arrive much
sooner; the rider's stream shows the new car (a `reassigned` event). Each change happens in the
dispatcher's transaction, with the ride's row locked before the vehicles', as cancelling does.
"""
from datetime import datetime

from sqlmodel import Session, select

from robotaxi_dispatch.rides import notices
from robotaxi_dispatch.rides.fleet import locked_vehicle
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus
from robotaxi_dispatch.rides.services import record

FREE = (VehicleStatus.available, VehicleStatus.rebalancing)


def locked_ride(session: Session, ride_id: int) -> Ride:
    """Lock the ride's row and read it afresh."""
    return session.exec(select(Ride).where(Ride.id == ride_id).with_for_update()).one()


def can_take(vehicle: Vehicle) -> bool:
    """Tell whether a vehicle may take a ride: free, or carrying a rider (the ride waits for the drop-off)."""
    return vehicle.status in FREE or vehicle.status == VehicleStatus.on_trip


def set_off(session: Session, ride: Ride, vehicle: Vehicle) -> bool:
    """Send a free vehicle to the ride assigned to it; tell whether it set off (a vehicle on a trip queues it)."""
    if vehicle.status not in FREE:
        return False
    vehicle.status, vehicle.ride_id = VehicleStatus.dispatched, ride.id
    vehicle.target_lat = vehicle.target_lon = None  # no longer rebalancing, if it was
    if ride.pickup_at is not None:
        notices.car_on_its_way(session, ride, vehicle)
    return True


def hand_over(session: Session, ride: Ride, vehicle: Vehicle, *, pickup_s: float, now: datetime) -> Vehicle | None:
    """Give an assigned ride (locked) to another vehicle (locked, able to take it); return the old one if freed.

    The old vehicle is freed if it was driving to this ride; one that had it queued keeps its trip.
    """
    old = locked_vehicle(session, ride.vehicle_id) if ride.vehicle_id else None
    freed = None
    if old is not None and old.ride_id == ride.id:
        old.status, old.ride_id = VehicleStatus.available, None
        freed = old
    ride.vehicle_id, ride.assigned_at, ride.pickup_eta_s = vehicle.id, now, round(pickup_s)
    set_off(session, ride, vehicle)
    record(session, ride, "reassigned", vehicle_id=vehicle.id, pickup_eta_s=round(pickup_s))
    return freed


def withdraw(session: Session, ride: Ride) -> None:
    """Put back to dispatch an assigned ride whose vehicle can no longer come and none other could take."""
    ride.status, ride.vehicle_id, ride.pickup_eta_s = RideStatus.requested, None, None
    record(session, ride, "vehicle_withdrawn")
