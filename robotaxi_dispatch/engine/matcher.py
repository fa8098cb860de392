"""Match open ride requests to vehicles each tick: a minimum-cost assignment, and greedy as baseline.

Both matchers see the same candidates (the k nearest dispatchable vehicles with enough seats)
and the same costs: pickup seconds from the ETA model, plus a penalty for a vehicle whose
battery would end the trip below the reserve; a vehicle that cannot finish the trip at all, or
is further than the pickup limit, is no candidate.
"""
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.engine.eta import EtaModel
from robotaxi_dispatch.engine.fleet_index import FleetIndex

BATTERY_KWH = 60.0
KWH_PER_KM = 0.16
RESERVE_SOC = 20.0          # % a vehicle should keep after the trip
LOW_BATTERY_PENALTY_S = 600  # a trip ending below the reserve counts as ten minutes worse


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


def candidates(requests: OpenRequests, index: FleetIndex, eta: EtaModel, *, now: float, hour: int,
               k: int, radius_m: float, max_pickup_s: float) -> Candidates:
    """Return every usable (request, vehicle) edge with its cost."""
    near = index.nearest(requests.lat, requests.lon, k=k, radius_m=radius_m, now=now,
                         min_seats=requests.passengers)
    rows, cols = np.nonzero(near.ids >= 0)
    vehicles = near.ids[rows, cols]
    slots = index.slots_of(vehicles)
    qx, qy = to_xy(requests.lat[rows], requests.lon[rows])
    pickup_m = eta.road_distance(index.x[slots], index.y[slots], qx, qy)
    pickup_s = eta.seconds(index.x[slots], index.y[slots], qx, qy, hour=hour)
    left = index.soc[slots] - soc_needed(pickup_m + requests.trip_m[rows])
    usable = (left > 0) & (pickup_s <= max_pickup_s)
    cost = pickup_s + np.where(left < RESERVE_SOC, LOW_BATTERY_PENALTY_S, 0) + 1.0
    return Candidates(rows[usable], vehicles[usable], cost[usable], pickup_s[usable])


def assign_rides(requests: OpenRequests, edges: Candidates, *, unserved_s: float) -> Assignment:
    """Assign vehicles at the least total cost, a request left open costing `unserved_s`.

    With `unserved_s` at the pickup limit this minimises the mean wait of all open requests,
    counting one left open as waiting at least that long.
    """
    n = len(requests.ids)
    if n == 0 or len(edges.rows) == 0:
        return Assignment(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    vehicles, col = np.unique(edges.vehicles, return_inverse=True)
    # One private "unserved" column per request keeps the matching full.
    rows = np.concatenate([edges.rows, np.arange(n)])
    cols = np.concatenate([col, len(vehicles) + np.arange(n)])
    costs = np.concatenate([edges.cost, np.full(n, float(unserved_s))])
    graph = csr_matrix((costs, (rows, cols)), shape=(n, len(vehicles) + n))
    _, matched = min_weight_full_bipartite_matching(graph)
    served = np.flatnonzero(matched < len(vehicles))
    return _assignment(requests, edges, served, vehicles[matched[served]])


def assign_greedy(requests: OpenRequests, edges: Candidates) -> Assignment:
    """Serve requests in arrival order, each with its cheapest vehicle still free."""
    order = np.lexsort((edges.cost, edges.rows))
    rows, vehicles = edges.rows[order], edges.vehicles[order]
    starts = np.searchsorted(rows, np.arange(len(requests.ids) + 1))
    taken, served, chosen = set(), [], []
    for row in range(len(requests.ids)):
        for vehicle in vehicles[starts[row]:starts[row + 1]]:
            if vehicle not in taken:
                taken.add(vehicle)
                served.append(row)
                chosen.append(vehicle)
                break
    return _assignment(requests, edges, np.array(served, dtype=np.int64), np.array(chosen, dtype=np.int64))


def _assignment(requests: OpenRequests, edges: Candidates, served: np.ndarray,
                vehicles: np.ndarray) -> Assignment:
    """Return the assignment with each pair's pickup seconds."""
    lookup = {(r, v): s for r, v, s in zip(edges.rows.tolist(), edges.vehicles.tolist(),
                                            edges.pickup_s.tolist())}
    pickup = np.array([lookup[(r, v)] for r, v in zip(served.tolist(), vehicles.tolist())])
    return Assignment(requests.ids[served], vehicles, pickup)

