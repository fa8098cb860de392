"""Charge points, their connectors' live state, charging sessions and commands waiting to be sent."""
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic import Field as Check
from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.dbtypes import JSONDoc, UTCDateTime, enum_column, utcnow


class LiveStatus(str, Enum):
    """What a connector reports over OCPP now; offline when its connection or heartbeats stop."""

    available = "available"
    occupied = "occupied"
    reserved = "reserved"
    unavailable = "unavailable"
    faulted = "faulted"
    offline = "offline"


# A charger in one of these cannot serve a slot: it leaves availability and its bookings may move.
DOWN = {LiveStatus.faulted, LiveStatus.offline}


class ChargePoint(SQLModel, table=True):
    """A charging station as it connects to the CSMS: its identity, password and connection."""
    __tablename__ = "charge_points"
    id: int = Field(default=None, primary_key=True)
    identity: str = Field(max_length=48, unique=True)
    site_id: int = Field(foreign_key="sites.id", index=True, ondelete="CASCADE")
    password_hash: str = Field(max_length=200)
    protocol: str | None = Field(default=None, max_length=16)
    vendor: str | None = Field(default=None, max_length=50)
    model: str | None = Field(default=None, max_length=50)
    booted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    connected: bool = Field(default=False)
    # The CSMS instance holding the connection; it refreshes last_seen_at while it does.
    owner: str | None = Field(default=None, max_length=100, index=True)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Connector(SQLModel, table=True):
    """One plug of a charge point, bound to the bookable charger resource it is."""
    __tablename__ = "charge_connectors"
    __table_args__ = (UniqueConstraint("charge_point_id", "evse_id", "connector_id",
                                       name="uq_charge_connectors_plug"),)
    id: int = Field(default=None, primary_key=True)
    charge_point_id: int = Field(foreign_key="charge_points.id", index=True, ondelete="CASCADE")
    resource_id: int = Field(foreign_key="resources.id", unique=True, ondelete="CASCADE")
    evse_id: int = Field(default=1, ge=1)
    connector_id: int = Field(default=1, ge=1)
    status: LiveStatus = Field(default=LiveStatus.unavailable, sa_type=enum_column(LiveStatus))
    status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    faults: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDoc)
    # The outage this connector's fault or silence opened, closed again when it is back.
    outage_id: int | None = Field(default=None, foreign_key="outages.id", ondelete="SET NULL")


class ChargingSession(SQLModel, table=True):
    """A booking's reservation and transaction on a connector, or a walk-in driver's transaction."""
    __tablename__ = "charging_sessions"
    __table_args__ = (Index("ix_charging_sessions_transaction", "connector_id", "transaction_id"),)
    id: int = Field(default=None, primary_key=True)
    connector_id: int = Field(foreign_key="charge_connectors.id", index=True, ondelete="CASCADE")
    booking_id: int | None = Field(default=None, foreign_key="bookings.id", unique=True)
    id_token: str | None = Field(default=None, max_length=20, index=True)
    reservation: str | None = Field(default=None, max_length=16)
    remote_start: str | None = Field(default=None, max_length=16)
    transaction_id: str | None = Field(default=None, max_length=36)
    status: str = Field(default="planned", max_length=16)  # planned, charging, ended, settled
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The last moment the meter advanced: idle time runs from here to the plug being freed.
    last_energy_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unplugged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    meter_start_wh: float | None = None
    meter_wh: float | None = None
    power_w: float | None = None
    # A fleet vehicle's session: when dispatch needs it back and the energy it asked for.
    needed_by: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wanted_wh: float | None = None
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def energy_kwh(self) -> float:
        if self.meter_start_wh is None or self.meter_wh is None:
            return 0.0
        return max(0.0, self.meter_wh - self.meter_start_wh) / 1000


class ChargerCommand(SQLModel, table=True):
    """A call the platform wants a charge point to receive; recorded before it is sent."""
    __tablename__ = "charger_commands"
    __table_args__ = (Index("ix_charger_commands_pending", "status", "charge_point_id"),)
    id: int = Field(default=None, primary_key=True)
    charge_point_id: int = Field(foreign_key="charge_points.id", ondelete="CASCADE")
    session_id: int | None = Field(default=None, foreign_key="charging_sessions.id", ondelete="CASCADE")
    action: str = Field(max_length=32)  # reserve, cancel_reservation, start, stop, profile
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)  # a profile's schedule
    status: str = Field(default="pending", max_length=16)  # pending, sent, accepted, rejected, failed
    answer: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChargerBinding(BaseModel):
    """What a site operator sets to put a charger resource on the line."""
    ocpp_identity: str = Check(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._-]+$")
    evse_id: int = Check(default=1, ge=1, le=100)
    connector_id: int = Check(default=1, ge=1, le=10)
    password: str | None = Check(default=None, min_length=16, max_length=40,
                                 description="HTTP Basic password (OCPP security profile 1); "
                                             "required when the identity is new")


class LiveSession(SQLModel):
    """A booking's charge as the charger reports it: reservation, start, energy, power and cost so far."""

    status: str
    reservation: str | None
    remote_start: str | None
    energy_kwh: float
    power_kw: float | None
    cost_so_far_fen: int
    started_at: datetime | None
    last_energy_at: datetime | None
    ended_at: datetime | None


class ConnectorSession(SQLModel):
    """The session on a connector now, as its site operator sees it."""
    status: str = Field(description="planned (reserved), charging, or ended while the car is still plugged in")
    booking_id: int | None = Field(description="none for a driver who plugged in without a booking")
    fleet: bool = Field(description="a fleet vehicle's charge, shaped by the site's charging profiles")
    energy_kwh: float
    power_kw: float | None = Field(description="as the meter last reported it")
    limit_kw: float | None = Field(description="a fleet charge's profile limit now; none for full power")
    since: datetime | None = Field(description="when the charge started")


class Fault(SQLModel):
    """An error a charger reported (StatusNotification Faulted, NotifyEvent problem)."""
    at: datetime
    error: str


class ChargerState(SQLModel):
    """A connector as its site operator sees it: live status, current session, last faults."""
    resource_id: int
    ocpp_identity: str
    evse_id: int
    connector_id: int
    live_status: LiveStatus | None
    status_at: datetime | None
    protocol: str | None
    session: ConnectorSession | None
    faults: list[Fault] = Field(description="newest first")


class SiteChargers(SQLModel):
    """A site's chargers on the line and the power cap they share."""
    site_id: int
    power_cap_kw: float | None = Field(description="fleet charging is held under it; none: no cap")
    items: list[ChargerState]


class PowerCap(BaseModel):
    """The most power a site may draw (kW); null removes the cap."""
    power_cap_kw: float | None = Check(ge=1, le=100_000)
