"""The city simulation: demand of its own, rebalancing within its limits, metrics as defined."""
import math

import numpy as np
import pytest

from robotaxi_dispatch.engine.demand import CityDemand
from robotaxi_dispatch.engine.eta import BridgeAwareEta
from robotaxi_dispatch.engine.metrics import FleetUse, RideTimes, summary
from robotaxi_dispatch.engine.rebalancing import DemandForecast, Limits, Vehicles, plan
from robotaxi_dispatch.engine.simulation import Scenario, Simulation
from robotaxi_dispatch.engine.travel import TrueTravel

ETA = BridgeAwareEta()
NAN = math.nan


def _requests_made(vehicles: int) -> np.ndarray:
    simulation = Simulation(Scenario(vehicles=vehicles, requests_per_hour=300, minutes=5, warmup_minutes=2,
                                     policy="greedy", rebalance=False, seed=5))
    for _ in range(150):
        simulation.tick()
    book = simulation.book
    return np.column_stack([book.requested, book.ox, book.oy, book.dx, book.dy])[:book.n]


def test_demand_does_not_depend_on_the_fleet():
    small, large = _requests_made(50), _requests_made(800)
    assert len(small) > 20 and np.array_equal(small, large)


def test_demand_follows_the_hour_and_flows_back():
    demand = CityDemand(1000)
    assert demand.per_second(8) > 1.5 * demand.per_second(11) > 0 and demand.per_second(3) < demand.per_second(11)
    morning, evening = demand.od_matrix(8), demand.od_matrix(18)
    # Commuters leave homes in the morning and return in the evening: flows reverse.
    assert np.corrcoef(morning.ravel(), evening.T.ravel())[0, 1] > np.corrcoef(morning.ravel(), evening.ravel())[0, 1]


def _cluster(n, x, y, rng):
    return x + rng.normal(0, 100, n), y + rng.normal(0, 100, n)


def _forecast(points: dict, limits: Limits) -> DemandForecast:
    """Return a forecast with `n` requests seen at each (x, y)."""
    forecast = DemandForecast(limits.cell_m)
    for (x, y), n in points.items():
        forecast.observe(np.full(n, x), np.full(n, y), 0.0)
    return forecast


def test_rebalancing_moves_idle_cars_toward_forecast_deficits_within_its_limits():
    rng = np.random.default_rng(3)
    limits = Limits(max_idle_share=0.25, max_moves=40)
    # 100 idle cars at A; demand at B (5 km away) and at C (30 km away, beyond the distance limit).
    x, y = _cluster(100, 0.0, 0.0, rng)
    idle = Vehicles(np.arange(1, 101), x, y)
    forecast = _forecast({(5000.0, 1000.0): 400, (30000.0, 0.0): 400}, limits)
    moves = plan(forecast, idle, (np.empty(0), np.empty(0)), ETA, now=0.0, hour=10, limits=limits)
    assert 0 < len(moves.ids) <= 25 and len(set(moves.ids.tolist())) == len(moves.ids)
    assert np.allclose(moves.x, 5000.0) and np.allclose(moves.y, 1000.0)  # all toward B, none to C
    start = np.searchsorted(idle.ids, moves.ids)
    assert (ETA.road_distance(x[start], y[start], moves.x, moves.y) <= limits.max_distance_m).all()
    # The count limit binds as well as the share.
    few = plan(forecast, idle, (np.empty(0), np.empty(0)), ETA, now=0.0, hour=10, limits=Limits(max_moves=7))
    assert len(few.ids) == 7


def test_rebalancing_reaches_far_only_for_a_zone_short_of_its_demand():
    rng = np.random.default_rng(5)
    limits = Limits()
    x, y = _cluster(100, 0.0, 0.0, rng)
    idle = Vehicles(np.arange(1, 101), x, y)
    far = (11000.0, 0.0)  # beyond the balancing reach, within the shortage reach
    assert limits.balance_distance_m < ETA.road_distance(0.0, 0.0, *far)[0] < limits.max_distance_m
    nothing = (np.empty(0), np.empty(0))
    # Forecast requests there outrun the cars there: a shortage, worth the long drive.
    short = plan(_forecast({far: 400}, limits), idle, nothing, ETA, now=0.0, hour=10, limits=limits)
    assert len(short.ids) == int(limits.max_idle_share * 100) and np.allclose(short.x, far[0], atol=1)
    # One request seen there: idle cars would only be spread toward it, not driven 11 km for it.
    spread = plan(_forecast({far: 1}, limits), idle, nothing, ETA, now=0.0, hour=10, limits=limits)
    assert len(spread.ids) == 0


def test_rebalancing_counts_cars_already_on_their_way_and_leaves_a_balanced_city_alone():
    rng = np.random.default_rng(4)
    limits = Limits()
    x, y = _cluster(50, 1000.0, 1000.0, rng)  # inside one zone
    forecast = _forecast({(1000.0, 1000.0): 300, (5000.0, 1000.0): 300}, limits)
    idle = Vehicles(np.arange(1, 51), x, y)
    heading = (np.full(50, 5000.0), np.full(50, 1000.0))  # as many already drive to the other zone
    moves = plan(forecast, idle, heading, ETA, now=0.0, hour=10, limits=limits)
    assert len(moves.ids) == 0


def test_metrics_on_a_hand_worked_case():
    # Four requests in the window [0, 100), one before it. Times in seconds.
    rides = RideTimes(requested=np.array([-50.0, 0.0, 10.0, 20.0, 30.0]),
                      assigned=np.array([-40.0, 5.0, 20.0, NAN, 40.0]),
                      picked_up=np.array([0.0, 65.0, 130.0, NAN, 190.0]),
                      dropped_off=np.array([100.0, 365.0, 430.0, NAN, NAN]),
                      direct_s=np.array([100.0, 250.0, 200.0, 300.0, 150.0]),
                      true_direct_s=np.array([130.0, 300.0, 260.0, 390.0, 170.0]),
                      pickup_eta_s=np.array([40.0, 50.0, 120.0, NAN, 150.0]))
    use = FleetUse(fleet_s=2 * 3600.0, busy_s=3600.0, km={"pickup": 3.0, "trip": 12.0, "rebalancing": 4.0,
                                                          "charging": 1.0})
    got = summary(rides, use, (0.0, 100.0))
    waits = [65.0, 120.0, 160.0]
    assert got["requests"] == 4 and got["served_share"] == 0.75
    assert got["mean_wait_s"] == pytest.approx(np.mean(waits)) and got["median_wait_s"] == 120.0
    assert got["p95_wait_s"] == pytest.approx(np.percentile(waits, 95))
    assert got["in_vehicle_vs_direct"] == pytest.approx((300 + 300) / (250 + 200))
    assert got["empty_km_share"] == pytest.approx(8 / 20) and got["rebalancing_km"] == 4.0
    assert got["utilisation"] == 0.5 and got["rides_per_vehicle_hour"] == 1.5
    # Load is the fleet's real need for every request made in the window, served or not; the quote beside it.
    assert got["load"] == pytest.approx((300 + 260 + 390 + 170) / 7200)
    assert got["load_quoted"] == pytest.approx((250 + 200 + 300 + 150) / 7200)
    errors = [60 - 50, 110 - 120, 150 - 150]  # real minus promised pickup time
    assert got["eta_error_mean_s"] == pytest.approx(0.0)
    assert got["eta_error_p95_s"] == pytest.approx(np.percentile(np.abs(errors), 95))


def test_true_trip_time_is_the_mean_true_drive_on_a_hand_worked_case():
    travel = TrueTravel(ETA)
    noise_mean = math.exp(0.2 ** 2 / 2)  # lognormal noise of sigma 0.2 around 1
    # West of the centre, 4 km straight with no river: 5,400 road metres at 8:00, the ETA table's
    # 5 m/s slowed to 82% of it.
    plain = (np.array([-15000.0]), np.zeros(1), np.array([-11000.0]), np.zeros(1))
    assert ETA.crossings(*plain)[0] == 0
    assert travel.expected(*plain, hour=8)[0] == pytest.approx(5400 / (5 * 0.82) * noise_mean)
    # South over the Yangtze from the centre: the bridge's road metres, and its 3-minute queue at 8:00.
    bridge = (np.zeros(1), np.zeros(1), np.zeros(1), np.array([-4000.0]))
    assert ETA.crossings(*bridge)[0] == 1
    road = ETA.road_distance(*bridge)[0]
    assert travel.expected(*bridge, hour=8)[0] == pytest.approx(road / (5 * 0.82) * noise_mean + 180)
    # It is what the drives take on average.
    many = [np.repeat(end, 20000) for end in bridge]
    drives = travel.drive(*many, hour=8, rng=np.random.default_rng(1))
    assert drives.seconds.mean() == pytest.approx(travel.expected(*bridge, hour=8)[0], rel=0.01)


def test_load_is_a_property_of_the_demand_not_of_the_policy():
    def figures(policy: str, rebalance: bool) -> dict:
        return Simulation(Scenario(vehicles=60, requests_per_hour=300, minutes=10, warmup_minutes=2, policy=policy,
                                   rebalance=rebalance, seed=7)).run()
    greedy, batch = figures("greedy", False), figures("batch", True)
    assert greedy["load"] == batch["load"] and greedy["load_quoted"] == batch["load_quoted"]
    # At 8:00 true traffic is slower than the dispatcher's table and bridges queue.
    assert greedy["load"] > 1.1 * greedy["load_quoted"] > 0


def test_the_forecast_weighs_past_days_at_this_hour_beside_recent_requests():
    limits = Limits()
    forecast = _forecast({(5000.0, 1000.0): 36}, limits)  # 36 requests seen just now at A
    a, b = forecast.zone(5000.0, 1000.0), forecast.zone(-9000.0, 1000.0)
    # A week with 14 requests at B at 8:00 each day, none at A then.
    forecast.learn_days(np.full(7 * 14, -9000.0), np.full(7 * 14, 1000.0), np.full(7 * 14, 8), days=7)
    recent_a = 36 / forecast.memory_s
    assert forecast.rates(0.0)[a] == pytest.approx(recent_a) and forecast.rates(0.0)[b] == 0  # no hour: recent only
    at_eight = forecast.rates(0.0, hour=8)
    assert at_eight[a] == pytest.approx(recent_a / 2) and at_eight[b] == pytest.approx(14 / 3600 / 2)
    assert forecast.rates(0.0, hour=9)[b] == 0
    # Idle cars at 8:00 go to B although nobody asked there today.
    x, y = _cluster(50, -3000.0, 1000.0, np.random.default_rng(6))
    moves = plan(forecast, Vehicles(np.arange(1, 51), x, y), (np.empty(0), np.empty(0)), ETA, now=0.0, hour=8,
                 limits=limits)
    assert (forecast.zone(moves.x, moves.y) == b).any()
