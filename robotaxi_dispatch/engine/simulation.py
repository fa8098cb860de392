"""A fleet simulation over time, to compare matching policies on the same demand.

Vehicles drive straight at the ETA model's hourly speed (road length from the ETA model), so
pickups and trips take as long as the dispatcher expects. Requests come from the hotspots with
a daily profile and give up after the wait limit.
"""
from dataclasses import dataclass, field

import numpy as np

from robotaxi_dispatch.engine import synthetic
from robotaxi_dispatch.engine.chongqing import to_lat_lon, to_xy
from robotaxi_dispatch.engine.eta import SPEED_BY_HOUR, BridgeAwareEta
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, ON_TRIP, FleetIndex
from robotaxi_dispatch.engine.matcher import OpenRequests, assign_greedy, assign_rides, candidates

# Requests per vehicle per hour by local hour: morning and evening peaks.
DEMAND_PROFILE = np.array([0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.4, 1.6, 1.0, 0.8, 0.9, 1.0,
                           0.9, 0.8, 0.9, 1.1, 1.6, 1.7, 1.2, 1.0, 0.8, 0.5, 0.2])
TICK_S, GIVE_UP_S, MAX_PICKUP_S = 30, 600, 900


@dataclass
class Outcome:
    requests: int = 0
    served: int = 0
    waits: list = field(default_factory=list)
    empty_m: float = 0.0
    busy_s: float = 0.0
    fleet_s: float = 0.0

    def summary(self) -> dict:
        waits = np.array(self.waits) if self.waits else np.array([np.nan])
        return {"requests": self.requests, "served_share": self.served / max(self.requests, 1),
                "mean_pickup_wait_s": float(np.nanmean(waits)),
                "p95_pickup_wait_s": float(np.nanpercentile(waits, 95)),
                "empty_km": self.empty_m / 1000, "utilisation": self.busy_s / max(self.fleet_s, 1)}


class Simulation:
    """One fleet, one demand stream, one matching policy ("batch" or "greedy")."""

    def __init__(self, *, vehicles: int, policy: str, start_hour: int = 8, seed: int = 2026):
        self.rng, self.policy, self.eta = np.random.default_rng(seed), policy, BridgeAwareEta()
        fleet = synthetic.fleet(vehicles, self.rng)
        self.ids, self.seats = fleet.ids, fleet.seats
        self.x, self.y = to_xy(fleet.lat, fleet.lon)
        self.busy_until = np.zeros(vehicles)           # second at which the vehicle is free again
        self.index, self.clock, self.start_hour = FleetIndex(stale_after_s=1e12, min_soc=0), 0.0, start_hour
        self.open = {"id": np.empty(0, np.int64), "lat": np.empty(0), "lon": np.empty(0),
                     "since": np.empty(0), "trip_m": np.empty(0), "dx": np.empty(0), "dy": np.empty(0)}
        self.outcome, self._next_id = Outcome(), 1

    def _hour(self) -> int:
        return int(self.start_hour + self.clock // 3600) % 24

    def _arrivals(self) -> None:
        rate = DEMAND_PROFILE[self._hour()] * len(self.ids) / 3600 * TICK_S
        n = self.rng.poisson(rate)
        lat, lon = synthetic.demand(n, self.rng)
        dlat, dlon = synthetic.move(lat, lon, self.rng, 12_000)
        px, py = to_xy(lat, lon)
        dx, dy = to_xy(dlat, dlon)
        new = {"id": np.arange(self._next_id, self._next_id + n), "lat": lat, "lon": lon,
               "since": np.full(n, self.clock), "trip_m": self.eta.road_distance(px, py, dx, dy),
               "dx": dx, "dy": dy}
        self._next_id += n
        self.outcome.requests += n
        self.open = {k: np.concatenate([self.open[k], new[k]]) for k in self.open}

    def tick(self) -> None:
        """Advance one dispatch tick: new requests, matching, vehicles set off."""
        self._arrivals()
        free = self.busy_until <= self.clock
        lat, lon = to_lat_lon(self.x, self.y)
        self.index.upsert(self.ids, lat, lon, ts=self.clock, soc=np.full(len(self.ids), 100.0),
                          seats=self.seats, status=np.where(free, AVAILABLE, ON_TRIP))
        o = self.open
        requests = OpenRequests(ids=o["id"], lat=o["lat"], lon=o["lon"], passengers=np.ones(len(o["id"]), int),
                                trip_m=o["trip_m"])
        edges = candidates(requests, self.index, self.eta, now=self.clock, hour=self._hour(), k=10,
                           radius_m=5000, max_pickup_s=MAX_PICKUP_S)
        plan = (assign_rides(requests, edges, unserved_s=MAX_PICKUP_S) if self.policy == "batch"
                else assign_greedy(requests, edges))
        self._start_rides(plan)
        self.outcome.busy_s += float(np.clip(self.busy_until - self.clock, 0, TICK_S).sum())
        self.outcome.fleet_s += TICK_S * len(self.ids)
        self.clock += TICK_S

    def _start_rides(self, plan) -> None:
        rows = np.searchsorted(self.open["id"], plan.request_ids)
        slots = self.index.slots_of(plan.vehicle_ids)
        speed = SPEED_BY_HOUR[self._hour()]
        qx, qy = to_xy(self.open["lat"][rows], self.open["lon"][rows])
        empty = self.eta.road_distance(self.x[slots], self.y[slots], qx, qy)
        waited = self.clock - self.open["since"][rows]
        self.outcome.waits += (waited + plan.pickup_s).tolist()
        self.outcome.served += len(rows)
        self.outcome.empty_m += float(empty.sum())
        self.busy_until[slots] = self.clock + (empty + self.open["trip_m"][rows]) / speed
        self.x[slots], self.y[slots] = self.open["dx"][rows], self.open["dy"][rows]
        keep = np.ones(len(self.open["id"]), bool)
        keep[rows] = False
        keep &= self.clock - self.open["since"] < GIVE_UP_S
        self.open = {k: v[keep] for k, v in self.open.items()}
