"""Rebalancing: move idle vehicles toward the zones where demand is forecast to outrun them.

The method is MATSim DRT's minimum-cost-flow rebalancing (Bischoff and Maciejewski's
"MinCostFlowRebalancingStrategy", after Pavone et al. 2012): zones are square cells; a zone's
target is the requests forecast in it over the horizon; idle vehicles above the target are a
surplus, targets not met by idle and arriving vehicles a deficit; a transportation problem
(solved as a linear program, whose optimum is integral) moves surplus to deficit at the least
total driving time. Limits: a move to a zone short of its own forecast demand may take up to
`max_distance_m` of road, one that only spreads idle vehicles as demand is spread up to
`balance_distance_m`; at most `max_idle_share` of the idle fleet and `max_moves` vehicles per
run, the shortest moves first.

The forecast is half the recent arrival rate per zone, smoothed exponentially, and half the
past days' rate at this hour once those days are known (as MATSim DRT estimates a zone's demand
from the previous iteration's): recent requests alone are, zone by zone, few enough that cars
get sent after noise. The simulation draws its past days from its demand model; the dispatcher
reads them from its rides. Requests known ahead (rides booked for the horizon, people leaving
an event) are added to a zone's target through `DemandForecast.expect`.
"""
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from robotaxi_dispatch.engine.eta import EtaModel

GRID_HALF_M = 100_000  # zones cover 200 x 200 km round the city centre
SOURCES_PER_DEFICIT = 32
PAST_DAYS = 7            # of requests the forecast learns each hour's demand from
PAST_DAYS_WEIGHT = 0.5   # of the forecast, beside the recent requests


@dataclass(frozen=True)
class Limits:
    every_s: float = 30.0           # how often it runs
    horizon_s: float = 600.0        # demand ahead that idle vehicles should cover
    cell_m: float = 2000.0
    # Road metres of one move: far for a real shortage (in the morning peak commuters carry the
    # fleet from homes to offices 10-20 km away), near when idle vehicles are only spread out.
    max_distance_m: float = 20000.0
    balance_distance_m: float = 8000.0
    max_idle_share: float = 0.2     # of the idle vehicles, per run
    max_moves: int = 500            # per run, so the dispatcher's writes stay small


@dataclass
class Vehicles:
    """Vehicles by id and position (projected metres)."""
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray


@dataclass
class Moves:
    """Vehicles to send, and where to."""
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray


class DemandForecast:
    """Requests per second per zone, from arrivals smoothed over `memory_s`."""

    def __init__(self, cell_m: float, memory_s: float = 1800.0):
        self.cell_m, self.memory_s = cell_m, memory_s
        self.side = int(2 * GRID_HALF_M // cell_m)
        self.count, self.sx, self.sy = (np.zeros(self.side ** 2) for _ in range(3))
        self.known = np.zeros(self.side ** 2)  # requests known to come within the horizon
        self.by_hour: np.ndarray | None = None  # past days' requests per second, by local hour and zone
        self.at: float | None = None

    def zone(self, x, y) -> np.ndarray:
        """Return the zone of each point (points off the grid fall on its edge)."""
        i = np.clip(((np.asarray(x) + GRID_HALF_M) // self.cell_m).astype(np.int64), 0, self.side - 1)
        j = np.clip(((np.asarray(y) + GRID_HALF_M) // self.cell_m).astype(np.int64), 0, self.side - 1)
        return j * self.side + i

    def _decay(self, now: float) -> None:
        if self.at is not None and now > self.at:
            keep = np.exp(-(now - self.at) / self.memory_s)
            self.count *= keep
            self.sx *= keep
            self.sy *= keep
        self.at = now if self.at is None else max(self.at, now)

    def observe(self, x, y, now: float) -> None:
        """Count requests made at `now` at these points."""
        self._decay(now)
        zones = self.zone(x, y)
        for total, weights in ((self.count, None), (self.sx, x), (self.sy, y)):
            total += np.bincount(zones, weights=weights, minlength=len(total))

    def expect(self, x, y, weights=None) -> None:
        """Replace the requests known to come within the horizon (rides booked ahead, event endings)."""
        self.known = np.bincount(self.zone(x, y), weights=weights, minlength=len(self.count)).astype(np.float64)

    def learn_days(self, x, y, hours, days: int) -> None:
        """Take the requests of `days` past days (points and local hours) as each hour's usual demand."""
        counts = np.zeros((24, self.side ** 2))
        np.add.at(counts, (np.asarray(hours, dtype=np.int64) % 24, self.zone(x, y)), 1.0)
        self.by_hour = counts / (days * 3600)

    def rates(self, now: float, hour: int | None = None) -> np.ndarray:
        """Return the forecast requests per second of every zone: recent, and past days' at this hour if known."""
        self._decay(now)
        recent = self.count / self.memory_s
        if self.by_hour is None or hour is None:
            return recent
        return (1 - PAST_DAYS_WEIGHT) * recent + PAST_DAYS_WEIGHT * self.by_hour[hour % 24]

    def centres(self, zones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return where requests of zones come from on average (the cell's centre if none)."""
        i, j = zones % self.side, zones // self.side
        cx, cy = (i + 0.5) * self.cell_m - GRID_HALF_M, (j + 0.5) * self.cell_m - GRID_HALF_M
        seen = self.count[zones] > 1e-9
        safe = np.where(seen, self.count[zones], 1.0)
        return np.where(seen, self.sx[zones] / safe, cx), np.where(seen, self.sy[zones] / safe, cy)


def imbalance(forecast: DemandForecast, idle: Vehicles, arriving: tuple, now: float,
              limits: Limits, hour: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return each zone's surplus of idle vehicles, deficit (whole vehicles) and reach (road metres).

    A zone's target is the requests forecast over the horizon, or its share of the idle fleet in
    proportion to its demand when there are more idle vehicles than that (Pavone et al.'s
    balance: vehicles spread as the requests arrive). A zone whose forecast requests outrun its
    idle and arriving vehicles is short and is reached from further away.
    """
    rates = forecast.rates(now, hour)
    share = rates / rates.sum() if rates.sum() else rates
    target = np.maximum(rates * limits.horizon_s + forecast.known, share * len(idle.ids))
    have = np.bincount(forecast.zone(idle.x, idle.y), minlength=len(target))
    coming = np.bincount(forecast.zone(*arriving), minlength=len(target))
    surplus = np.floor(np.maximum(have - target, 0)).astype(np.int64)
    deficit = np.rint(np.maximum(target - have - coming, 0)).astype(np.int64)
    short = rates * limits.horizon_s + forecast.known - have - coming >= 0.5
    return surplus, deficit, np.where(short, limits.max_distance_m, limits.balance_distance_m)


def _nearest_sources(forecast: DemandForecast, src: np.ndarray, dst: np.ndarray,
                     reach: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (from zone, to zone) pairs: each deficit zone with its nearest surplus zones in reach.

    A cheapest transport seldom draws from further than the nearest few sources, and pairs of
    every source with every deficit would make the program hundreds of times larger.
    """
    sx, sy = forecast.centres(src)
    bx, by = forecast.centres(dst)
    k = min(SOURCES_PER_DEFICIT, len(src))
    # No road is shorter than the straight line: only sources that close can be near enough.
    d, j = cKDTree(np.column_stack([sx, sy])).query(np.column_stack([bx, by]), k=k,
                                                     distance_upper_bound=float(reach[dst].max()))
    d, j = np.asarray(d).reshape(len(dst), k), j.reshape(len(dst), k)
    rows, cols = np.nonzero(d <= reach[dst][:, None])
    return src[j[rows, cols]], dst[rows]


def _flows(forecast: DemandForecast, surplus: np.ndarray, deficit: np.ndarray, reach: np.ndarray,
           eta: EtaModel, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve the transportation problem; return (from zone, to zone, vehicles, seconds) per flow."""
    src, dst = np.flatnonzero(surplus), np.flatnonzero(deficit)
    if not len(src) or not len(dst):
        return (np.empty(0, np.int64),) * 3 + (np.empty(0),)
    a, b = _nearest_sources(forecast, src, dst, reach)
    ax, ay = forecast.centres(a)
    bx, by = forecast.centres(b)
    metres, seconds = eta.route(ax, ay, bx, by, hour=hour)
    near = metres <= reach[b]
    a, b, seconds = a[near], b[near], seconds[near]
    if not len(a):
        return (np.empty(0, np.int64),) * 3 + (np.empty(0),)
    # Every vehicle moved earns more than any move costs: as many moves as the limits allow,
    # at the least total driving time (maximum flow at minimum cost).
    reward = seconds.max() + 1.0
    rows_src, rows_dst = np.searchsorted(src, a), len(src) + np.searchsorted(dst, b)
    cols = np.arange(len(a))
    bounds = coo_matrix((np.ones(2 * len(a)), (np.concatenate([rows_src, rows_dst]), np.concatenate([cols, cols]))),
                        shape=(len(src) + len(dst), len(a)))
    # HiGHS takes a sparse A_ub; scipy's stubs only list dense ones.
    solved = linprog(seconds - reward, A_ub=bounds.tocsr(),  # type: ignore[call-overload]
                     b_ub=np.concatenate([surplus[src], deficit[dst]]), bounds=(0, None), method="highs")
    flow = np.rint(solved.x).astype(np.int64) if solved.success else np.zeros(len(a), np.int64)
    keep = flow > 0
    return a[keep], b[keep], flow[keep], seconds[keep]


def plan(forecast: DemandForecast, idle: Vehicles, arriving: tuple, eta: EtaModel, *, now: float, hour: int,
         limits: Limits) -> Moves:
    """Return which idle vehicles to send where; `arriving` are (x, y) of vehicles on their way."""
    surplus, deficit, reach = imbalance(forecast, idle, arriving, now, limits, hour)
    src, dst, flow, seconds = _flows(forecast, surplus, deficit, reach, eta, hour)
    cap = min(limits.max_moves, int(limits.max_idle_share * len(idle.ids)))
    order = np.argsort(seconds, kind="stable")  # over the cap, the shortest moves go first
    src, dst, flow = src[order], dst[order], flow[order]
    flow = np.minimum(flow, np.maximum(cap - (np.cumsum(flow) - flow), 0))
    chosen, tx, ty = _pick(forecast, idle, src, dst, flow)
    # The limit was checked between zones: hold each vehicle to it too.
    ok = eta.road_distance(idle.x[chosen], idle.y[chosen], tx, ty) <= reach[forecast.zone(tx, ty)]
    return Moves(idle.ids[chosen[ok]], tx[ok], ty[ok])


def still_free(moves: Moves, free_ids: np.ndarray) -> Moves:
    """Return the moves of vehicles still free: a plan made from an earlier snapshot drops those matched since."""
    keep = np.isin(moves.ids, free_ids)
    return Moves(moves.ids[keep], moves.x[keep], moves.y[keep])


def _pick(forecast: DemandForecast, idle: Vehicles, src, dst, flow) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose the vehicles of each flow among the idle ones of its source zone; return them and targets."""
    zones = forecast.zone(idle.x, idle.y)
    order = np.argsort(zones, kind="stable")
    starts = np.searchsorted(zones[order], src)
    taken: dict[int, int] = {}
    chosen, targets = [], []
    for zone, first, to, n in zip(src.tolist(), starts.tolist(), dst.tolist(), flow.tolist()):
        used = taken.get(zone, 0)
        chosen.extend(order[first + used:first + used + n].tolist())
        targets.extend([to] * n)
        taken[zone] = used + n
    return (np.array(chosen, dtype=np.int64), *forecast.centres(np.array(targets, dtype=np.int64)))
