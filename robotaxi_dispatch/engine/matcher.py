"""Match open ride requests to vehicles each tick: a minimum-cost assignment, and greedy as baseline.

Both matchers see the same candidates (the k nearest dispatchable vehicles with enough seats)
and the same costs: pickup seconds from the ETA model, plus a penalty for a vehicle whose
battery would end the trip below the reserve; a vehicle that cannot finish the trip at all, or
is further than the pickup limit, is no candidate.

The batch matcher serves riders first (`ServiceCosts`): leaving a request open costs more the
longer its rider has waited, so a long wait wins over a newer request nearby; vehicles about to
drop off are candidates too (picking up after the drop-off); and rides assigned but not picked
up are matched again, keeping their vehicle unless another would arrive a margin sooner.
"""
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.engine.eta import EtaModel
from robotaxi_dispatch.engine.fleet_index import FleetIndex

BATTERY_KWH = 60.0
KWH_PER_KM = 0.16
RESERVE_SOC = 20.0          # % a vehicle should keep after the trip
LOW_BATTERY_PENALTY_S = 600  # a trip ending below the reserve counts as ten minutes worse
PROMISED_S = 1e6             # a rider already promised a vehicle is never left without one


@dataclass(frozen=True)
class ServiceCosts:
    """How the batch matcher weighs riders against each other."""
    unserved_s: float = 900.0          # leaving a new request open one more tick
    wait_weight: float = 2.0           # added per second its rider has already waited
    hysteresis_s: float = 120.0        # an assigned ride moves only to a vehicle this much sooner
    finishing_within_s: float = 300.0  # vehicles dropping off this soon are candidates
    # ... of last resort: a drop-off time is the least sure part of any pickup estimate (traffic
    # the ETA table does not know lies on the rest of another rider's trip) and a rider promised
    # a busy car loses any free car that turns up, so such a car costs this much more.
    finishing_premium_s: float = 300.0

    def unserved(self, waited_s, promised=False) -> np.ndarray:
        """Return the cost of leaving each request open: growing with its wait; prohibitive if promised."""
        cost = self.unserved_s + self.wait_weight * np.asarray(waited_s, dtype=np.float64)
        return np.where(promised, PROMISED_S, cost)


@dataclass
class OpenRequests:
    ids: np.ndarray        # ride ids
    lat: np.ndarray
    lon: np.ndarray
    passengers: np.ndarray
    trip_m: np.ndarray     # road metres from pickup to drop-off


@dataclass
class Assignment:
    request_ids: np.ndarray
    vehicle_ids: np.ndarray
    pickup_s: np.ndarray


@dataclass
class Candidates:
    rows: np.ndarray       # request row of each edge
    vehicles: np.ndarray   # vehicle id of each edge
    cost: np.ndarray       # seconds, penalties included
    pickup_s: np.ndarray


def soc_needed(metres) -> np.ndarray:
    """Return the battery % a vehicle uses driving this far."""
    return np.asarray(metres) / 1000 * KWH_PER_KM / BATTERY_KWH * 100


@dataclass
class Finishing:
    """Vehicles about to drop off: where, in how many seconds, and their battery and seats then."""
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    seconds_left: np.ndarray
    soc: np.ndarray
    seats: np.ndarray


def _edges(rows, vehicles, soc, pickup_m, pickup_s, trip_m, max_pickup_s) -> Candidates:
    """Keep the edges a vehicle can drive and cost them: pickup seconds plus the battery penalty."""
    left = soc - soc_needed(pickup_m + trip_m)
    usable = (left > 0) & (pickup_s <= max_pickup_s)
    cost = pickup_s + np.where(left < RESERVE_SOC, LOW_BATTERY_PENALTY_S, 0) + 1.0
    return Candidates(rows[usable], vehicles[usable], cost[usable], pickup_s[usable])


def candidates(requests: OpenRequests, index: FleetIndex, eta: EtaModel, *, now: float, hour: int,
               k: int, radius_m: float, max_pickup_s: float) -> Candidates:
    """Return every usable (request, vehicle) edge with its cost."""
    near = index.nearest(requests.lat, requests.lon, k=k, radius_m=radius_m, now=now,
                         min_seats=requests.passengers)
    rows, cols = np.nonzero(near.ids >= 0)
    vehicles = near.ids[rows, cols]
    slots = index.slots_of(vehicles)
    qx, qy = to_xy(requests.lat[rows], requests.lon[rows])
    pickup_m, pickup_s = eta.route(index.x[slots], index.y[slots], qx, qy, hour=hour)
    return _edges(rows, vehicles, index.soc[slots], pickup_m, pickup_s, requests.trip_m[rows], max_pickup_s)


def finishing_candidates(requests: OpenRequests, finishing: Finishing, eta: EtaModel, *, hour: int, k: int,
                         radius_m: float, max_pickup_s: float, premium_s: float) -> Candidates:
    """Return edges to vehicles about to drop off, `premium_s` dearer: they drive on from the drop-off when done."""
    if not len(finishing.ids) or not len(requests.ids):
        return Candidates(*(np.empty(0, np.int64),) * 2, *(np.empty(0),) * 2)
    qx, qy = to_xy(requests.lat, requests.lon)
    k = min(k, len(finishing.ids))
    d, j = cKDTree(np.column_stack([finishing.x, finishing.y])).query(
        np.column_stack([qx, qy]), k=k, distance_upper_bound=radius_m)
    rows, cols = np.nonzero(np.isfinite(np.asarray(d).reshape(len(qx), k)))
    v = j.reshape(len(qx), k)[rows, cols]
    fit = finishing.seats[v] >= requests.passengers[rows]
    rows, v = rows[fit], v[fit]
    fx, fy = finishing.x[v], finishing.y[v]
    pickup_m, onward_s = eta.route(fx, fy, qx[rows], qy[rows], hour=hour)
    pickup_s = finishing.seconds_left[v] + onward_s
    edges = _edges(rows, finishing.ids[v], finishing.soc[v], pickup_m, pickup_s, requests.trip_m[rows],
                   max_pickup_s)
    edges.cost += premium_s
    return edges


def keep_edges(rows: np.ndarray, vehicles: np.ndarray, remaining_s: np.ndarray, costs: ServiceCosts) -> Candidates:
    """Return the edges of assigned rides to their own vehicles, a hysteresis cheaper than new ones.

    Another vehicle takes the ride only if it would arrive more than `hysteresis_s` sooner.
    """
    cost = np.maximum(remaining_s - costs.hysteresis_s, 0.0) + 1.0
    return Candidates(rows, vehicles, cost, np.asarray(remaining_s, dtype=np.float64))


def join(*edges: Candidates) -> Candidates:
    """Return the edges of several candidate sets as one."""
    return Candidates(*(np.concatenate([getattr(e, f) for e in edges])
                        for f in ("rows", "vehicles", "cost", "pickup_s")))


def cheapest(edges: Candidates) -> Candidates:
    """Return one edge per (request, vehicle) pair, the cheapest, sorted by request then vehicle."""
    order = np.lexsort((edges.cost, edges.vehicles, edges.rows))
    rows, vehicles = edges.rows[order], edges.vehicles[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (vehicles[1:] != vehicles[:-1])
    keep = order[first]
    return Candidates(edges.rows[keep], edges.vehicles[keep], edges.cost[keep], edges.pickup_s[keep])


def assign_rides(requests: OpenRequests, edges: Candidates, *, unserved_s) -> Assignment:
    """Assign vehicles at the least total cost, a request left open costing `unserved_s` (each its own).

    With `unserved_s` at the pickup limit this minimises the mean wait of all open requests,
    counting one left open as waiting at least that long.
    """
    n = len(requests.ids)
    if n == 0 or len(edges.rows) == 0:
        return Assignment(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    # A sparse matrix would add up the costs of a pair given twice (kept and found again).
    edges = cheapest(edges)
    vehicles, col = np.unique(edges.vehicles, return_inverse=True)
    # One private "unserved" column per request keeps the matching full.
    rows = np.concatenate([edges.rows, np.arange(n)])
    cols = np.concatenate([col, len(vehicles) + np.arange(n)])
    costs = np.concatenate([edges.cost, np.broadcast_to(np.asarray(unserved_s, dtype=np.float64), (n,))])
    graph = csr_matrix((costs, (rows, cols)), shape=(n, len(vehicles) + n))
    _, matched = min_weight_full_bipartite_matching(graph)
    served = np.flatnonzero(matched < len(vehicles))
    # Edges are sorted by request, then vehicle (column): find each chosen pair's edge by key.
    keys = edges.rows * len(vehicles) + col
    chosen = np.searchsorted(keys, served * len(vehicles) + matched[served])
    return Assignment(requests.ids[served], vehicles[matched[served]], edges.pickup_s[chosen])


def assign_greedy(requests: OpenRequests, edges: Candidates) -> Assignment:
    """Serve requests in arrival order, each with its cheapest vehicle still free."""
    order = np.lexsort((edges.cost, edges.rows))
    rows, vehicles, pickup = edges.rows[order], edges.vehicles[order], edges.pickup_s[order]
    starts = np.searchsorted(rows, np.arange(len(requests.ids) + 1))
    taken, served, chosen, picked = set(), [], [], []
    for row in range(len(requests.ids)):
        for at in range(starts[row], starts[row + 1]):
            if vehicles[at] not in taken:
                taken.add(vehicles[at])
                served.append(row)
                chosen.append(vehicles[at])
                picked.append(pickup[at])
                break
    return Assignment(requests.ids[np.array(served, dtype=np.int64)], np.array(chosen, dtype=np.int64),
                      np.array(picked, dtype=np.float64))

