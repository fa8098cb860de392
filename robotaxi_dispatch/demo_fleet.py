"""The embedded default's robotaxis: simulated vehicles that drive to pickups and drop-offs.

They report through the same services a real fleet uses (telemetry, vehicle events), so the
dispatcher, the ride stream and payments behave as in production. Time runs `speedup` times
faster than the clock so a demo ride takes a minute or two.
"""
import logging
import threading

import numpy as np
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import DomainError
from robotaxi_dispatch.charging import ChargingDesk
from robotaxi_dispatch.engine.chongqing import to_lat_lon, to_xy
from robotaxi_dispatch.rides import fleet
from robotaxi_dispatch.rides.models import Ride, TelemetryRow, Vehicle, VehicleStatus

SPEED_MPS = 9.0
ARRIVED_M = 40.0
BATTERY_KWH = 60.0
DRAIN_PER_KM = 0.5    # % of the battery per kilometre driven
FULL_SOC = 95.0

log = logging.getLogger(__name__)


class DemoFleet:
    """Moves every vehicle of some regions one step at a time."""

    def __init__(self, engine, redis, gateway, *, regions=("liangjiang", "yongchuan"), speedup: float = 10.0,
                 seed: int = 7, charging: ChargingDesk | None = None):
        self.engine, self.redis, self.gateway, self.charging = engine, redis, gateway, charging
        self.regions, self.speedup, self.rng = regions, speedup, np.random.default_rng(seed)
        # Where each vehicle is and its battery, as a real fleet knows it: the rows follow the
        # telemetry only in batches (write-behind), so they may be a few seconds behind.
        self.where: dict[int, tuple[float, float, float]] = {}

    def _target(self, session: Session, vehicle: Vehicle) -> tuple[float, float] | None:
        if vehicle.status == VehicleStatus.to_charger:
            # Unbooked, it charges where it is; booked, it drives to the station.
            if vehicle.target_lat is None or vehicle.target_lon is None:
                return self.where[vehicle.id][:2]
            return vehicle.target_lat, vehicle.target_lon
        if vehicle.status == VehicleStatus.rebalancing:
            assert vehicle.target_lat is not None and vehicle.target_lon is not None  # set with the status
            return vehicle.target_lat, vehicle.target_lon
        ride = session.get(Ride, vehicle.ride_id) if vehicle.ride_id else None
        if ride is None:
            return None
        if vehicle.status == VehicleStatus.dispatched:
            return ride.pickup_lat, ride.pickup_lon
        return ride.dropoff_lat, ride.dropoff_lon

    def step(self, seconds: float) -> None:
        """Advance the fleet by `seconds` of wall time."""
        reach = SPEED_MPS * seconds * self.speedup
        with Session(self.engine, expire_on_commit=False) as session:
            vehicles = session.exec(select(Vehicle).where(Vehicle.region.in_(self.regions),
                                                          Vehicle.lat.is_not(None))).all()
            rows, arrivals = [], []
            for vehicle in vehicles:
                assert vehicle.lat is not None and vehicle.lon is not None  # placed vehicles only
                here = self.where.setdefault(vehicle.id, (vehicle.lat, vehicle.lon, vehicle.soc or 90))
                x, y = to_xy(*here[:2])
                target = self._target(session, vehicle)
                if target is None:  # cruising: drift a little so positions stay fresh
                    nx, ny = x + self.rng.normal(0, 20), y + self.rng.normal(0, 20)
                else:
                    tx, ty = to_xy(*target)
                    gap = float(np.hypot(tx - x, ty - y))
                    share = min(1.0, reach / gap) if gap else 1.0
                    nx, ny = x + (tx - x) * share, y + (ty - y) * share
                    if gap <= reach + ARRIVED_M:
                        arrivals.append(vehicle)
                lat, lon = to_lat_lon(nx, ny)
                soc = max(1.0, here[2] - DRAIN_PER_KM * float(np.hypot(nx - x, ny - y)) / 1000)
                self.where[vehicle.id] = (float(lat), float(lon), soc)
                rows.append(TelemetryRow(vehicle_id=vehicle.id, lat=float(lat), lon=float(lon),
                                         speed_mps=SPEED_MPS, soc=soc, ts=utcnow()))
            if rows:
                fleet.ingest_telemetry(session, self.redis, principal=fleet.PLATFORM, rows=rows)
            for vehicle in arrivals:
                self._arrive(session, vehicle)
            for vehicle in vehicles:
                if vehicle.status == VehicleStatus.charging:
                    self._charge(session, vehicle)

    def _report(self, session: Session, vehicle: Vehicle, event: str, **extra) -> bool:
        try:
            fleet.vehicle_event(session, self.gateway, self.redis, principal=fleet.PLATFORM,
                                vehicle_id=vehicle.id, event=event, charging=self.charging, **extra)
        except DomainError as exc:  # for example early for its charging slot: it waits and tries again
            log.info("vehicle %s: %s refused (%s)", vehicle.id, event, exc.code)
            return False
        return True

    def _arrive(self, session: Session, vehicle: Vehicle) -> None:
        """Report arrival: at a pickup the rider boards at once, at a drop-off they leave, at a charger it
        plugs in, where rebalancing sent it it waits."""
        events = {VehicleStatus.dispatched: ["arrived_pickup", "picked_up"],
                  VehicleStatus.to_charger: ["charging_started"],
                  VehicleStatus.rebalancing: ["rebalanced"]}.get(vehicle.status, ["dropped_off"])
        for name in events:
            if not self._report(session, vehicle, name):
                return

    def _charge(self, session: Session, vehicle: Vehicle) -> None:
        """Charge to full in one step and report the energy delivered."""
        lat, lon, soc = self.where[vehicle.id]
        energy = BATTERY_KWH * max(0.0, FULL_SOC - soc) / 100
        self.where[vehicle.id] = (lat, lon, FULL_SOC)
        with write_transaction(session):
            session.get_one(Vehicle, vehicle.id).soc = FULL_SOC
        self._report(session, vehicle, "charged", energy_kwh=round(energy, 2))

    def run(self, stop: threading.Event, every_s: float = 1.0) -> None:
        """Drive until stopped."""
        while not stop.wait(every_s):
            self.step(every_s)
