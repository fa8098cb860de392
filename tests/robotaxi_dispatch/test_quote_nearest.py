"""The quote's nearest free car: read near the pickup only, the same answer as reading the whole region."""
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend.geo import Point
from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.rides import positions, services
from robotaxi_dispatch.rides.models import TelemetryRow, Vehicle, VehicleStatus
from tests.factories import make_org

PICKUP = Point(lat=29.6600, lon=106.5450)
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # 18:00 in Chongqing, the evening peak's speed


def at(north_m: float, east_m: float) -> tuple[float, float]:
    """Return the point so many metres north and east of the pickup."""
    return (PICKUP.lat + north_m / positions.M_PER_DEG_LAT,
            PICKUP.lon + east_m / positions.M_PER_DEG_LAT / math.cos(math.radians(PICKUP.lat)))


@pytest.fixture
def fleet(app, session):
    """Add vehicles: (row position, row age s, newer Redis position or None, status, seats) each."""
    org = make_org(session, kind="operator")
    redis = app.extensions["redis"]

    def add(cars):
        vehicles = [Vehicle(organisation_id=org.id, plate=f"渝A{n:05d}Q", model="rt6", seats=seats,
                            region="liangjiang", status=status, lat=row[0], lon=row[1],
                            position_at=NOW - timedelta(seconds=age))
                    for n, (row, age, _, status, seats) in enumerate(cars)]
        session.add_all(vehicles)
        session.commit()
        reports = [TelemetryRow(vehicle_id=v.id, lat=newer[0], lon=newer[1], ts=NOW - timedelta(seconds=5))
                   for v, (_, _, newer, _, _) in zip(vehicles, cars) if newer]
        if reports:
            positions.remember(redis, "liangjiang", reports)
    return add


def nearest(app, session, passengers=1, pickup=PICKUP):
    return services.nearest_pickup_s(session, app.extensions["redis"], ("liangjiang", pickup, passengers), NOW)


def whole_region(cars, passengers=1, pickup=PICKUP) -> int | None:
    """Return the answer of reading every free vehicle of the region, as quotes did before."""
    found = [newer or row for row, age, newer, status, seats in cars
             if status == VehicleStatus.available and seats >= passengers
             and (newer or age <= services.FRESH_POSITION.total_seconds())]
    if not found:
        return None
    lat, lon = np.array(found).T
    here = to_xy(pickup.lat, pickup.lon)
    return int(services.ETA.seconds(*to_xy(lat, lon), np.full(len(lat), here[0]), np.full(len(lat), here[1]),
                                    hour=services.hour_of(NOW)).min())


def car(row, newer=None, *, age=20, status=VehicleStatus.available, seats=4):
    return (at(*row), age, newer and at(*newer), status, seats)


def test_a_car_whose_telemetry_is_newer_than_its_row_is_the_nearest(app, session, fleet):
    cars = [car((1550, 0), newer=(1100, 0)),  # came 450 m closer since its row was written
            car((0, 1200)),
            car((300, 0), newer=(0, -1300)),  # its row is nearest, but it has left
            car((0, 400), age=600),  # heard from ten minutes ago: not counted
            car((200, 0), status=VehicleStatus.on_trip), car((-200, 0), seats=2)]
    fleet(cars)
    assert nearest(app, session) == whole_region(cars) == whole_region(cars[-1:])
    assert nearest(app, session, passengers=3) == whole_region(cars, passengers=3) == whole_region(cars[:1])


def test_a_car_only_within_the_wider_look_is_found(app, session, fleet):
    cars = [car((2500, 0)), car((0, -3000))]
    fleet(cars)
    assert nearest(app, session) == whole_region(cars) > 60


def test_a_car_heard_of_but_not_yet_written_to_its_row_counts(app, session, fleet):
    cars = [car((0, 1500)), ((None, None), 20, at(900, 0), VehicleStatus.available, 4)]
    fleet(cars)
    assert nearest(app, session) == whole_region(cars) == whole_region(cars[1:])


def test_no_car_within_the_dispatchers_pickup_limit_means_none_near(app, session, fleet):
    fleet([car((8000, 0))])
    assert nearest(app, session) is None


def test_the_nearest_car_is_the_one_the_whole_region_gives_wherever_the_pickup(app, session, fleet):
    rng = random.Random(18)
    cars = [car((rng.uniform(-6000, 6000), rng.uniform(-6000, 6000)), age=rng.choice((20, 20, 400)),
                status=rng.choice((VehicleStatus.available, VehicleStatus.available, VehicleStatus.on_trip)),
                seats=rng.choice((2, 4)))
            for _ in range(60)]
    cars = [(row, age, rng.choice((None, drifted(row, rng))), status, seats) for row, age, _, status, seats in cars]
    fleet(cars)
    for _ in range(20):
        pickup = Point(lat=PICKUP.lat + rng.uniform(-0.04, 0.04), lon=PICKUP.lon + rng.uniform(-0.04, 0.04))
        passengers = rng.choice((1, 3))
        expected = whole_region(cars, passengers, pickup)
        answer = nearest(app, session, passengers, pickup)
        if expected is not None and expected <= 900:
            assert answer == expected
        else:  # beyond the limit: none near, or a car at least as far
            assert answer is None or answer >= max(expected or 0, 900)


def drifted(row: tuple[float, float], rng: random.Random) -> tuple[float, float]:
    """Return a position at most the drift between two flushes away from a row's."""
    step = positions.DRIFT_M * 0.9 / positions.M_PER_DEG_LAT
    return row[0] + rng.uniform(-step, step) * 0.7, row[1] + rng.uniform(-step, step) * 0.7
