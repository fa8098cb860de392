"""A robotaxi service in Chongqing over time, to compare dispatch policies on the same demand.

Demand has its own rate and origin-destination model (`demand`), independent of the fleet and of
the policy (it has its own random stream). The fleet starts at its depots; cars drive in the
"true" travel time (`travel`) while the dispatcher plans with its ETA model, so ETA error is
measured. Batteries drain with distance and free cars under the dispatcher's threshold leave
to charge at the nearest depot. Requests nobody is assigned to give up after the production
dispatcher's limit. Figures cover the requests of the measured window only: a warm-up lets the
fleet spread out first and a cool-down lets the window's last requests finish.

With `booked_share`, that share of the demand is booked `booked_notice_minutes` ahead: known
from then (the rebalancing forecast counts it within `engine.booked.PREPOSITION_S`), released to
the matcher by the production rule and kept from cars that would arrive too early. A car that
arrives early waits for its rider. The standard figures cover the riders who asked on the spot;
booked rides are reported apart (`booked_requests`, `booked_served_share`, `booked_on_time_share`).
"""
from dataclasses import dataclass

import numpy as np

from robotaxi_dispatch.engine import book as states
from robotaxi_dispatch.engine import booked
from robotaxi_dispatch.engine.book import RequestBook
from robotaxi_dispatch.engine.chongqing import to_lat_lon
from robotaxi_dispatch.engine.demand import CityDemand, Trips
from robotaxi_dispatch.engine.eta import BridgeAwareEta
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, FleetIndex
from robotaxi_dispatch.engine.fleet_index import ON_TRIP as INDEX_BUSY
from robotaxi_dispatch.engine.matcher import (
    Finishing,
    OpenRequests,
    ServiceCosts,
    assign_greedy,
    assign_rides,
    candidates,
    finishing_candidates,
    join,
    keep_edges,
)
from robotaxi_dispatch.engine.metrics import FleetUse, summary
from robotaxi_dispatch.engine.rebalancing import PAST_DAYS, DemandForecast, Limits, Vehicles, plan
from robotaxi_dispatch.engine.travel import Drive, TrueTravel
from robotaxi_dispatch.engine.vehicles import (
    CHARGE_PCT_PER_S,
    CHARGED_SOC,
    CHARGING,
    IDLE,
    KIND,
    ON_TRIP,
    REBALANCING,
    TO_CHARGER,
    TO_PICKUP,
    depot_fleet,
)

GIVE_UP_S = 600           # the production dispatcher's NO_VEHICLE_AFTER
MAX_PICKUP_S = 900        # and its pickup limit
CHARGE_BELOW_SOC = 20.0   # and its charging threshold
K, RADIUS_M = 10, 8000    # and its candidate search
COOLDOWN_S = 1200


@dataclass(frozen=True)
class Scenario:
    """What is simulated: demand, fleet, policy and clock."""
    vehicles: int = 2000
    requests_per_hour: float = 1000.0  # averaged over the day; the hour's profile scales it
    minutes: int = 60
    warmup_minutes: int = 30
    start_hour: float = 8.0            # local hour the measured window starts
    policy: str = "batch"              # or "greedy"
    rebalance: bool = True
    tick_s: float = 2.0                # the production dispatcher's
    seed: int = 2026
    booked_share: float = 0.0          # of the demand, booked ahead
    booked_notice_minutes: float = 60.0

    @property
    def ticks(self) -> int:
        return int(((self.warmup_minutes + self.minutes) * 60 + COOLDOWN_S) // self.tick_s)

    @property
    def window(self) -> tuple[float, float]:
        return self.warmup_minutes * 60.0, (self.warmup_minutes + self.minutes) * 60.0


class Simulation:
    """One fleet, one demand stream, one policy, advanced a dispatch tick at a time."""

    def __init__(self, scenario: Scenario):
        self.scenario, self.clock = scenario, 0.0
        self.eta = BridgeAwareEta()
        self.travel = TrueTravel(self.eta)
        self.demand = CityDemand(scenario.requests_per_hour * (1 - scenario.booked_share))
        self.demand_rng = np.random.default_rng(scenario.seed)
        # Rides booked ahead: their own share of the demand and random stream; drawn at booking.
        self.booked_demand = CityDemand(scenario.requests_per_hour * scenario.booked_share)
        self.booked_rng = np.random.default_rng(scenario.seed + 2)
        self.pending = Trips(*(np.empty(0) for _ in range(5)))  # booked, not yet released (at: pickup)
        for minute in range(int(scenario.booked_notice_minutes) if scenario.booked_share else 0):
            self._take_bookings(minute * 60.0, 60.0)  # those made before the start
        self.rng = np.random.default_rng(scenario.seed + 1)
        self.fleet = depot_fleet(scenario.vehicles, self.demand, self._hour(), self.rng)
        self.index = FleetIndex(stale_after_s=1e12, min_soc=0)
        self.book, self.km = RequestBook(), dict.fromkeys(KIND.values(), 0.0)
        self.fleet_s = self.busy_s = 0.0
        self.limits = Limits()
        self.forecast, self._rebalanced_at = DemandForecast(self.limits.cell_m), -np.inf
        self._learn_past_days(np.random.default_rng(scenario.seed + 3))
        self.costs = ServiceCosts()

    def _learn_past_days(self, rng: np.random.Generator) -> None:
        """Give the forecast the week before's requests at every hour, as the dispatcher reads them from its rides."""
        past = [(hour, self.demand.draw(0.0, 3600.0, hour, rng)) for _ in range(PAST_DAYS) for hour in range(24)]
        self.forecast.learn_days(np.concatenate([t.ox for _, t in past]), np.concatenate([t.oy for _, t in past]),
                                 np.concatenate([np.full(len(t.at), hour) for hour, t in past]), PAST_DAYS)

    def _hour(self, ahead_s: float = 0.0) -> float:
        return (self.scenario.start_hour + ((self.clock + ahead_s) / 60 - self.scenario.warmup_minutes) / 60) % 24

    def _measuring(self) -> bool:
        start, end = self.scenario.window
        return start <= self.clock < end

    def run(self) -> dict:
        """Simulate every tick and return the figures."""
        for _ in range(self.scenario.ticks):
            self.tick()
        return self.summary()

    def tick(self) -> None:
        """Advance one dispatch tick: arrivals, legs that ended, give-ups, charging, matching."""
        hour = int(self._hour())
        self._arrive(hour)
        if self.scenario.booked_share:
            self._book(hour)
        self._finish_legs(hour)
        self._give_up()
        self._send_to_charge(hour)
        if self.scenario.rebalance and self.clock - self._rebalanced_at >= self.limits.every_s:
            self._rebalance(hour)
        self._match(hour)
        if self._measuring():
            self._account()
        self.clock += self.scenario.tick_s

    def _account(self) -> None:
        """Add this tick's fleet time, busy time and distance to the window's."""
        tick = self.scenario.tick_s
        self.fleet_s += tick * len(self.fleet)
        self.busy_s += tick * float(np.isin(self.fleet.state, (TO_PICKUP, ON_TRIP)).sum())
        for kind, km in self.fleet.km_driven(self.clock, self.clock + tick).items():
            self.km[kind] += km

    def summary(self) -> dict:
        """Return the standard figures of the measured window, and how booked rides fared."""
        use = FleetUse(fleet_s=self.fleet_s, busy_s=self.busy_s, km=self.km)
        times, n = self.book.times(), self.book.n
        pickup_at = self.book.pickup_at[:n]
        on_demand = np.isnan(pickup_at)
        times.requested = np.where(on_demand, times.requested, np.nan)  # a booked ride waits for its time
        start, end = self.scenario.window
        due = (pickup_at >= start) & (pickup_at < end)
        served = due & np.isfinite(times.picked_up)
        return {**summary(times, use, self.scenario.window), "booked_requests": int(due.sum()),
                "booked_served_share": float(served.sum() / due.sum()) if due.any() else None,
                "booked_on_time_share": booked.on_time_share(pickup_at[due], times.picked_up[due])}

    def _book(self, hour: int) -> None:
        """Take the bookings made this tick, and release to the matcher those whose time has come."""
        tick, notice = self.scenario.tick_s, self.scenario.booked_notice_minutes * 60
        self._take_bookings(self.clock + notice - tick, tick)
        soon = np.flatnonzero(self.pending.at - self.clock <= booked.LEAD_WITHOUT_VEHICLE_S + booked.MARGIN_S)
        if not len(soon):
            return
        p = self.pending
        lat, lon = to_lat_lon(p.ox[soon], p.oy[soon])
        edges = candidates(OpenRequests(ids=soon, lat=lat, lon=lon, passengers=np.ones(len(soon), dtype=np.int64),
                                        trip_m=np.zeros(len(soon))),
                           self.index, self.eta, now=self.clock, hour=hour, k=K, radius_m=RADIUS_M,
                           max_pickup_s=MAX_PICKUP_S)
        nearest = np.full(len(soon), np.nan)
        np.fmin.at(nearest, edges.rows, edges.pickup_s)
        go = soon[booked.release_due(p.at[soon], nearest, self.clock)]
        released = Trips(np.full(len(go), self.clock), p.ox[go], p.oy[go], p.dx[go], p.dy[go])
        rows = self._record(released, hour)
        self.book.pickup_at[rows] = p.at[go]
        keep = np.ones(len(p.at), dtype=bool)
        keep[go] = False
        self.pending = Trips(*(getattr(p, f)[keep] for f in ("at", "ox", "oy", "dx", "dy")))

    def _take_bookings(self, start_s: float, seconds: float) -> None:
        """Add the rides booked for pickups in [start_s, start_s + seconds)."""
        made = self.booked_demand.draw(start_s, seconds, self._hour(start_s - self.clock), self.booked_rng)
        self.pending = Trips(*(np.concatenate([getattr(self.pending, f), getattr(made, f)])
                               for f in ("at", "ox", "oy", "dx", "dy")))

    def _expect_booked(self) -> None:
        """Tell the forecast where booked riders will be picked up within the pre-positioning window."""
        b, n = self.book, self.book.n
        waiting = np.flatnonzero((b.state[:n] == states.OPEN) & ~np.isnan(b.pickup_at[:n]))
        soon = self.pending.at - self.clock <= booked.PREPOSITION_S
        self.forecast.expect(np.concatenate([self.pending.ox[soon], b.ox[waiting]]),
                             np.concatenate([self.pending.oy[soon], b.oy[waiting]]))

    def _arrive(self, hour: int) -> None:
        """Record the requests made since the last tick, with the trip the dispatcher quotes."""
        tick = self.scenario.tick_s
        trips = self.demand.draw(self.clock - tick, tick, self._hour(), self.demand_rng)
        self._record(trips, hour)
        self.forecast.observe(trips.ox, trips.oy, self.clock)

    def _record(self, trips: Trips, hour: int) -> np.ndarray:
        """Add requests to the book with the trip the dispatcher quotes and its mean true time; return their rows."""
        ends = (trips.ox, trips.oy, trips.dx, trips.dy)
        return self.book.add(trips, *self.eta.route(*ends, hour=hour), self.travel.expected(*ends, hour=hour))

    def _drive(self, v: np.ndarray, state: int, target: tuple, at, hour: int) -> None:
        """Send stopped vehicles to a target, taking the true time."""
        drive = self.travel.drive(self.fleet.x0[v], self.fleet.y0[v], *target, hour=hour, rng=self.rng)
        self.fleet.start(v, state, target, at, drive)

    def _finish_legs(self, hour: int) -> None:
        """Move on every vehicle whose leg ended since the last tick, in time order."""
        handlers = {TO_PICKUP: self._picked_up, ON_TRIP: self._dropped_off, TO_CHARGER: self._plugged_in,
                    CHARGING: self._charged, REBALANCING: self._stop}
        while len(due := self.fleet.due(self.clock)):
            states_now = self.fleet.state[due]
            for state, handler in handlers.items():
                v = due[states_now == state]
                if len(v):
                    handler(v, self.fleet.t1[v], hour)

    def _stop(self, v: np.ndarray, at, hour: int = 0) -> None:
        self.fleet.stop(v, at)

    def _picked_up(self, v: np.ndarray, at: np.ndarray, hour: int) -> None:
        rows = self.fleet.ride[v]
        self.book.picked_up[rows], self.book.state[rows] = at, states.PICKED_UP
        self._stop(v, at)
        # Early at a booked pickup, the car waits for its rider's time.
        self._drive(v, ON_TRIP, (self.book.dx[rows], self.book.dy[rows]), np.fmax(at, self.book.pickup_at[rows]),
                    hour)

    def _dropped_off(self, v: np.ndarray, at: np.ndarray, hour: int) -> None:
        rows = self.fleet.ride[v]
        self.book.dropped_off[rows], self.book.state[rows] = at, states.DONE
        self._stop(v, at)
        self.fleet.ride[v] = -1
        chained = self.fleet.queued[v] >= 0  # a next rider was assigned before this drop-off
        if chained.any():
            self._fetch(v[chained], self.fleet.queued[v[chained]], at[chained], hour)
            self.fleet.queued[v[chained]] = -1

    def _fetch(self, v: np.ndarray, rows: np.ndarray, at, hour: int) -> None:
        """Send stopped vehicles to pick up the riders of request rows."""
        self.fleet.ride[v] = rows
        self._drive(v, TO_PICKUP, (self.book.ox[rows], self.book.oy[rows]), at, hour)

    def _plugged_in(self, v: np.ndarray, at: np.ndarray, hour: int) -> None:
        self._stop(v, at)
        seconds = np.maximum(CHARGED_SOC - self.fleet.soc[v], 0) / CHARGE_PCT_PER_S
        here = (self.fleet.x0[v], self.fleet.y0[v])
        self.fleet.start(v, CHARGING, here, at, Drive(np.zeros(len(v)), seconds, seconds))

    def _charged(self, v: np.ndarray, at: np.ndarray, hour: int) -> None:
        self._stop(v, at)
        self.fleet.soc[v] = CHARGED_SOC

    def _give_up(self) -> None:
        rows = self.book.rows(states.OPEN)
        since = np.fmax(self.book.requested[rows], self.book.pickup_at[rows])  # booked: from its time
        self.book.state[rows[self.clock - since > GIVE_UP_S]] = states.LOST

    def _send_to_charge(self, hour: int) -> None:
        """Send free vehicles under the threshold to the nearest depot's chargers."""
        f = self.fleet
        v = np.flatnonzero(np.isin(f.state, (IDLE, REBALANCING)) & (f.soc < CHARGE_BELOW_SOC))
        if len(v):
            self._stop(v, self.clock)
            depot = np.argmin(np.hypot(f.x0[v, None] - self.demand.x, f.y0[v, None] - self.demand.y), axis=1)
            self._drive(v, TO_CHARGER, (self.demand.x[depot], self.demand.y[depot]), self.clock, hour)

    def _rebalance(self, hour: int) -> None:
        """Send idle vehicles toward forecast deficits, counting those already on their way."""
        f, self._rebalanced_at = self.fleet, self.clock
        idle = np.flatnonzero(f.state == IDLE)
        x, y = f.position(self.clock)
        dropping = (f.state == ON_TRIP) & (f.expected_t1 - self.clock <= self.limits.horizon_s)
        coming = np.flatnonzero((f.state == REBALANCING) | dropping)
        if self.scenario.booked_share:
            self._expect_booked()
        moves = plan(self.forecast, Vehicles(f.ids[idle], x[idle], y[idle]), (f.x1[coming], f.y1[coming]),
                     self.eta, now=self.clock, hour=hour, limits=self.limits)
        v = moves.ids - 1
        self._stop(v, self.clock)
        self._drive(v, REBALANCING, (moves.x, moves.y), self.clock, hour)

    def _free(self) -> np.ndarray:
        return np.isin(self.fleet.state, (IDLE, REBALANCING))

    def _requests(self, rows: np.ndarray) -> OpenRequests:
        lat, lon = to_lat_lon(self.book.ox[rows], self.book.oy[rows])
        return OpenRequests(ids=rows, lat=lat, lon=lon, passengers=np.ones(len(rows), dtype=np.int64),
                            trip_m=self.book.direct_m[rows])

    def _match(self, hour: int) -> None:
        """Match the open requests to the free vehicles by the scenario's policy."""
        x, y = self.fleet.position(self.clock)
        lat, lon = to_lat_lon(x, y)
        self.index.upsert(self.fleet.ids, lat, lon, ts=self.clock, soc=self.fleet.soc, seats=self.fleet.seats,
                          status=np.where(self._free(), AVAILABLE, INDEX_BUSY))
        if self.scenario.policy == "batch":
            self._match_batch(hour)
            return
        rows = self.book.rows(states.OPEN)
        requests = self._requests(rows)
        plan = assign_greedy(requests, booked.not_too_early(
            candidates(requests, self.index, self.eta, now=self.clock, hour=hour, k=K, radius_m=RADIUS_M,
                       max_pickup_s=MAX_PICKUP_S), self.book.pickup_at[rows], self.clock))
        self._assign(plan.request_ids, plan.vehicle_ids - 1, plan.pickup_s, hour)

    def _match_batch(self, hour: int) -> None:
        """Match open requests, and again those assigned but not picked up, to free and finishing vehicles."""
        f = self.fleet
        x, y = f.position(self.clock)  # the dispatcher estimates from where telemetry says cars are
        fetching, promised, remaining = self._promised(x, y, hour)
        rows = np.concatenate([self.book.rows(states.OPEN), promised])
        requests = self._requests(rows)
        first = len(rows) - len(promised)
        fresh = join(candidates(requests, self.index, self.eta, now=self.clock, hour=hour, k=K, radius_m=RADIUS_M,
                                max_pickup_s=MAX_PICKUP_S),
                     finishing_candidates(requests, self._finishing(x, y, hour), self.eta, hour=hour, k=K,
                                          radius_m=RADIUS_M, max_pickup_s=MAX_PICKUP_S,
                                          premium_s=self.costs.finishing_premium_s))
        # A promised vehicle keeps its ride; only new ones are held back from booked pickups they would reach early.
        edges = join(booked.not_too_early(fresh, self.book.pickup_at[rows], self.clock),
                     keep_edges(first + np.arange(len(promised)), f.ids[fetching], remaining, self.costs))
        unserved = self.costs.unserved(self.clock - self.book.requested[rows], np.arange(len(rows)) >= first)
        plan = assign_rides(requests, edges, unserved_s=unserved)
        moved = plan.vehicle_ids - 1 != self.book.vehicle[plan.request_ids]
        swapped = plan.request_ids[moved & (self.book.state[plan.request_ids] == states.ASSIGNED)]
        self._release(self.book.vehicle[swapped])
        self._assign(plan.request_ids[moved], plan.vehicle_ids[moved] - 1, plan.pickup_s[moved], hour)

    def _promised(self, x: np.ndarray, y: np.ndarray, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the vehicles with a rider assigned but not picked up, their rides and seconds to pickup.

        A vehicle on a trip with a next rider queued counts its trip's rest and the drive on.
        """
        f = self.fleet
        fetching = np.flatnonzero(f.state == TO_PICKUP)
        chained = np.flatnonzero((f.state == ON_TRIP) & (f.queued >= 0))
        queued = f.queued[chained]
        rest = self.eta.seconds(x[chained], y[chained], f.x1[chained], f.y1[chained], hour=hour)
        onward = self.eta.seconds(f.x1[chained], f.y1[chained], self.book.ox[queued], self.book.oy[queued], hour=hour)
        remaining = self.eta.seconds(x[fetching], y[fetching], f.x1[fetching], f.y1[fetching], hour=hour)
        return (np.concatenate([fetching, chained]), np.concatenate([f.ride[fetching], queued]),
                np.concatenate([remaining, rest + onward]))

    def _finishing(self, x: np.ndarray, y: np.ndarray, hour: int) -> Finishing:
        """Return the vehicles on a trip with no next rider that expect to drop off soon."""
        f = self.fleet
        # Only those the ETA model already thought nearly done need a fresh estimate.
        v = np.flatnonzero((f.state == ON_TRIP) & (f.queued < 0)
                           & (f.expected_t1 - self.clock <= self.costs.finishing_within_s))
        left = self.eta.seconds(x[v], y[v], f.x1[v], f.y1[v], hour=hour)
        v, left = v[left <= self.costs.finishing_within_s], left[left <= self.costs.finishing_within_s]
        return Finishing(ids=f.ids[v], x=f.x1[v], y=f.y1[v], seconds_left=left, soc=f.soc[v], seats=f.seats[v])

    def _release(self, v: np.ndarray) -> None:
        """Free vehicles whose next rider went to a vehicle arriving sooner: stop those fetching, unqueue the rest."""
        f = self.fleet
        on_trip = f.state[v] == ON_TRIP
        f.queued[v[on_trip]] = -1
        f.ride[v[~on_trip]] = -1
        self._stop(v[~on_trip], self.clock)

    def _assign(self, rows: np.ndarray, v: np.ndarray, pickup_s: np.ndarray, hour: int) -> None:
        """Record assignments; free vehicles set off, vehicles on a trip queue the ride."""
        b = self.book
        b.state[rows], b.vehicle[rows], b.assigned[rows], b.pickup_eta_s[rows] = (
            states.ASSIGNED, v, self.clock, pickup_s)
        busy = self.fleet.state[v] == ON_TRIP
        self.fleet.queued[v[busy]] = rows[busy]
        self._stop(v[~busy], self.clock)
        self._fetch(v[~busy], rows[~busy], self.clock, hour)
