"""Benchmark the engine against its peers on the same data, in one run; print one JSON object.

    python -m robotaxi_dispatch.bench [--vehicles 50000] [--requests 2000] [--queries 20000]
                                      [--quality-vehicles 2000] [--plot robotaxi_dispatch/dispatch_quality.png]

Peers (DESIGN.md): scipy cKDTree (rebuilt every tick, no filters), Redis GEOSEARCH pipelined,
PostGIS KNN with a prepared statement, Redis GEOADD pipelined for ingest. Redis and PostgreSQL
are optional: a peer that cannot be reached is reported as skipped with the reason. Dispatch
quality: greedy, batch and batch+rebalancing simulated at the production tick on the same
demand at loads ~0.5 and ~0.75 (`QUALITY_LOADS`); `--plot` draws their served share and mean
wait against the load reached.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the targets are stated

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor  # noqa: E402
from copy import deepcopy  # noqa: E402

import numpy as np  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

from robotaxi_dispatch import quality  # noqa: E402
from robotaxi_dispatch.dispatcher import REBALANCING, SERVICE  # noqa: E402
from robotaxi_dispatch.engine import rebalancing, synthetic  # noqa: E402
from robotaxi_dispatch.engine.chongqing import to_lat_lon, to_xy  # noqa: E402
from robotaxi_dispatch.engine.eta import BridgeAwareEta  # noqa: E402
from robotaxi_dispatch.engine.fleet_index import AVAILABLE, FleetIndex  # noqa: E402
from robotaxi_dispatch.engine.matcher import OpenRequests, assign_rides, candidates  # noqa: E402
from robotaxi_dispatch.engine.simulation import Scenario  # noqa: E402

K, RADIUS_M, HOUR, NOW, MAX_PICKUP_S = 10, 3000.0, 8, 1_000_000.0, 1200.0
# Demand (requests per hour, day mean) that loads the quality fleet to about 0.5 and 0.75 in the
# 8:00-9:00 window: the true trip time the fleet needs / fleet time (`engine.metrics`: 0.52 and
# 0.76 here, 0.40 and 0.59 in the trip time the dispatcher quotes); the load reached is reported.
QUALITY_LOADS = {"load_0.5": 800.0, "load_0.75": 1200.0}
TARGETS = {"ingest_updates_per_s": 1_000_000, "knn_vs_ckdtree_rebuild": 1.0, "knn_vs_redis": 100.0,
           "knn_vs_postgis": 50.0, "tick_ms": 100.0,
           "load_0.5_served_share": 0.99, "load_0.5_mean_wait_s": 180.0, "load_0.5_p95_wait_s": 480.0,
           "load_0.5_empty_km_share": 0.20, "load_0.75_served_share": 0.95,
           **{f"{load}_{check}": target for load in QUALITY_LOADS for check, target in (
               ("rebalancing_vs_greedy_wait_cut_pct", 20.0), ("rebalancing_vs_greedy_served_pts", 0.0),
               ("batch_vs_greedy_wait_cut_pct", 15.0), ("batch_vs_greedy_served_pts", -0.5))}}
AT_MOST = ("tick_ms", "wait_s", "empty_km_share")  # figures that must stay under their target


def timed(fn, repeats: int = 5) -> float:
    """Return the median seconds of several runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def loaded_index(fleet) -> FleetIndex:
    index = FleetIndex()
    index.upsert(fleet.ids, fleet.lat, fleet.lon, ts=NOW, soc=fleet.soc, seats=fleet.seats,
                 status=fleet.status)
    return index


def bench_ingest(fleet, rng) -> float:
    index, batch = loaded_index(fleet), 5000
    lat, lon = synthetic.move(fleet.lat, fleet.lon, rng, 50)

    def ingest():
        for s in range(0, len(fleet.ids), batch):
            index.upsert(fleet.ids[s:s + batch], lat[s:s + batch], lon[s:s + batch], ts=NOW,
                         soc=fleet.soc[s:s + batch])
    return len(fleet.ids) / timed(ingest)


def bench_knn(fleet, qlat, qlon, passengers) -> dict:
    index = loaded_index(fleet)

    def ours():  # positions changed since the last search: the index rebuilds what it needs
        index.set_status(fleet.ids[:1], fleet.status[0])
        index.nearest(qlat, qlon, k=K, radius_m=RADIUS_M, now=NOW, min_seats=passengers)
    points = np.column_stack(to_xy(fleet.lat, fleet.lon))
    queries = np.column_stack(to_xy(qlat, qlon))
    tree = cKDTree(points)

    def rebuild_and_query():
        cKDTree(points).query(queries, k=K, distance_upper_bound=RADIUS_M)
    n = len(qlat)
    return {"index_qps": n / timed(ours), "ckdtree_rebuild_query_qps": n / timed(rebuild_and_query),
            "ckdtree_query_only_qps": n / timed(lambda: tree.query(queries, k=K, distance_upper_bound=RADIUS_M)),
            "ckdtree_rebuild_ms": 1000 * timed(lambda: cKDTree(points))}


def bench_redis(fleet, qlat, qlon) -> dict:
    import redis
    r = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
                             socket_connect_timeout=2)
    r.ping()
    r.delete("bench:fleet")
    members = [v for lon, lat, vid in zip(fleet.lon.tolist(), fleet.lat.tolist(), fleet.ids.tolist())
               for v in (lon, lat, vid)]

    def geoadd():
        pipe = r.pipeline(transaction=False)
        for s in range(0, len(members), 3000):
            pipe.geoadd("bench:fleet", members[s:s + 3000])
        pipe.execute()
    add_s = timed(geoadd, repeats=3)
    q = min(len(qlat), 2000)

    def geosearch():
        pipe = r.pipeline(transaction=False)
        for i in range(q):
            pipe.geosearch("bench:fleet", longitude=float(qlon[i]), latitude=float(qlat[i]), radius=RADIUS_M,
                           unit="m", sort="ASC", count=K)
        pipe.execute()
    search_s = timed(geosearch, repeats=3)
    r.delete("bench:fleet")
    return {"redis_geoadd_updates_per_s": len(fleet.ids) / add_s, "redis_geosearch_qps": q / search_s}


def bench_postgis(fleet, qlat, qlon) -> dict:
    import psycopg
    admin = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute("DROP DATABASE IF EXISTS cq_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE cq_bench")
    try:
        with psycopg.connect(admin.rsplit("/", 1)[0] + "/cq_bench", autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            conn.execute("CREATE TABLE fleet (id int PRIMARY KEY, geom geography(Point, 4326))")
            with conn.cursor().copy("COPY fleet (id, geom) FROM STDIN") as copy:
                for i in range(len(fleet.ids)):
                    copy.write_row((int(fleet.ids[i]), f"SRID=4326;POINT({fleet.lon[i]} {fleet.lat[i]})"))
            conn.execute("CREATE INDEX ON fleet USING gist (geom)")
            conn.execute("ANALYZE fleet")
            sql = ("SELECT id FROM fleet WHERE ST_DWithin(geom, ST_MakePoint(%s, %s)::geography, %s) "
                   "ORDER BY geom <-> ST_MakePoint(%s, %s)::geography LIMIT %s")
            q = min(len(qlat), 1000)

            def knn():
                with conn.cursor() as cur:
                    for i in range(q):
                        cur.execute(sql, (qlon[i], qlat[i], RADIUS_M, qlon[i], qlat[i], K), prepare=True)
                        cur.fetchall()
            return {"postgis_knn_qps": q / timed(knn, repeats=3)}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS cq_bench WITH (FORCE)")


def _forecast(rng) -> rebalancing.DemandForecast:
    """Return a forecast learnt from an hour of hotspot requests, as the dispatcher holds one."""
    forecast = rebalancing.DemandForecast(REBALANCING.cell_m)
    lat, lon = synthetic.demand(3600, rng)
    forecast.observe(*to_xy(lat, lon), NOW)
    return forecast


def bench_tick(fleet, requests: OpenRequests, rng) -> dict:
    """Time the dispatcher's heaviest tick and, apart, the rebalancing plan it computes in the background.

    The tick is what riders wait on: follow every position, match, and send the moves of the last
    plan (less those of vehicles matched since). The dispatcher computes the next plan in a thread
    between ticks; the tick is also timed with the plan running beside it, as when a plan overruns.
    """
    index, eta = loaded_index(fleet), BridgeAwareEta()
    lat, lon = synthetic.move(fleet.lat, fleet.lon, rng, 50)
    forecast, waited = _forecast(rng), rng.uniform(0, 300, len(requests.ids))

    def match():
        index.upsert(fleet.ids, lat, lon, ts=NOW, soc=fleet.soc)
        edges = candidates(requests, index, eta, now=NOW, hour=HOUR, k=K, radius_m=RADIUS_M,
                           max_pickup_s=MAX_PICKUP_S)
        return assign_rides(requests, edges, unserved_s=SERVICE.unserved(waited))

    def plan():
        slots = index.dispatchable(NOW)
        idle = rebalancing.Vehicles(index.ids[slots], index.x[slots], index.y[slots])
        return rebalancing.plan(deepcopy(forecast), idle, (np.empty(0), np.empty(0)), eta, now=NOW, hour=HOUR,
                                limits=REBALANCING)
    moves = plan()
    heading: dict[int, tuple[float, float]] = {}  # the dispatcher remembers where each vehicle it sent heads

    def tick():
        match()
        sent = rebalancing.still_free(moves, index.ids[index.dispatchable(NOW)])
        heading.update(zip(sent.ids.tolist(), zip(*to_lat_lon(sent.x, sent.y))))

    return {"tick_ms": 1000 * timed(tick), "tick_match_only_ms": 1000 * timed(match),
            "tick_while_planning_ms": 1000 * _timed_while(tick, plan), "rebalancing_plan_ms": 1000 * timed(plan),
            "tick_rebalancing_moves": len(moves.ids)}


def _timed_while(fn, background, repeats: int = 5) -> float:
    """Return the median seconds of several runs of `fn`, each while `background` runs in a thread."""
    runs = []
    with ThreadPoolExecutor(max_workers=1) as worker:
        for _ in range(repeats):
            running = worker.submit(background)
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
            running.result()
    return statistics.median(runs)


def bench_quality(vehicles: int, seed: int) -> dict:
    """Simulate every policy at each load on the same demand, two simulations at a time."""
    jobs = {f"{load}_{name}": quality.scenario_for(Scenario(vehicles=vehicles, requests_per_hour=rate,
                                                            start_hour=HOUR, seed=seed), name)
            for load, rate in QUALITY_LOADS.items() for name in quality.POLICIES}
    with ProcessPoolExecutor(max_workers=2) as pool:
        figures = dict(zip(jobs, pool.map(quality.run, jobs.values())))
    return {"quality_vehicles": vehicles,
            "quality": {key: {k: round(v, 3) if isinstance(v, float) else v for k, v in f.items()}
                        for key, f in figures.items()}}


def plot_quality(figures: dict, vehicles: int, path: str) -> None:
    """Draw this run's quality figures: served share and mean wait of each policy against the load."""
    rows = [{"name": name, **figures[f"{load}_{name}"]} for load in QUALITY_LOADS for name in quality.POLICIES]
    quality.plot(rows, path, f"make bench: {vehicles} vehicles, {HOUR}:00 + {Scenario.minutes} min, "
                             f"{Scenario.tick_s:g} s tick, one demand per load", x="load")


def optional(name: str, fn, results: dict) -> None:
    try:
        results.update(fn())
    except Exception as exc:  # a peer we cannot reach is reported, not fatal
        results[f"{name}_skipped"] = f"{type(exc).__name__}: {exc}"[:200]


def _met(name: str, value: float) -> bool | None:
    """Tell whether a figure meets its target (times and empty distance must stay under it, the rest above)."""
    if name not in TARGETS:
        return None
    return value <= TARGETS[name] if name.endswith(AT_MOST) else value >= TARGETS[name]


def quality_checks(figures: dict) -> dict:
    """Return the quality figures that have targets: batch+rebalancing's, and each policy against greedy."""
    checks = {}
    for load in QUALITY_LOADS:
        best, greedy, batch = (figures[f"{load}_{name}"] for name in ("batch+rebalancing", "greedy", "batch"))
        checks.update({f"{load}_{k}": best[k] for k in ("served_share", "mean_wait_s", "p95_wait_s", "empty_km_share")
                       if f"{load}_{k}" in TARGETS})
        for name, other in (("rebalancing", best), ("batch", batch)):
            checks[f"{load}_{name}_vs_greedy_wait_cut_pct"] = 100 * (1 - other["mean_wait_s"] / greedy["mean_wait_s"])
            checks[f"{load}_{name}_vs_greedy_served_pts"] = 100 * (other["served_share"] - greedy["served_share"])
    return checks


def verdicts(r: dict) -> dict:
    """Return each target with the measured ratio and whether it is met."""
    checks = {"ingest_updates_per_s": r["ingest_updates_per_s"],
              "knn_vs_ckdtree_rebuild": r["index_qps"] / r["ckdtree_rebuild_query_qps"],
              "tick_ms": r["tick_ms"], **quality_checks(r["quality"]),
              # The machine is shared: how many scipy tree rebuilds a tick takes stays comparable across runs.
              "tick_per_ckdtree_rebuild": r["tick_ms"] / r["ckdtree_rebuild_ms"]}
    if "redis_geosearch_qps" in r:
        checks["knn_vs_redis"] = r["index_qps"] / r["redis_geosearch_qps"]
        checks["ingest_vs_redis_geoadd"] = r["ingest_updates_per_s"] / r["redis_geoadd_updates_per_s"]
    if "postgis_knn_qps" in r:
        checks["knn_vs_postgis"] = r["index_qps"] / r["postgis_knn_qps"]
    return {name: {"value": round(v, 2), "target": TARGETS.get(name),
                   "met": _met(name, v)}
            for name, v in checks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--quality-vehicles", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--plot", help="draw the dispatch quality figures to this PNG")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    fleet = synthetic.fleet(args.vehicles, rng)
    qlat, qlon = synthetic.demand(args.queries, rng)
    passengers = rng.choice([1, 2, 3, 4], args.queries, p=[0.6, 0.25, 0.1, 0.05])
    rlat, rlon = synthetic.demand(args.requests, rng)
    requests = OpenRequests(ids=np.arange(1, args.requests + 1), lat=rlat, lon=rlon,
                            passengers=passengers[:args.requests], trip_m=rng.uniform(2000, 20000, args.requests))
    results = {"vehicles": args.vehicles, "available_share": float((fleet.status == AVAILABLE).mean()),
               "queries": args.queries, "open_requests": args.requests,
               "k": K, "radius_m": RADIUS_M, "ingest_updates_per_s": bench_ingest(fleet, rng)}
    results.update(bench_knn(fleet, qlat, qlon, passengers))
    optional("redis", lambda: bench_redis(fleet, qlat, qlon), results)
    optional("postgis", lambda: bench_postgis(fleet, qlat, qlon), results)
    results.update(bench_tick(fleet, requests, rng))
    results.update(bench_quality(args.quality_vehicles, args.seed))
    results["targets"] = verdicts(results)
    if args.plot:
        plot_quality(results["quality"], args.quality_vehicles, args.plot)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
