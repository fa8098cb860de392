"""Vehicles, rides and ride events, with their public shapes."""
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import ForeignKey, Index
from sqlmodel import Field, SQLModel

from backend.dbtypes import DbId, JSONDoc, Moment, UTCDateTime, enum_column, utcnow
from backend.geo import Point
from backend.i18n import CityTime
from backend.money import Money
from payments.models import PaymentPublic


class RideStatus(str, Enum):
    """(scheduled ->) requested -> assigned -> arriving -> in_progress -> completed, or cancelled, no_vehicle."""

    scheduled = "scheduled"  # booked ahead: waits for its release to dispatch
    requested = "requested"
    assigned = "assigned"
    arriving = "arriving"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"
    no_vehicle = "no_vehicle"


TERMINAL = {RideStatus.completed, RideStatus.cancelled, RideStatus.no_vehicle}
ACTIVE = {RideStatus.assigned, RideStatus.arriving, RideStatus.in_progress}


class VehicleStatus(str, Enum):
    """In service (available, rebalancing), serving a ride (dispatched, on_trip) or out of service."""

    available = "available"      # in service, free to be matched
    rebalancing = "rebalancing"  # in service, driving toward forecast demand; may be matched
    dispatched = "dispatched"    # driving to a pickup
    on_trip = "on_trip"          # carrying riders
    to_charger = "to_charger"    # out of service, driving to charge
    charging = "charging"
    to_depot = "to_depot"
    pulled_over = "pulled_over"
    fault = "fault"


class Vehicle(SQLModel, table=True):
    __tablename__ = "vehicles"
    __table_args__ = (Index("ix_vehicles_region_status", "region", "status"),
                      Index("ix_vehicles_lat_lon", "lat", "lon"))
    id: int = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    plate: str = Field(max_length=16, unique=True)
    model: str = Field(max_length=64)
    seats: int
    region: str = Field(max_length=32)
    status: VehicleStatus = Field(default=VehicleStatus.available, sa_type=enum_column(VehicleStatus))
    # Rides and vehicles point at each other: this key is added after both tables exist.
    ride_id: int | None = Field(default=None, sa_column_args=[
        ForeignKey("rides.id", name="fk_vehicles_ride_id", use_alter=True, ondelete="SET NULL")])
    # Last known position, persisted by the dispatcher from the telemetry stream.
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    speed_mps: float | None = None
    soc: float | None = None
    position_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Out of service to charge: the slot booked for it and where that station is; or where
    # rebalancing sends it.
    charge_booking_id: int | None = None
    target_lat: float | None = None
    target_lon: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Ride(SQLModel, table=True):
    __tablename__ = "rides"
    __table_args__ = (Index("ix_rides_region_status", "region", "status"),
                      Index("ix_rides_region_pickup_at", "region", "pickup_at"))
    id: int = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    status: RideStatus = Field(default=RideStatus.requested, sa_type=enum_column(RideStatus))
    region: str = Field(max_length=32)
    pickup_lat: float
    pickup_lon: float
    dropoff_lat: float
    dropoff_lon: float
    passengers: int
    distance_m: int
    trip_s: int
    quoted_fare_fen: int
    authorised_fen: int
    fare_fen: int | None = None
    cancellation_fee_fen: int | None = None
    currency: str = Field(default="CNY", max_length=3)
    payment_status: str = Field(default="none", max_length=24)
    vehicle_id: int | None = Field(default=None, index=True, sa_column_args=[
        ForeignKey("vehicles.id", name="fk_rides_vehicle_id", ondelete="SET NULL")])
    # The X-Request-ID of the call that created it: the dispatcher logs the assignment under it.
    request_id: str | None = Field(default=None, max_length=64)
    pickup_eta_s: int | None = None
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Booked ahead: when the rider wants to be picked up, and when the ride went to dispatch.
    pickup_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    picked_up_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RideEvent(SQLModel, table=True):
    """One change of a ride, in order: what the SSE stream and the audit trail replay."""

    __tablename__ = "ride_events"
    id: int = Field(default=None, primary_key=True)
    ride_id: int = Field(foreign_key="rides.id", index=True, ondelete="CASCADE")
    status: RideStatus = Field(sa_type=enum_column(RideStatus))
    reason: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RideRequest(SQLModel):
    """Where to be picked up and dropped off, how many ride and, booked ahead, when."""

    pickup: Point
    dropoff: Point
    passengers: int = Field(default=1, ge=1, le=6)
    pickup_at: Moment | None = Field(default=None, description="book ahead: RFC 3339 with offset, "
                                     "30 minutes to 7 days from now, inside service hours")


class RideHome(SQLModel):
    """Where a ticket holder goes after the event (picked up at the venue when it ends)."""

    dropoff: Point
    passengers: int = Field(default=1, ge=1, le=6)


class RideCancellationTerms(SQLModel):
    """What cancelling costs: free until the car is close (booked ahead: until `free_until`), then a fixed fee."""

    free_until_pickup_eta_s: int
    fee: Money
    summary: str
    free_until: CityTime | None = Field(default=None, description="booked rides: free to cancel until then")


class RideQuote(SQLModel):
    """A ride's fare, trip and pickup estimate."""

    fare: Money
    fare_breakdown: dict[str, int]
    distance_m: int
    trip_s: int
    pickup_eta_s: int | None
    service_area: str
    cancellation: RideCancellationTerms | None = None


class VehicleView(SQLModel):
    """The vehicle serving a ride, as its rider sees it."""

    id: int
    plate: str
    position: Point | None


class RidePublic(SQLModel):
    """A ride with its vehicle, fares and payment."""

    id: int
    status: RideStatus
    pickup: Point
    dropoff: Point
    passengers: int
    fare: Money
    final_fare: Money | None
    cancellation_fee: Money | None
    distance_m: int
    trip_s: int
    pickup_eta_s: int | None
    vehicle: VehicleView | None
    requested_at: CityTime
    pickup_at: CityTime | None = Field(default=None, description="booked ahead: when the rider is picked up")
    cancellation: RideCancellationTerms | None = Field(default=None, description="null once it cannot be cancelled")
    payment: PaymentPublic | None = None


class VehicleCreate(SQLModel):
    """A vehicle to register."""

    plate: str = Field(min_length=2, max_length=16)
    model: str = Field(default="apollo-rt6", max_length=64)
    seats: int = Field(default=4, ge=1, le=8)
    region: str = Field(max_length=32)


class VehiclePublic(SQLModel):
    """A vehicle of the fleet with status, battery and last position."""

    id: int
    plate: str
    model: str
    seats: int
    region: str
    status: VehicleStatus
    ride_id: int | None
    position: Point | None
    soc: float | None
    position_at: CityTime | None


# A plain pydantic model, not a SQLModel: a batch brings thousands of rows, and SQLModel's own
# `__init__` on each one was most of a batch's validation (its docstring is the spec's description).
class TelemetryRow(BaseModel):
    """One vehicle's position and battery at a moment."""

    vehicle_id: DbId
    lat: float = PydanticField(ge=-90, le=90)
    lon: float = PydanticField(ge=-180, le=180)
    heading: float | None = PydanticField(default=None, ge=0, lt=360)
    speed_mps: float | None = PydanticField(default=None, ge=0, le=80)
    soc: float | None = PydanticField(default=None, ge=0, le=100)
    ts: Moment = PydanticField(description="RFC 3339 with offset")
