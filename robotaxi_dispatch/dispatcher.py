"""The dispatcher of one region: each tick, match the open rides to the free vehicles.

The database is the record of rides and vehicles; the region's Redis Streams carry telemetry
and new requests through a consumer group, acknowledged only once a tick has committed what
they caused. The fleet index is loaded from the database once, then follows the telemetry
stream (positions, and status notes from vehicle events and cancelled rides), with a full
reload every minute in case Redis lost a note. A dispatcher holds the region's leader lease
while it works; killed and restarted, it reads its unacknowledged entries again and the open
rides from the database, so no request is lost.

Every `REBALANCE_EVERY` ticks, unless the region's operators switched it off
(`flask dispatch rebalancing REGION off`), idle vehicles are sent toward zones whose demand,
forecast from the requests this dispatcher has seen and from the region's rides of the past
week at the same hour (read once a local day), outruns them (`engine.rebalancing`).
The plan is worked out in a background thread, between ticks, from a snapshot of the idle
vehicles and the forecast taken once a tick has matched, so no tick waits for it; the first tick
after it is ready sends the moves, less those of vehicles matched meanwhile. A rebalancing
vehicle heads for its target and may still be matched on the way. Demand known ahead (rides
booked for the next half hour, people leaving events) is added to the forecast
(`rides.scheduled.known_demand`), so vehicles are there before it.

A ride booked ahead reaches the dispatcher when the scheduler releases it; it goes to no
vehicle that would arrive too early (`engine.booked`), its rider is told once one sets off, and
its wait counts from its release for priority, and from its pickup time for giving up.

Each tick reports to Prometheus: how long it took, how old the oldest stream entry it consumed
was (how far the dispatcher runs behind its streams), and how many paid requests still wait.
"""
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from copy import deepcopy
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial

import numpy as np
import redis
from prometheus_client import Gauge, Histogram
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from backend import logs
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import DomainError
from payments.runner import run_after_commit
from robotaxi_dispatch import streams
from robotaxi_dispatch.charging import ChargingDesk
from robotaxi_dispatch.engine import booked, rebalancing
from robotaxi_dispatch.engine.chongqing import to_lat_lon, to_xy
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, OUT_OF_SERVICE, FleetIndex
from robotaxi_dispatch.engine.matcher import (
    Finishing,
    OpenRequests,
    ServiceCosts,
    assign_rides,
    candidates,
    finishing_candidates,
    join,
    keep_edges,
)
from robotaxi_dispatch.rides import fares, fleet, positions, reassign, scheduled
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus
from robotaxi_dispatch.rides.services import AUTHORISED, ETA, record, settle

log = logging.getLogger(__name__)
TICK_S = 2.0
LEASE_MS = 10_000
MAX_PICKUP_S = 900
SERVICE = ServiceCosts(unserved_s=MAX_PICKUP_S)  # a rider who has waited longer is served first
NO_VEHICLE_AFTER = timedelta(minutes=10)
CHARGE_BELOW_SOC = 20.0  # a free vehicle below this goes to charge instead of taking rides
RELOAD_EVERY = timedelta(seconds=60)
REBALANCING = rebalancing.Limits()
REBALANCE_EVERY = int(REBALANCING.every_s // TICK_S)
MATCHABLE = (VehicleStatus.available, VehicleStatus.rebalancing)
FLUSH_EVERY = timedelta(seconds=10)  # telemetry positions reach the rows this often (readers use Redis)

TICK_SECONDS = Histogram("dispatch_tick_seconds", "Duration of a dispatcher tick", ["region"],
                         buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0))
# Standbys hold no lease and set nothing: the live process that set a gauge last is the leader.
STREAM_LAG = Gauge("dispatch_stream_lag_seconds", "Age of the oldest stream entry the last tick consumed",
                   ["region", "stream"], multiprocess_mode="livemostrecent")
OPEN_REQUESTS = Gauge("dispatch_open_requests", "Paid ride requests still waiting for a vehicle after the last tick",
                      ["region"], multiprocess_mode="livemostrecent")


def _lag_s(entries: list[tuple[str, dict]]) -> float:
    """Return how long ago (Redis's clock, in the entry id) the oldest entry was added; 0 without entries."""
    if not entries:
        return 0.0
    oldest_ms = min(int(entry_id.split("-")[0]) for entry_id, _ in entries)
    return max(0.0, time.time() - oldest_ms / 1000)


def _codes(statuses) -> np.ndarray:
    """Return the index's status codes: only available and rebalancing vehicles may be matched."""
    return np.array([AVAILABLE if s in MATCHABLE else OUT_OF_SERVICE for s in statuses])


def _waiting_since(ride: Ride) -> datetime:
    """Return since when a rider waits for a vehicle: the request, or for a booked ride its release or time."""
    if ride.pickup_at is None:
        return ride.requested_at
    return max(ride.released_at or ride.pickup_at, ride.pickup_at)


@dataclass
class Promised:
    """Rides assigned but not picked up, their vehicles and the seconds these still need to reach them."""
    rides: list[Ride]
    vehicles: np.ndarray     # vehicle id of each ride
    remaining_s: np.ndarray  # NaN where the vehicle can no longer come (out of service, or unheard of)
    waiting: np.ndarray      # vehicles free since their drop-off, not yet started on the ride they queued

    @classmethod
    def of(cls, rides: list[Ride], vehicles: dict[int, tuple], dropoffs: dict[int, tuple[float, float]],
           index: FleetIndex, hour: int) -> "Promised":
        """Work out how far each ride's vehicle is: to the pickup, or through its own trip's drop-off first."""
        ids = np.array([r.vehicle_id or 0 for r in rides], dtype=np.int64)
        via, coming, waiting = [], [], []
        for ride in rides:
            status, serving = vehicles.get(ride.vehicle_id or 0, (None, None))
            free = status in MATCHABLE and serving is None
            on_trip = status == VehicleStatus.on_trip and serving in dropoffs
            via.append(dropoffs[serving] if on_trip else (ride.pickup_lat, ride.pickup_lon))
            coming.append(free or on_trip or (status == VehicleStatus.dispatched and serving == ride.id))
            waiting += [ride.vehicle_id] * free
        can = np.array(coming, dtype=bool) & index.known(ids)
        remaining = np.full(len(rides), np.nan)
        if can.any():
            slots = index.slots_of(ids[can])
            vx, vy = to_xy(*np.array(via, dtype=np.float64)[can].T)
            px, py = to_xy(*np.array([(r.pickup_lat, r.pickup_lon) for r in rides])[can].T)
            remaining[can] = (ETA.seconds(index.x[slots], index.y[slots], vx, vy, hour=hour)
                              + ETA.seconds(vx, vy, px, py, hour=hour))
        return cls(rides, ids, remaining, np.array(waiting, dtype=np.int64))


def _finishing(free_after: list[tuple[int, tuple[float, float]]], index: FleetIndex, hour: int) -> Finishing:
    """Return the vehicles (id, drop-off) that will drop off within the matcher's horizon, by the ETA model."""
    if not free_after:
        return Finishing(*(np.empty(0, np.int64),) + (np.empty(0),) * 4 + (np.empty(0, np.int8),))
    ids = np.array([vid for vid, _ in free_after], dtype=np.int64)
    slots = index.slots_of(ids)
    dx, dy = to_xy(*np.array([at for _, at in free_after], dtype=np.float64).T)
    left = ETA.seconds(index.x[slots], index.y[slots], dx, dy, hour=hour)
    soon = left <= SERVICE.finishing_within_s
    return Finishing(ids[soon], dx[soon], dy[soon], left[soon], index.soc[slots][soon], index.seats[slots][soon])


class Dispatcher:
    """Matches one region's open rides to its vehicles, tick after tick."""

    _loaded_at: datetime | None
    _flushed_at: datetime | None
    _seen_until: datetime | None
    _learned_on: date | None

    def __init__(self, engine, redis, gateway, *, region: str, owner: str | None = None,
                 charging: ChargingDesk | None = None):
        self.engine, self.redis, self.gateway, self.region = engine, redis, gateway, region
        self.charging = charging
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.index = FleetIndex(stale_after_s=120)
        # _starting: (re)join the streams before the next tick; _pending: re-read own unacked
        # entries; _loaded_at: when the index was last loaded whole from the database.
        self._starting, self._pending, self._loaded_at, self._flushed_at = True, True, None, None
        # Demand learnt from the requests seen (up to _seen_until); rebalancing vehicles' targets.
        self.forecast, self._seen_until = rebalancing.DemandForecast(REBALANCING.cell_m), None
        self._learned_on = None  # the local day the forecast last read the past days' rides
        self._heading: dict[int, tuple[float, float]] = {}
        self._ticks = 0
        # Rebalancing plans are computed here, one at a time, off the matching tick.
        self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rebalancing-{region}")
        self._plan: Future | None = None

    def _consume(self, key: str) -> list[tuple[str, dict]]:
        entries = streams.read_group(self.redis, key, self.owner, pending=self._pending)
        return entries + streams.claim_stale(self.redis, key, self.owner, min_idle_ms=LEASE_MS)

    def _load_fleet(self, session: Session, ids: Sequence[int] | None = None) -> None:
        """Load the region's vehicles (or some of them) from the database into the index."""
        # sqlmodel's select() is typed for up to four columns; it takes any number.
        query = select(Vehicle.id, Vehicle.lat, Vehicle.lon, Vehicle.seats, Vehicle.soc, Vehicle.status,  # type: ignore[call-overload]
                       Vehicle.position_at, Vehicle.target_lat, Vehicle.target_lon).where(
            Vehicle.region == self.region, Vehicle.lat.is_not(None))
        rows = session.exec(query if ids is None else query.where(Vehicle.id.in_(ids))).all()
        if not rows:
            return
        ids, lat, lon, seats, soc, status, seen, tlat, tlon = zip(*rows)
        self._note_heading(ids, status, tlat, tlon)
        self.index.upsert(np.array(ids), np.array(lat), np.array(lon),
                          ts=np.array([t.timestamp() for t in seen]), seats=np.array(seats),
                          soc=np.array([100.0 if s is None else s for s in soc]), status=_codes(status))

    def _note_heading(self, ids, statuses, tlat, tlon) -> None:
        """Remember where rebalancing vehicles head for, and forget the others."""
        for vid, status, lat, lon in zip(ids, statuses, tlat, tlon):
            if status == VehicleStatus.rebalancing and lat is not None:
                x, y = to_xy(lat, lon)
                self._heading[vid] = float(x), float(y)
            else:
                self._heading.pop(vid, None)

    def _follow_telemetry(self, session: Session, entries: list[tuple[str, dict]]) -> None:
        """Apply the stream's positions and status notes to the index, in order."""
        for _, fields in entries:
            if fields.get("kind") == "status":
                vid = int(fields["vehicle_id"])
                if self.index.known([vid])[0]:
                    self.index.set_status([vid], _codes([fields["status"]])[0])
                if fields["status"] != VehicleStatus.rebalancing:
                    self._heading.pop(vid, None)
                continue
            c = json.loads(fields["columns"])
            ids = np.array(c["id"], dtype=np.int64)
            fresh = ~self.index.known(ids)
            if fresh.any():  # first heard of: seats and status come from the row, once it has a position
                newcomers = ids[fresh].tolist()
                positions.flush(self.redis, session, self.region, newcomers)  # theirs only, not the region's
                self._load_fleet(session, newcomers)
            soc = np.array(c["soc"], dtype=np.float64)  # a missing battery level arrives as NaN
            soc[np.isnan(soc)] = 100.0
            self.index.upsert(ids, np.array(c["lat"]), np.array(c["lon"]), ts=np.array(c["ts"]), soc=soc)

    def _send_to_charge(self, session: Session, now: datetime) -> None:
        """Take free vehicles with a low battery out of service and send them to a booked charger."""
        low = self.index.ids[(self.index.status == AVAILABLE) & (self.index.soc < CHARGE_BELOW_SOC)].tolist()
        for vehicle_id in low:
            try:
                fleet.vehicle_event(session, self.gateway, self.redis, principal=fleet.PLATFORM,
                                    vehicle_id=vehicle_id, event="go_charge", now=now, charging=self.charging)
            except DomainError as exc:  # its status changed since the index heard: the note is on its way
                log.info("dispatch %s: vehicle %s not sent to charge (%s)", self.region, vehicle_id, exc.code)
        self.index.set_status(low, OUT_OF_SERVICE)  # not matched this tick either way

    def step(self, now: datetime | None = None) -> dict:
        """Run one tick: consume the streams, match, commit, then acknowledge."""
        started = time.perf_counter()
        now = now or utcnow()
        if self._starting:  # first tick, or Redis came back (maybe empty): groups, pending entries, fleet
            streams.ensure_groups(self.redis, self.region)
            self._pending, self._loaded_at, self._starting = True, None, False
        telemetry = self._consume(streams.telemetry_key(self.region))
        requests = self._consume(streams.requests_key(self.region))
        self._pending = False
        STREAM_LAG.labels(self.region, "telemetry").set(_lag_s(telemetry))
        STREAM_LAG.labels(self.region, "requests").set(_lag_s(requests))
        with Session(self.engine, expire_on_commit=False) as session:
            reload = self._loaded_at is None or now - self._loaded_at > RELOAD_EVERY
            if reload or self._flushed_at is None or now - self._flushed_at >= FLUSH_EVERY:
                # The rows catch up with telemetry (write-behind) before anything here reads them.
                positions.flush(self.redis, session, self.region)
                self._flushed_at = now
            if reload:
                self._load_fleet(session)  # a full reload now and then heals any note Redis lost
                self._learn_past_days(session, now)
                self._loaded_at = now
            else:
                self._follow_telemetry(session, telemetry)
            self._send_to_charge(session, now)
            if self._plan is not None and self._plan.done():
                plan, self._plan = self._plan, None
                self._send_rebalancing(session, plan.result(), now)
            assigned, changed, lapsed, owed = self._match(session, now)
            run_after_commit(session, self.gateway, *owed)
            due = self._ticks % REBALANCE_EVERY == REBALANCE_EVERY - 1
            self._ticks += 1
            planning = (self._rebalancing_plan(session, now) if due and self._plan is None
                        and streams.rebalancing_on(self.redis, self.region) else None)
        streams.ack(self.redis, streams.telemetry_key(self.region), [e for e, _ in telemetry])
        streams.ack(self.redis, streams.requests_key(self.region), [e for e, _ in requests])
        for ride_id in assigned + changed + [r.id for r in lapsed]:
            streams.notify_ride(self.redis, self.region, ride_id)
        TICK_SECONDS.labels(self.region).observe(time.perf_counter() - started)
        if planning is not None:  # computed while the dispatcher waits for its next tick
            self._plan = self._planner.submit(planning)
        return {"assigned": len(assigned), "no_vehicle": len(lapsed)}

    def _observe(self, rides: list[Ride]) -> None:
        """Count the requests not seen before into the demand forecast."""
        new = [r for r in rides if self._seen_until is None or r.requested_at > self._seen_until]
        if new:
            x, y = to_xy([r.pickup_lat for r in new], [r.pickup_lon for r in new])
            self.forecast.observe(x, y, max(r.requested_at for r in new).timestamp())
            self._seen_until = max(r.requested_at for r in new)

    def _learn_past_days(self, session: Session, now: datetime) -> None:
        """Teach the forecast each hour's demand from the region's on-the-spot rides of the past days, once a day."""
        today = now.astimezone(fares.SHANGHAI).date()
        if self._learned_on == today:
            return
        self._learned_on = today
        since = datetime.combine(today - timedelta(days=rebalancing.PAST_DAYS), datetime.min.time(), fares.SHANGHAI)
        until = datetime.combine(today, datetime.min.time(), fares.SHANGHAI)
        rows = session.exec(select(Ride.requested_at, Ride.pickup_lat, Ride.pickup_lon).where(
            Ride.region == self.region, Ride.requested_at >= since, Ride.requested_at < until,
            Ride.pickup_at.is_(None))).all()  # booked rides reach the forecast as known demand
        if not rows:  # a region without a past: recent requests alone
            return
        local = [row[0].astimezone(fares.SHANGHAI) for row in rows]
        x, y = to_xy(np.array([row[1] for row in rows]), np.array([row[2] for row in rows]))
        # Days without a single ride are days the service did not run, not days nobody asked.
        self.forecast.learn_days(x, y, np.array([t.hour for t in local]), len({t.date() for t in local}))

    def _rebalancing_plan(self, session: Session, now: datetime) -> Callable[[], rebalancing.Moves]:
        """Return the rebalancing plan of this moment, to compute: on copies, so that ticks may go on meanwhile."""
        slots = self.index.dispatchable(now.timestamp())
        idle = slots[~np.isin(self.index.ids[slots], list(self._heading))]
        coming = np.array(list(self._heading.values())).reshape(-1, 2).T
        forecast = deepcopy(self.forecast)
        lat, lon, riders = scheduled.known_demand(session, region=self.region, now=now)
        forecast.expect(*to_xy(lat, lon), riders)
        vehicles = rebalancing.Vehicles(self.index.ids[idle], self.index.x[idle], self.index.y[idle])
        return partial(rebalancing.plan, forecast, vehicles, (coming[0], coming[1]), ETA, now=now.timestamp(),
                       hour=now.astimezone(fares.SHANGHAI).hour, limits=REBALANCING)

    def _send_rebalancing(self, session: Session, moves: rebalancing.Moves, now: datetime) -> None:
        """Send the planned moves of vehicles still idle: those matched or sent since are left out."""
        slots = self.index.dispatchable(now.timestamp())
        free = self.index.ids[slots]
        moves = rebalancing.still_free(moves, free[~np.isin(free, list(self._heading))])
        if not len(moves.ids):
            return
        lat, lon = to_lat_lon(moves.x, moves.y)
        sent = set(fleet.rebalance(session, moves=list(zip(moves.ids.tolist(), lat.tolist(), lon.tolist()))))
        for vid, x, y in zip(moves.ids.tolist(), moves.x.tolist(), moves.y.tolist()):
            if vid in sent:
                self._heading[vid] = (x, y)
        log.info("dispatch %s: %d vehicles sent rebalancing", self.region, len(sent))

    def _match(self, session: Session, now: datetime) -> tuple[list[int], list[int], list[Ride], list]:
        """Match open rides, and again those assigned but not picked up; return (assigned, changed, lapsed, owed)."""
        hour = now.astimezone(fares.SHANGHAI).hour
        with write_transaction(session):
            # Only rides whose fare is authorised are matched: an unpaid ride is never dispatched.
            rides = list(session.exec(select(Ride).where(
                Ride.region == self.region, Ride.status == RideStatus.requested,
                Ride.payment_status == AUTHORISED).order_by(Ride.requested_at).with_for_update()).all())
            promised, finishing = self._promised(session, hour)
            if not rides and not promised.rides:
                OPEN_REQUESTS.labels(self.region).set(0)
                return [], [], [], []
            self._observe(rides)
            every = rides + promised.rides
            plan = self._plan_rides(every, len(rides), promised, finishing, now, hour)
            by_id = {r.id: r for r in every}
            assigned, changed = self._apply(session, plan, by_id, promised, now)
            matched = set(assigned)
            lapsed = [r for r in rides if r.id not in matched and _waiting_since(r) <= now - NO_VEHICLE_AFTER]
            for ride in lapsed:
                ride.status, ride.ended_at = RideStatus.no_vehicle, now
                record(session, ride, "no_vehicle")
            owed = [settle(session, ride=ride, keep_fen=0) for ride in lapsed]
        OPEN_REQUESTS.labels(self.region).set(len(rides) - len(assigned) - len(lapsed))
        for ride_id in assigned:  # committed: each under the id of the request that created the ride
            ride = by_id[ride_id]
            with logs.bound(logs.request_id, ride.request_id):
                log.info("dispatch %s: ride %s assigned vehicle %s, pickup in %s s", self.region, ride.id,
                         ride.vehicle_id, ride.pickup_eta_s)
        return assigned, changed, lapsed, owed

    def _promised(self, session: Session, hour: int) -> tuple["Promised", Finishing]:
        """Return the rides assigned but not picked up, and the vehicles about to drop off with no ride queued."""
        rides = list(session.exec(select(Ride).where(Ride.region == self.region,
                                                     Ride.status == RideStatus.assigned)).all())
        carrying = session.exec(select(Ride.vehicle_id, Ride.id, Ride.dropoff_lat, Ride.dropoff_lon).where(
            Ride.region == self.region, Ride.status == RideStatus.in_progress)).all()
        trips = {vid: rid for vid, rid, _, _ in carrying if vid is not None}
        dropoffs = {rid: (lat, lon) for _, rid, lat, lon in carrying}
        ids = sorted({r.vehicle_id for r in rides if r.vehicle_id is not None} | set(trips))
        vehicles = {vid: (status, ride_id) for vid, status, ride_id in session.exec(
            select(Vehicle.id, Vehicle.status, Vehicle.ride_id).where(Vehicle.id.in_(ids))).all()} if ids else {}
        promised = Promised.of(rides, vehicles, dropoffs, self.index, hour)
        holding = set(promised.vehicles.tolist())
        free_after = [(vid, dropoffs[rid]) for vid, rid in trips.items()
                      if vid not in holding and self.index.known([vid])[0]]
        return promised, _finishing(free_after, self.index, hour)

    def _plan_rides(self, every: list[Ride], first_promised: int, promised: "Promised", finishing: Finishing,
                    now: datetime, hour: int):
        """Return the least-cost assignment of every ride: free and finishing vehicles, or a promised one's own."""
        requests = OpenRequests(
            ids=np.array([r.id for r in every]), lat=np.array([r.pickup_lat for r in every]),
            lon=np.array([r.pickup_lon for r in every]), passengers=np.array([r.passengers for r in every]),
            trip_m=np.array([float(r.distance_m) for r in every]))
        self.index.set_status(promised.waiting, OUT_OF_SERVICE)  # held for the rides they queued
        fresh = join(candidates(requests, self.index, ETA, now=now.timestamp(), hour=hour, k=10, radius_m=8000,
                                max_pickup_s=MAX_PICKUP_S),
                     finishing_candidates(requests, finishing, ETA, hour=hour, k=10, radius_m=8000,
                                          max_pickup_s=MAX_PICKUP_S, premium_s=SERVICE.finishing_premium_s))
        pickup_at = np.array([r.pickup_at.timestamp() if r.pickup_at else np.nan for r in every])
        coming = np.isfinite(promised.remaining_s)
        rows = first_promised + np.flatnonzero(coming)
        edges = join(booked.not_too_early(fresh, pickup_at, now.timestamp()),
                     keep_edges(rows, promised.vehicles[coming], promised.remaining_s[coming], SERVICE))
        waited = np.array([(now - (r.released_at or r.requested_at)).total_seconds() for r in every])
        return assign_rides(requests, edges,
                            unserved_s=SERVICE.unserved(waited, np.arange(len(every)) >= first_promised))

    def _apply(self, session: Session, plan, by_id: dict[int, Ride], promised: "Promised",
               now: datetime) -> tuple[list[int], list[int]]:
        """Carry out a plan in the tick's transaction; return the rides newly assigned, and every ride changed."""
        was = dict(zip([r.id for r in promised.rides], promised.vehicles.tolist()))
        waiting = set(promised.waiting.tolist())
        assigned, changed = [], []
        for ride_id, vehicle_id, pickup_s in zip(plan.request_ids.tolist(), plan.vehicle_ids.tolist(),
                                                 plan.pickup_s.tolist()):
            ride = by_id[ride_id]
            if ride_id not in was:
                done = self._assign(session, ride, vehicle_id, pickup_s, now)
                assigned += [ride_id] * done
            elif vehicle_id != was[ride_id]:
                done = self._hand_over(session, ride, was[ride_id], vehicle_id, pickup_s, now)
            else:
                done = vehicle_id in waiting and self._set_off(session, ride, vehicle_id, pickup_s)
            changed += [ride_id] * done
        kept = set(plan.request_ids.tolist())
        for ride, remaining in zip(promised.rides, promised.remaining_s.tolist()):
            if np.isnan(remaining) and ride.id not in kept:  # its vehicle cannot come and no other could
                reassign.withdraw(session, ride)
                changed.append(ride.id)
        return assigned, changed

    def _assign(self, session: Session, ride: Ride, vehicle_id: int, pickup_s: float, now: datetime) -> bool:
        """Give an open ride to a vehicle, free or about to drop off; tell whether it could take it."""
        vehicle = fleet.locked_vehicle(session, vehicle_id)
        if not reassign.can_take(vehicle):
            return False  # taken out of service since the index was loaded: next tick
        ride.status, ride.vehicle_id, ride.assigned_at = RideStatus.assigned, vehicle.id, now
        ride.pickup_eta_s = round(pickup_s)
        reassign.set_off(session, ride, vehicle)
        self._taken(vehicle.id)
        record(session, ride, "assigned", vehicle_id=vehicle.id, pickup_eta_s=round(pickup_s))
        return True

    def _hand_over(self, session: Session, ride: Ride, old_id: int, vehicle_id: int, pickup_s: float,
                   now: datetime) -> bool:
        """Move an assigned ride to a vehicle that would arrive much sooner; tell whether it moved."""
        ride = reassign.locked_ride(session, ride.id)
        vehicle = fleet.locked_vehicle(session, vehicle_id)
        if ride.status != RideStatus.assigned or ride.vehicle_id != old_id or not reassign.can_take(vehicle):
            return False  # picked up, cancelled or the vehicle withdrawn meanwhile: next tick
        freed = reassign.hand_over(session, ride, vehicle, pickup_s=pickup_s, now=now)
        self._taken(vehicle.id)
        if freed is not None:
            self.index.set_status([freed.id], AVAILABLE)
        log.info("dispatch %s: ride %s handed from vehicle %s to %s", self.region, ride.id, old_id, vehicle_id)
        return True

    def _set_off(self, session: Session, ride: Ride, vehicle_id: int, pickup_s: float) -> bool:
        """Start a vehicle that has dropped off on the ride queued for it; tell whether it set off."""
        ride = reassign.locked_ride(session, ride.id)
        vehicle = fleet.locked_vehicle(session, vehicle_id)
        if ride.status != RideStatus.assigned or ride.vehicle_id != vehicle_id or vehicle.ride_id is not None:
            return False
        if not reassign.set_off(session, ride, vehicle):
            return False
        ride.pickup_eta_s = round(pickup_s)
        self._taken(vehicle_id)
        record(session, ride, "vehicle_on_its_way", vehicle_id=vehicle_id, pickup_eta_s=round(pickup_s))
        return True

    def _taken(self, vehicle_id: int) -> None:
        """Stop offering a vehicle that now serves a ride (and forget where it was rebalancing to)."""
        self._heading.pop(vehicle_id, None)
        self.index.set_status([vehicle_id], OUT_OF_SERVICE)

    def run(self, stop: threading.Event) -> None:
        """Dispatch while holding the region's lease, until stopped; outages are waited out."""
        while not stop.is_set():
            try:
                if streams.acquire_lease(self.redis, self.region, self.owner, LEASE_MS):
                    self.step()
            except (redis.RedisError, OperationalError) as exc:  # an outage: wait, start afresh once back
                log.warning("dispatch %s: waiting for Redis or the database: %s", self.region, exc)
                self._starting = True
            except Exception:  # a bug must not stop dispatch for the whole region
                log.exception("dispatch %s: tick failed, retrying", self.region)
                self._starting = True
            stop.wait(TICK_S)
        self._planner.shutdown(wait=False, cancel_futures=True)
        try:
            streams.release_lease(self.redis, self.region, self.owner)
        except redis.RedisError:
            log.warning("dispatch %s: lease left to expire", self.region)
