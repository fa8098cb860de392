"""The city of the load test: where drivers search, where riders leave from, how the robotaxis drive."""
import math
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

HOTSPOTS = [(29.5578, 106.5772), (29.5790, 106.5320), (29.5565, 106.4570), (29.6085, 106.5505)]
LIANGJIANG = [(29.6600, 106.5450), (29.6900, 106.5800), (29.7100, 106.5650), (29.6750, 106.5600)]
VENUE = (29.744, 106.805)
VISA = "4242424242424242"  # the sandbox card that always pays
VEHICLES_PER_GATEWAY = 200  # robotaxis whose positions one fleet gateway forwards
METRES_PER_DEGREE = 111_320  # of latitude; of longitude times cos(latitude)


def near(points, spread=0.01):
    lat, lon = random.choice(points)
    return lat + random.uniform(-spread, spread), lon + random.uniform(-spread, spread)


def evening_search(hours_ahead: int = 0, hours: int = 3, **extra) -> str:
    """Return the query of a driver near a hotspot looking for an 800 V charger."""
    lat, lon = near(HOTSPOTS)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_ahead)
    return urlencode({"lat": f"{lat:.5f}", "lon": f"{lon:.5f}", "radius_m": 3000, "resource_kind": "charger",
                      "from": start.isoformat(), "to": (start + timedelta(hours=hours)).isoformat(), **extra})


class Car:
    """A robotaxi driving through Liangjiang at a city speed, turning at junctions."""

    SOUTH, NORTH = min(p[0] for p in LIANGJIANG) - 0.01, max(p[0] for p in LIANGJIANG) + 0.01
    WEST, EAST = min(p[1] for p in LIANGJIANG) - 0.01, max(p[1] for p in LIANGJIANG) + 0.01

    def __init__(self, vehicle_id: str):
        self.vehicle_id = vehicle_id
        self.lat, self.lon = near(LIANGJIANG)
        self.heading = random.uniform(0, 2 * math.pi)  # radians clockwise from north
        self.speed = random.uniform(5, 17)  # m/s: 18-60 km/h in evening traffic

    def drive(self, seconds: float) -> dict:
        """Move along the heading for `seconds` and return the car's telemetry row."""
        if not (self.SOUTH < self.lat < self.NORTH and self.WEST < self.lon < self.EAST):
            # Leaving the district: head back towards its centre rather than drive off the map.
            self.heading = math.atan2((self.WEST + self.EAST) / 2 - self.lon, (self.SOUTH + self.NORTH) / 2 - self.lat)
        elif random.random() < 0.05:  # a junction
            self.heading += random.choice((-1, 1)) * math.pi / 2
        metres = self.speed * seconds
        self.lat += metres * math.cos(self.heading) / METRES_PER_DEGREE
        self.lon += metres * math.sin(self.heading) / (METRES_PER_DEGREE * math.cos(math.radians(self.lat)))
        return {"vehicle_id": self.vehicle_id, "lat": self.lat, "lon": self.lon, "soc": 80,
                "heading": math.degrees(self.heading) % 360, "speed_mps": self.speed,
                "ts": datetime.now(UTC).isoformat()}
