"""Service-first matching: waits count, finishing vehicles are candidates, re-optimisation has hysteresis."""
import math

import numpy as np

from robotaxi_dispatch.engine.chongqing import to_lat_lon
from robotaxi_dispatch.engine.demand import Trips
from robotaxi_dispatch.engine.eta import BridgeAwareEta
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, FleetIndex
from robotaxi_dispatch.engine.matcher import (
    Candidates,
    Finishing,
    OpenRequests,
    ServiceCosts,
    assign_rides,
    candidates,
    finishing_candidates,
    join,
    keep_edges,
)
from robotaxi_dispatch.engine.simulation import Scenario, Simulation
from robotaxi_dispatch.engine.travel import Drive
from robotaxi_dispatch.engine.vehicles import IDLE, ON_TRIP, TO_PICKUP

NOW, HOUR = 1000.0, 10
COSTS = ServiceCosts()
ETA = BridgeAwareEta()


def _requests(points) -> OpenRequests:
    lat, lon = to_lat_lon(*np.array(points, dtype=np.float64).T)
    return OpenRequests(ids=np.arange(1, len(points) + 1), lat=lat, lon=lon, passengers=np.ones(len(points), int),
                        trip_m=np.full(len(points), 5000.0))


def _edges(rows, vehicles, pickup_s) -> Candidates:
    pickup_s = np.array(pickup_s, dtype=np.float64)
    return Candidates(np.array(rows), np.array(vehicles), pickup_s + 1, pickup_s)


def test_a_rider_waiting_long_wins_over_a_newer_one_nearby():
    # One car, 200 s from a rider who has waited 5 minutes and 60 s from one who just asked.
    requests = _requests([(0, 0), (500, 0)])
    edges = _edges([0, 1], [7, 7], [200, 60])
    waited = np.array([300.0, 0.0])
    got = assign_rides(requests, edges, unserved_s=COSTS.unserved(waited))
    assert got.request_ids.tolist() == [1]
    # Without counting the wait, the nearer, newer rider would have won.
    plain = assign_rides(requests, edges, unserved_s=COSTS.unserved_s)
    assert plain.request_ids.tolist() == [2]


def _free_car_and_finishing_car(free_m: float, seconds_left: float = 90.0):
    """Return one request at the origin, its edges to a free car `free_m` east and a car dropping off 300 m east."""
    index = FleetIndex()
    lat, lon = to_lat_lon(np.array([free_m]), np.array([0.0]))
    index.upsert([1], lat, lon, ts=NOW, soc=[80], seats=[4], status=AVAILABLE)
    requests = _requests([(0, 0)])
    finishing = Finishing(ids=np.array([2]), x=np.array([300.0]), y=np.array([0.0]),
                          seconds_left=np.array([seconds_left]), soc=np.array([70.0]), seats=np.array([4]))
    return requests, join(candidates(requests, index, ETA, now=NOW, hour=HOUR, k=5, radius_m=8000, max_pickup_s=900),
                          finishing_candidates(requests, finishing, ETA, hour=HOUR, k=5, radius_m=8000,
                                               max_pickup_s=900, premium_s=COSTS.finishing_premium_s))


def test_a_vehicle_about_to_drop_off_is_a_candidate_after_its_drop_off():
    requests, edges = _free_car_and_finishing_car(4000.0)  # the free car is over 10 minutes away
    onward = ETA.seconds(300.0, 0.0, 0.0, 0.0, hour=HOUR)[0]
    pickup = dict(zip(edges.vehicles.tolist(), edges.pickup_s.tolist()))
    assert math.isclose(pickup[2], 90.0 + onward) and pickup[2] + COSTS.finishing_premium_s < pickup[1]
    got = assign_rides(requests, edges, unserved_s=COSTS.unserved(np.zeros(1)))
    assert got.vehicle_ids.tolist() == [2] and math.isclose(got.pickup_s[0], 90.0 + onward)
    # One still 20 minutes from its drop-off is no candidate.
    assert 2 not in _free_car_and_finishing_car(4000.0, seconds_left=1200.0)[1].vehicles.tolist()


def test_a_free_vehicle_wins_over_one_dropping_off_unless_the_busy_one_is_much_sooner():
    requests, edges = _free_car_and_finishing_car(2000.0)
    pickup = dict(zip(edges.vehicles.tolist(), edges.pickup_s.tolist()))
    assert pickup[2] < pickup[1] < pickup[2] + COSTS.finishing_premium_s
    got = assign_rides(requests, edges, unserved_s=COSTS.unserved(np.zeros(1)))
    assert got.vehicle_ids.tolist() == [1]


def _reoptimised(remaining_s: float, newcomer_s: float) -> int:
    """Return the vehicle a promised ride ends with: its own (1) or a newcomer (2)."""
    requests = _requests([(0, 0)])
    edges = join(keep_edges(np.array([0]), np.array([1]), np.array([remaining_s]), COSTS),
                 _edges([0], [2], [newcomer_s]))
    got = assign_rides(requests, edges, unserved_s=COSTS.unserved(np.array([50.0]), promised=np.array([True])))
    return int(got.vehicle_ids[0])


def test_reoptimisation_swaps_only_past_the_hysteresis():
    margin = COSTS.hysteresis_s
    assert _reoptimised(400, 400 - margin + 10) == 1   # sooner, but not by the margin
    assert _reoptimised(400, 400 - margin - 10) == 2   # sooner by more than the margin
    assert _reoptimised(margin - 20, 0) == 1           # nearly there: never swapped
    # A promised ride keeps a vehicle even when only a far one is left.
    requests = _requests([(0, 0)])
    got = assign_rides(requests, _edges([0], [3], [880]),
                       unserved_s=COSTS.unserved(np.array([0.0]), promised=np.array([True])))
    assert got.vehicle_ids.tolist() == [3]


def test_unserved_cost_grows_with_the_wait():
    cost = COSTS.unserved(np.array([0.0, 60.0, 600.0]))
    assert cost[0] == COSTS.unserved_s and np.all(np.diff(cost) > 0)
    assert cost[2] - cost[1] > 540  # more than a second of cost per second waited



def _one_rider_two_cars():
    """Return a simulation with one rider queued behind a car 20 minutes from its drop-off, and a free car near."""
    simulation = Simulation(Scenario(vehicles=2, requests_per_hour=0.0, seed=1))
    fleet, book = simulation.fleet, simulation.book
    fleet.x0[:], fleet.y0[:], fleet.x1[:], fleet.y1[:] = [9000.0, 800.0], [0.0, 0.0], [9000.0, 800.0], [0.0, 0.0]
    fleet.soc[:] = 80.0
    row = book.add(Trips(at=np.zeros(1), ox=np.zeros(1), oy=np.zeros(1), dx=np.full(1, 3000.0), dy=np.zeros(1)),
                   np.full(1, 4000.0), np.full(1, 500.0), np.full(1, 600.0))
    simulation.fleet.start(np.array([0]), ON_TRIP, (np.array([9500.0]), np.zeros(1)), 0.0,
                           Drive(np.full(1, 500.0), np.full(1, 1200.0), np.full(1, 1200.0)))
    simulation._assign(row, np.array([0]), np.full(1, 1300.0), HOUR)
    return simulation, row[0]


def test_a_ride_queued_behind_a_trip_moves_to_a_free_car_much_sooner_and_the_trip_goes_on():
    simulation, row = _one_rider_two_cars()
    fleet = simulation.fleet
    assert fleet.queued[0] == row and fleet.state[1] == IDLE
    simulation._match(HOUR)
    assert simulation.book.vehicle[row] == 1 and fleet.state[1] == TO_PICKUP and fleet.ride[1] == row
    # The first car keeps its passenger and trip; it only has no next rider any more.
    assert fleet.state[0] == ON_TRIP and fleet.queued[0] == -1 and fleet.x1[0] == 9500.0
