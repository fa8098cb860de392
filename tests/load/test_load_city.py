"""The load test's robotaxis drive at city speeds and stay in Liangjiang."""
import math

from load.city import METRES_PER_DEGREE, Car


def _metres(a: dict, b: dict) -> float:
    north = (b["lat"] - a["lat"]) * METRES_PER_DEGREE
    east = (b["lon"] - a["lon"]) * METRES_PER_DEGREE * math.cos(math.radians(a["lat"]))
    return math.hypot(north, east)


def test_a_car_moves_its_speed_each_second_and_never_leaves_the_district():
    car = Car(7)
    rows = [car.drive(1.0) for _ in range(3600)]  # an hour of reports
    steps = [_metres(a, b) for a, b in zip(rows, rows[1:])]
    assert all(5 <= step <= 17.01 for step in steps)
    assert all(Car.SOUTH - 0.01 < r["lat"] < Car.NORTH + 0.01 and Car.WEST - 0.01 < r["lon"] < Car.EAST + 0.01
               for r in rows)
    assert all(0 <= r["heading"] < 360 and r["vehicle_id"] == 7 for r in rows)
