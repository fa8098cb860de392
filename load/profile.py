"""Profile the nearby availability search in-process (cProfile) on the seeded demo.

`python -m load.profile` (PostgreSQL/PostGIS and Redis on 127.0.0.1, as for `make load`):
PROFILE_REQUESTS searches (default 300) from the load test's hotspots, after a warm-up; prints
the mean time per request and where it went (cumulative, the platform's own functions first).
"""
import cProfile
import io
import os
import pstats
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from load.stage import ROOT, seeded_database

HOTSPOTS = [(29.5578, 106.5772), (29.5790, 106.5320), (29.5565, 106.4570), (29.6085, 106.5505)]


def searches(count: int, seed: int = 18):
    """Yield the query strings of `count` evening searches: 800 V chargers for the next three hours."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    for _ in range(count):
        lat, lon = rng.choice(HOTSPOTS)
        yield {"lat": lat + rng.uniform(-0.01, 0.01), "lon": lon + rng.uniform(-0.01, 0.01), "radius_m": 3000,
               "resource_kind": "charger", "voltage_class": 800, "from": start.isoformat(),
               "to": (start + timedelta(hours=3)).isoformat()}


def profile_in_process(count: int) -> str:
    """Run the searches through the app's test client under cProfile; return the summary."""
    from backend import create_app

    client = create_app().test_client()
    for query in searches(20, seed=1):
        assert client.get("/api/v1/availability", query_string=query).status_code == 200
    profiler, began = cProfile.Profile(), time.perf_counter()
    profiler.enable()
    for query in searches(count):
        client.get("/api/v1/availability", query_string=query)
    profiler.disable()
    elapsed = time.perf_counter() - began
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(r"(booking|backend|mobile_api)/", 25)
    stats.sort_stats("tottime").print_stats(15)
    return f"{count} searches, {elapsed / count * 1000:.2f} ms each (under cProfile)\n" + out.getvalue()


def main() -> int:
    count = int(os.environ.get("PROFILE_REQUESTS", "300"))
    if os.environ.get("DATABASE_URL"):
        print(profile_in_process(count))
        return 0
    with seeded_database("cq_profile") as env:
        return subprocess.run([sys.executable, "-m", "load.profile"], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
