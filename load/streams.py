"""`python -m load.streams`: thousands of live streams on the production-like setup, measured.

Starts the platform on 127.0.0.1 as production runs it (PostgreSQL/PostGIS + Redis, a gunicorn
with the gevent workers of gunicorn.conf.py for the API and another for the streams, as the load
balancer routes them, `flask dispatch run`), seeds riders whose rides have a
car coming and operators, moves that fleet once a second through `POST /api/v1/fleet/telemetry`,
then for each size in STREAMS_SIZES (default 1000,5000,10000) opens that many Server-Sent Event
streams (riders' ride streams, one rider in four on two devices, and one in a hundred operator
consoles, two per operator, one of them cut to a box)
and runs the citizens' locust evening beside them. It prints one JSON object: streams held,
refused and dropped, delivery latency from publish to client receipt, and the API's p50/p95
against the same locust run without streams just before. Then the telemetry figure: positions per second
accepted into a dispatcher's index (50,000 vehicles, batches of 10,000) and the age of the
positions each dispatch tick matches with.

Environment: STREAMS_PORT (a free one if unset), STREAMS_SIZES, STREAMS_HOLD_S (seconds each
size is held while locust runs, 30), STREAMS_LOCUST_USERS (10), STREAMS_API_WORKERS and
STREAMS_WORKERS (the two gunicorns' workers, 2 each; the streaming one listens on STREAMS_PORT + 1),
TELEMETRY_VEHICLES (50000), TELEMETRY_SECONDS (20), STREAMS_RESULTS (load/streams-results.json),
and load/stage.py's.
"""
import asyncio
import json
import math
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import insert, select
from sqlmodel import Session

from backend import create_app, keys
from backend.accounts.models import Membership, Organisation, User, UserRole
from backend.accounts.tokens import Principal, issue_access_token
from load.provision import provision
from load.report import read_stats
from load.run import MIX, Settings, _fixture, _free_port, _locust, _wait_ready
from load.stage import BIN, ROOT, seeded_database
from robotaxi_dispatch.dispatcher import TICK_S, Dispatcher
from robotaxi_dispatch.rides.models import Ride, RideStatus, Vehicle, VehicleStatus

HOST = "127.0.0.1"   # the benchmark only ever targets this machine
SECOND_DEVICE_SHARE = 4    # one rider in this many also watches the ride on a second device
CONSOLE_SHARE = 100        # one console in this many streams
CONSOLES_PER_OPERATOR = 2  # a whole-fleet view and a view cut to a box
FLEETS = 4                 # operating companies sharing the city's robotaxis, each console sees its own
LIANGJIANG = (29.60, 29.74, 106.45, 106.65)  # south, north, west, east of the moving fleet
RAMP_S = 120        # how long clients keep arriving (and retrying) before the measurement starts
PUBLISHED_AT = re.compile(rb'"t": ([0-9.]+)')
PROBLEM_CODE = re.compile(rb'"code": ?"([a-z_]+)"')
LAG_BUCKET = re.compile(r'^sse_delivery_lag_seconds_bucket\{kind="(\w+)",le="([0-9.]+|\+Inf)"\} ([0-9.e+]+)$', re.M)


def raise_fd_limit() -> int:
    """Allow this process as many open sockets as the system lets it have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@contextmanager
def platform(api_workers: str, stream_workers: str):
    """Serve a freshly seeded database on 127.0.0.1 as production does: gevent gunicorn for the API,
    another for the streams (the load balancer's stream routes), the dispatcher and the scheduler.

    Yields the API's and the streams' base URLs, the environment (with the locust fixture) and the work directory.
    """
    port = int(os.environ.get("STREAMS_PORT") or _free_port())
    stream_port = port + 1 if os.environ.get("STREAMS_PORT") else _free_port()
    work, settings = Path(tempfile.mkdtemp(prefix="cq-streams-")), Settings.from_env()
    with seeded_database("cq_streams") as seeded:
        env = {**seeded, "PORT": str(port), "WEB_CONCURRENCY": api_workers}
        people = provision(env, citizens=settings.users, vehicles=settings.vehicles)
        flask = [str(BIN / "flask"), "--app", "wsgi"]
        gunicorn = [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")]
        processes = [subprocess.Popen(gunicorn, cwd=ROOT, env=server_env, stdout=subprocess.DEVNULL,
                                      stderr=(work / f"{name}.log").open("w"))  # kept for a look at any 5xx
                     for name, server_env in (("api", env), ("streams", {**env, "PORT": str(stream_port),
                                                                          "WEB_CONCURRENCY": stream_workers}))]
        processes += [subprocess.Popen([*flask, *command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL) for command in (["dispatch", "run"], ["jobs", "run"])]
        try:
            base, streams = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stream_port}"
            _wait_ready(base)
            _wait_ready(streams)
            fixture = work / "fixture.json"
            fixture.write_text(json.dumps({**_fixture(base, settings, people), "streams": streams}))
            yield base, streams, {**env, "LOAD_FIXTURE": str(fixture)}, work
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)


def run_locust(base: str, env: dict, csv: Path, *, users: int, seconds: int) -> None:
    _locust(base, env, csv, MIX, processes=1, users=users, spawn_rate=users, seconds=seconds)


# ---- seeding: riders with a car on its way, operators, and the fleet that moves ----

def _tokens(app, principals: list[Principal]) -> list[str]:
    ring = keys.ring(app.config, keys.ACCESS_TOKEN)
    return [issue_access_token(principal=p, keys=ring, ttl_s=3 * 3600) for p in principals]


def _fleet_org(session: Session, slug: str) -> int:
    org = Organisation(slug=slug, kind="operator", name_zh=slug, name_en=slug)
    session.add(org)
    session.commit()
    return org.id


def _vehicles(session: Session, org: int, region: str, count: int) -> list[int]:
    rows = [{"organisation_id": org, "plate": f"{region[:2].upper()}{org}-{n:06d}", "model": "bench", "seats": 4,
             "region": region, "status": VehicleStatus.available} for n in range(count)]
    session.execute(insert(Vehicle.__table__), rows)
    session.commit()
    return list(session.scalars(select(Vehicle.id).where(Vehicle.organisation_id == org).order_by(Vehicle.id)))


def seed_riders(app, riders: int, operators: int) -> dict:
    """Create riders each with a ride a bench vehicle is driving to, shared out among FLEETS
    operating companies, and operators of those fleets (each sees only its own fleet)."""
    rng = np.random.default_rng(12)
    with Session(app.extensions["db_engine"]) as session:
        orgs = [_fleet_org(session, f"bench-fleet-{n}") for n in range(FLEETS)]
        vehicle_ids = [vid for n, org in enumerate(orgs)
                       for vid in _vehicles(session, org, "liangjiang", len(range(n, riders, FLEETS)))]
        users = [User(email=f"rider{n}@bench.cq", password_hash="-", name=f"rider {n}") for n in range(riders)]
        staff = [User(email=f"op{n}@bench.cq", password_hash="-", name=f"op {n}") for n in range(operators + 1)]
        session.add_all(users + staff)
        session.commit()
        feed, consoles = staff[0], staff[1:]  # the fleets' telemetry feed, and the people at consoles
        session.add_all([UserRole(user_id=u.id, role="citizen") for u in users]
                        + [UserRole(user_id=u.id, role="operator") for u in staff]
                        + [Membership(user_id=feed.id, organisation_id=org) for org in orgs]
                        + [Membership(user_id=u.id, organisation_id=orgs[n % FLEETS]) for n, u in enumerate(consoles)])
        south, north, west, east = LIANGJIANG
        rides = [Ride(user_id=u.id, status=RideStatus.assigned, region="liangjiang", vehicle_id=vid,
                      pickup_lat=float(rng.uniform(south, north)), pickup_lon=float(rng.uniform(west, east)),
                      dropoff_lat=29.69, dropoff_lon=106.58, passengers=1, distance_m=5000, trip_s=900,
                      quoted_fare_fen=3000, authorised_fen=4000, pickup_eta_s=600)
                 for u, vid in zip(users, vehicle_ids)]
        session.add_all(rides)
        session.commit()
        vehicles, ride_rows = Vehicle.__table__, Ride.__table__
        session.execute(vehicles.update()  # one statement for the whole fleet (UPDATE ... FROM rides)
                        .where(vehicles.c.organisation_id.in_(orgs), ride_rows.c.vehicle_id == vehicles.c.id)
                        .values(status=VehicleStatus.dispatched, ride_id=ride_rows.c.id))
        session.commit()
        rider_tokens = _tokens(app, [Principal(u.id, frozenset({"citizen"}), frozenset()) for u in users])
        op_tokens = _tokens(app, [Principal(u.id, frozenset({"operator"}), frozenset({orgs[n % FLEETS]}))
                                  for n, u in enumerate(consoles)])
        feed_token, = _tokens(app, [Principal(feed.id, frozenset({"operator"}), frozenset(orgs))])
        return {"rides": [(r.id, t) for r, t in zip(rides, rider_tokens)], "consoles": op_tokens,
                "vehicles": vehicle_ids, "operator": feed_token}


class FleetMover:
    """Moves the bench fleet: every vehicle reports a new position once a second, in one call."""

    def __init__(self, base: str, token: str, vehicle_ids: list[int]):
        self.base, self.token, self.ids = base, token, vehicle_ids
        rng = np.random.default_rng(7)
        south, north, west, east = LIANGJIANG
        self.lat, self.lon = rng.uniform(south, north, len(vehicle_ids)), rng.uniform(west, east, len(vehicle_ids))
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.lat += 0.0001
            now = datetime.now(UTC).isoformat()
            rows = [{"vehicle_id": vid, "lat": round(la, 6), "lon": round(lo, 6), "soc": 80, "ts": now}
                    for vid, la, lo in zip(self.ids, self.lat.tolist(), self.lon.tolist())]
            for start in range(0, len(rows), 10_000):
                requests.post(f"{self.base}/api/v1/fleet/telemetry", json={"rows": rows[start:start + 10_000]},
                              headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


# ---- the stream clients: one asyncio process holding every connection ----

async def _connect(port: int, path: str, token: str, stats: dict):
    """Open a stream as EventSource does: a connection that fails is tried again after the retry
    delay (3 s) for as long as clients keep arriving; answer the reader, writer and status line."""
    deadline = time.monotonic() + RAMP_S
    while True:
        try:
            reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 23)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            status = await reader.readline()
            if status:
                return reader, writer, status
            writer.close()  # closed before answering: a network error to EventSource, tried again
        except OSError:  # refused or reset (a full accept queue): tried again, as EventSource does
            pass
        if time.monotonic() > deadline:
            raise ConnectionError("no answer before the ramp ended")
        stats["retried"] += 1
        await asyncio.sleep(3)


async def _problem_code(reader) -> bytes:
    """Return the `code` of a problem+json answer, or nothing if it does not come within 5 s."""
    async def read() -> bytes:  # `"code": "` then the value up to its closing quote
        return await reader.readuntil(b'"code"') + await reader.readuntil(b'"') + await reader.readuntil(b'"')
    try:
        return b"".join(PROBLEM_CODE.findall(await asyncio.wait_for(read(), 5)))
    except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return b""


async def _hold(port: int, path: str, token: str, stats: dict, window: dict) -> None:
    try:
        reader, writer, status = await _connect(port, path, token, stats)
    except OSError:
        stats["failed"] += 1
        return
    if b" 200 " not in status:  # counted by status and problem code
        answer = (status.split(b" ")[1] + b" " + await _problem_code(reader)).decode()
        stats["refused"][answer] = stats["refused"].get(answer, 0) + 1
        writer.close()
        return
    stats["held"] += 1
    try:
        while True:
            line = await reader.readline()
            if not line:
                stats["dropped"] += 1
                return
            if line.startswith(b"data:") and window["open"]:
                sent = PUBLISHED_AT.search(line)
                if sent:
                    stats["lag"].append(time.time() - float(sent.group(1)))
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        stats["dropped"] += 1
    finally:
        writer.close()


async def _clients(port: int, targets: list[tuple[str, str]], hold_s: float, ready) -> dict:
    stats = {"held": 0, "refused": {}, "failed": 0, "retried": 0, "dropped": 0, "lag": []}
    window = {"open": False}
    tasks = []
    for n, (path, token) in enumerate(targets):  # 500 new connections a second, as clients arrive
        tasks.append(asyncio.create_task(_hold(port, path, token, stats, window)))
        if n % 500 == 499:
            await asyncio.sleep(1)
    deadline = time.monotonic() + RAMP_S  # every connection answered (or given up on) before measuring
    while stats["held"] + sum(stats["refused"].values()) + stats["failed"] < len(targets) \
            and time.monotonic() < deadline:
        await asyncio.sleep(1)
    await asyncio.sleep(2)
    held_before = stats["held"]
    ready.set()
    window["open"] = True
    await asyncio.sleep(hold_s)
    window["open"] = False
    dropped = stats["dropped"]
    for task in tasks:
        task.cancel()
    lag = np.array(stats["lag"]) if stats["lag"] else np.array([np.nan])
    return {"streams": len(targets), "held": held_before, "refused": stats["refused"], "failed": stats["failed"],
            "connects_retried": stats["retried"], "dropped": dropped, "events": len(stats["lag"]),
            "delivery_p50_ms": round(float(np.percentile(lag, 50)) * 1000, 1),
            "delivery_p99_ms": round(float(np.percentile(lag, 99)) * 1000, 1)}


def _client_process(port, targets, hold_s, ready, answer) -> None:
    raise_fd_limit()
    answer.put(asyncio.run(_clients(port, targets, hold_s, ready)))


def stream_plan(size: int) -> tuple[int, int]:
    """Return how many riders and consoles make `size` streams: one in CONSOLE_SHARE a console."""
    consoles = size // CONSOLE_SHARE
    ride_streams = size - consoles
    riders = ride_streams * SECOND_DEVICE_SHARE // (SECOND_DEVICE_SHARE + 1)
    while riders + riders // SECOND_DEVICE_SHARE < ride_streams:
        riders += 1
    return riders, consoles


def _targets(seeded: dict, size: int) -> list[tuple[str, str]]:
    """Most streams are riders watching their own ride (one rider in SECOND_DEVICE_SHARE on a second
    device too), a few are operators' consoles (two per operator, one cut to a box). Nobody holds
    more than two, so even with the previous size's streams not yet noticed closed a user stays
    under the per-user cap of five."""
    riders, consoles = stream_plan(size)
    south, north, west, east = LIANGJIANG
    box = f"?bbox={south},{west},{(south + north) / 2},{(west + east) / 2}"
    targets = []
    for n, (ride, token) in enumerate(seeded["rides"][:riders]):
        devices = 2 if n % SECOND_DEVICE_SHARE == SECOND_DEVICE_SHARE - 1 else 1
        targets += [(f"/api/v1/rides/{ride}/events", token)] * devices
    targets = targets[:size - consoles]
    return targets + [("/api/v1/ops/stream" + (box if n % 2 else ""), seeded["consoles"][n // CONSOLES_PER_OPERATOR])
                      for n in range(consoles)]


def _api_latency(csv_prefix: Path) -> dict:
    rows = read_stats(csv_prefix)
    count = sum(int(r["Request Count"]) for r in rows)
    failures = sum(int(r["Failure Count"]) for r in rows)
    # Request-weighted percentiles over the endpoints (locust's own "Aggregated" row is dropped by read_stats).
    weights = np.array([int(r["Request Count"]) for r in rows], dtype=float)
    if not weights.sum():  # locust's users never got a request through
        return {"requests": 0, "failures": failures, "p50_ms": None, "p95_ms": None}
    p50 = float(np.average([float(r["50%"]) for r in rows], weights=weights))
    p95 = float(np.average([float(r["95%"]) for r in rows], weights=weights))
    return {"requests": count, "failures": failures, "p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}


def _server_lag(streams: str) -> dict[tuple[str, float], float]:
    """Return the streaming server's delivery-lag histogram (publish to the write on the socket):
    cumulative counts by (stream kind, bucket bound in seconds)."""
    counts = {}
    for kind, bound, count in LAG_BUCKET.findall(requests.get(f"{streams}/metrics", timeout=30).text):
        counts[(kind, float(bound))] = float(count)
    return counts


def _bound(seconds: float) -> float | str:
    return seconds if math.isfinite(seconds) else "over the last bucket"  # JSON has no infinity


def _lag_bounds(before: dict, after: dict) -> dict:
    """Return, per stream kind, the bucket bounds holding the p50 and p99 of what was written in between."""
    bounds = {}
    for kind in sorted({kind for kind, _ in after}):
        cumulative = [(bound, after[kind, bound] - before.get((kind, bound), 0.0))
                      for (k, bound) in sorted(after) if k == kind]
        total = cumulative[-1][1]
        bounds[kind] = {f"p{q}_at_most_s": next((_bound(b) for b, n in cumulative if total and n >= total * q / 100),
                                                None) for q in (50, 99)}
    return bounds


def measure_streams(base: str, streams: str, env: dict, work: Path, seeded: dict, sizes: list[int]) -> dict:
    """For each number of streams, run locust on the API alone, then beside that many streams open
    on the streaming server: each ratio compares two neighbouring half-minutes of a shared machine."""
    users, hold_s = int(os.environ.get("STREAMS_LOCUST_USERS", "10")), float(os.environ.get("STREAMS_HOLD_S", "30"))
    # A warm-up first, so the first run without streams does not pay for a cold server's first requests.
    run_locust(base, env, work / "warm-up", users=users, seconds=10)
    port, runs = int(streams.rsplit(":", 1)[1]), []
    for size in sizes:
        run_locust(base, env, work / f"alone{size}", users=users, seconds=int(hold_s))
        alone = _api_latency(work / f"alone{size}")
        ready, answer = multiprocessing.Event(), multiprocessing.Queue()
        clients = multiprocessing.Process(target=_client_process,
                                          args=(port, _targets(seeded, size), hold_s + 5, ready, answer))
        clients.start()
        ready.wait()
        lag_before = _server_lag(streams)
        run_locust(base, env, work / f"with{size}", users=users, seconds=int(hold_s))
        server_lag = _lag_bounds(lag_before, _server_lag(streams))
        held = answer.get()
        clients.join()
        api = _api_latency(work / f"with{size}")
        ratio = {f"api_{p}_ratio": api[f"{p}_ms"] and alone[f"{p}_ms"] and round(api[f"{p}_ms"] / alone[f"{p}_ms"], 2)
                 for p in ("p50", "p95")}
        runs.append({**held, "server_delivery": server_lag, "api_without_streams": alone, "api": api, **ratio})
        print(json.dumps(runs[-1]), file=sys.stderr)
        time.sleep(5)  # the server notices the closed streams
    return {"runs": runs}


# ---- telemetry: positions per second into a dispatcher's index ----

def measure_telemetry(app, base: str, vehicles: int, seconds: float) -> dict:
    """Post a region's whole fleet in 10,000-row batches from four clients; a dispatcher follows."""
    with Session(app.extensions["db_engine"]) as session:
        org = _fleet_org(session, "bench-telemetry")
        ids = _vehicles(session, org, "bench", vehicles)
        operator = User(email="telemetry@bench.cq", password_hash="-", name="telemetry")
        session.add(operator)
        session.commit()
        token = _tokens(app, [Principal(operator.id, frozenset({"operator"}), frozenset({org}))])[0]
    dispatcher = Dispatcher(app.extensions["db_engine"], app.extensions["redis"], app.extensions["payment_gateway"],
                            region="bench", owner="bench")
    stop, accepted, ages, ticks = threading.Event(), [], [], []

    def post(batches: list[list[int]]) -> None:
        rng, client = np.random.default_rng(len(batches)), requests.Session()
        while not stop.is_set():
            for batch in batches:
                now = datetime.now(UTC).isoformat()
                lat, lon = rng.uniform(29.60, 29.74, len(batch)), rng.uniform(106.45, 106.65, len(batch))
                rows = [{"vehicle_id": v, "lat": round(a, 6), "lon": round(o, 6), "soc": 70, "ts": now}
                        for v, a, o in zip(batch, lat.tolist(), lon.tolist())]
                answer = client.post(f"{base}/api/v1/fleet/telemetry", json={"rows": rows}, timeout=60,
                                     headers={"Authorization": f"Bearer {token}"})
                if answer.status_code == 202:
                    accepted.append(len(rows))

    def dispatch() -> None:
        while not stop.wait(TICK_S):
            started = time.perf_counter()
            dispatcher.step()
            ticks.append(time.perf_counter() - started)
            if len(dispatcher.index):
                ages.append(time.time() - dispatcher.index.seen)

    parts = [ids[n:n + 10_000] for n in range(0, len(ids), 10_000)]
    threads = [threading.Thread(target=post, args=(parts[n::4],)) for n in range(4)]
    threads.append(threading.Thread(target=dispatch))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    total = sum(accepted)
    ages = np.concatenate(ages[1:]) if len(ages) > 1 else np.array([np.nan])  # the first tick loads the fleet
    return {"vehicles": vehicles, "seconds": round(elapsed, 1), "positions_accepted": total,
            "positions_per_s": round(total / elapsed), "index_vehicles": len(dispatcher.index.ids),
            "dispatch_tick_ms_p50": round(float(np.median(ticks)) * 1000, 1) if ticks else None,
            "position_age_at_tick_p99_s": round(float(np.percentile(ages, 99)), 2)}


def main() -> int:
    fd_limit = raise_fd_limit()
    sizes = [int(n) for n in os.environ.get("STREAMS_SIZES", "1000,5000,10000").split(",")]
    workers = {"api": os.environ.get("STREAMS_API_WORKERS", "2"), "streams": os.environ.get("STREAMS_WORKERS", "2")}
    with platform(workers["api"], workers["streams"]) as (base, stream_base, env, work):
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")})
        app = create_app()
        riders, consoles = stream_plan(max(sizes))
        seeded = seed_riders(app, riders, consoles // CONSOLES_PER_OPERATOR + 1)
        mover = FleetMover(base, seeded["operator"], seeded["vehicles"])
        threading.Thread(target=mover.run, daemon=True).start()
        streams = measure_streams(base, stream_base, env, work, seeded, sizes)
        mover.stop.set()
        telemetry = measure_telemetry(app, base, int(os.environ.get("TELEMETRY_VEHICLES", "50000")),
                                      float(os.environ.get("TELEMETRY_SECONDS", "20")))
    result = {"at": datetime.now(UTC).isoformat(timespec="minutes"), "cpus": os.cpu_count(),
              "gunicorn_workers": {k: int(v) for k, v in workers.items()}, "fd_limit": fd_limit,
              "moving_vehicles": riders, **streams,
              "telemetry": telemetry}
    Path(os.environ.get("STREAMS_RESULTS", ROOT / "load" / "streams-results.json")).write_text(
        json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
