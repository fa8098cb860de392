"""The embedded default's robotaxis: simulated vehicles that drive to pickups and drop-offs.

They report through the same services a real fleet uses (telemetry, vehicle events), so the
dispatcher, the ride stream and payments behave as in production. Time runs `speedup` times
faster than the clock so a demo ride takes a minute or two.
"""
import threading

import numpy as np
from sqlmodel import Session, select

from backend.accounts.tokens import Principal
from backend.db import write_transaction
from backend.dbtypes import utcnow
from robotaxi_dispatch.engine.chongqing import to_lat_lon, to_xy
from robotaxi_dispatch.rides import fleet
from robotaxi_dispatch.rides.models import Ride, TelemetryRow, Vehicle, VehicleStatus

SPEED_MPS = 9.0
ARRIVED_M = 40.0
FLEET_OPERATOR = Principal(user_id=0, roles=frozenset({"admin"}), organisation_ids=frozenset())


class DemoFleet:
    """Moves every vehicle of some regions one step at a time."""

    def __init__(self, engine, redis, gateway, *, regions=("liangjiang", "yongchuan"), speedup: float = 10.0,
                 seed: int = 7):
        self.engine, self.redis, self.gateway = engine, redis, gateway
        self.regions, self.speedup, self.rng = regions, speedup, np.random.default_rng(seed)

    def _target(self, session: Session, vehicle: Vehicle) -> tuple[float, float] | None:
        ride = session.get(Ride, vehicle.ride_id) if vehicle.ride_id else None
        if ride is None:
            return None
        if vehicle.status == VehicleStatus.dispatched.value:
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
                x, y = to_xy(vehicle.lat, vehicle.lon)
                target = self._target(session, vehicle)
                if target is None:  # cruising: drift a little so positions stay fresh
                    x, y = x + self.rng.normal(0, 20), y + self.rng.normal(0, 20)
                else:
                    tx, ty = to_xy(*target)
                    gap = float(np.hypot(tx - x, ty - y))
                    share = min(1.0, reach / gap) if gap else 1.0
                    x, y = x + (tx - x) * share, y + (ty - y) * share
                    if gap <= reach + ARRIVED_M:
                        arrivals.append(vehicle)
                lat, lon = to_lat_lon(x, y)
                rows.append(TelemetryRow(vehicle_id=vehicle.id, lat=float(lat), lon=float(lon),
                                         speed_mps=SPEED_MPS, soc=max(20.0, (vehicle.soc or 90) - 0.01),
                                         ts=utcnow()))
            if rows:
                fleet.ingest_telemetry(session, self.redis, principal=FLEET_OPERATOR, rows=rows)
            for vehicle in arrivals:
                self._arrive(session, vehicle)
            for vehicle in vehicles:
                self._charge(session, vehicle)

    def _arrive(self, session: Session, vehicle: Vehicle) -> None:
        """Report arrival: at the pickup the rider boards at once; at the drop-off they leave."""
        events = (["arrived_pickup", "picked_up"] if vehicle.status == VehicleStatus.dispatched.value
                  else ["dropped_off"])
        for name in events:
            fleet.vehicle_event(session, self.gateway, self.redis, principal=FLEET_OPERATOR,
                                vehicle_id=vehicle.id, event=name)

    def _charge(self, session: Session, vehicle: Vehicle) -> None:
        """Charge in place: plug in, then come back full and in service."""
        if vehicle.status == VehicleStatus.to_charger.value:
            fleet.vehicle_event(session, self.gateway, self.redis, principal=FLEET_OPERATOR,
                                vehicle_id=vehicle.id, event="charging_started")
        elif vehicle.status == VehicleStatus.charging.value:
            with write_transaction(session):
                session.get(Vehicle, vehicle.id).soc = 95.0
            fleet.vehicle_event(session, self.gateway, self.redis, principal=FLEET_OPERATOR,
                                vehicle_id=vehicle.id, event="charged")

    def run(self, stop: threading.Event, every_s: float = 1.0) -> None:
        """Drive until stopped."""
        while not stop.wait(every_s):
            self.step(every_s)
