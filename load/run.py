"""`make load`: serve the platform as in production, run the locust evening, write results and thresholds' verdict.

The server is gunicorn with several workers on PostgreSQL/PostGIS + Redis, with the streams' server
(gevent, where production's load balancer sends the stream routes), `flask dispatch run` and the
scheduler (`flask jobs run`) alongside. First the evening mix (load/locustfile.py) runs; then two
probes measure `/health` and nearby availability alone at the same concurrency, with no think
time, for the throughput ratio the issue asks about.

LOAD_PROFILE picks the defaults: `short` (40 users for 60 s, what CI runs shorter still) or
`evening` (1,000 users ramping over three minutes, then two minutes at full strength, 2,000
robotaxis). Each can be overridden: LOAD_USERS, LOAD_SPAWN_RATE, LOAD_SECONDS, LOAD_VEHICLES,
LOAD_WORKERS, LOAD_PROBE_USERS, LOAD_PROBE_SECONDS, LOAD_LOCUST_PROCESSES (locust's own processes);
LOAD_DATABASE_URL and LOAD_REDIS_URL (see load/stage.py); LOAD_PORT (the server's, else any free
one); LOAD_RESULTS (load/results.md; locust's HTML report goes beside it). The exit code is non-zero
when a threshold of load/thresholds.py is broken. The results say how much CPU locust and the server
used during the measured run, and the machine's load average: locust must not be what limits the
figures. LOAD_PYSPY=1 samples the server's workers through the measured run and adds where their
time went (load/hotspots.py).
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import requests

from load import hotspots, thresholds
from load.city import VEHICLES_PER_GATEWAY
from load.provision import provision
from load.report import plot_history, probe_table, read_stats, results_table
from load.stage import BIN, ROOT, seeded_database

PASSWORD = "Chongqing-demo-2026"
MIX = ("Driver", "Fan", "Rider", "Operator", "Fleet", "Gate")
PROBES = ("HealthProbe", "AvailabilityProbe")  # the floor first
WARM_UP_CITIZENS, WARM_UP_SECONDS = 20, 15


@dataclass(frozen=True)
class Settings:
    users: int
    spawn_rate: float
    seconds: int
    vehicles: int
    workers: int
    probe_users: int
    probe_seconds: int
    seats: int
    gates: int
    locust_processes: int

    @classmethod
    def from_env(cls) -> "Settings":
        defaults = PROFILES[os.environ.get("LOAD_PROFILE", "short")]
        return cls(**{name: type(value)(os.environ.get(f"LOAD_{name.upper()}", value))
                      for name, value in defaults.items()})


PROFILES = {
    "short": {"users": 40, "spawn_rate": 10.0, "seconds": 60, "vehicles": 200, "workers": 2, "probe_users": 20,
              "probe_seconds": 10, "seats": 2000, "gates": 1, "locust_processes": 1},
    "evening": {"users": 1000, "spawn_rate": 5.5, "seconds": 300, "vehicles": 2000, "workers": 4,
                "probe_users": 100, "probe_seconds": 30, "seats": 3000, "gates": 10,
                "locust_processes": 1},
}


def server_command(port: int, workers: int) -> list[str]:
    """Return the API's server as production runs it (Procfile's `web`: gunicorn.conf.py, threads)."""
    return ["env", "WORKER_CLASS=gthread", str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            # idle connections outlive any client's pause, as behind a load balancer whose idle
            # timeout is the shorter one: the server never closes a connection a request is on its way to
            "--keep-alive", "75", "wsgi:app"]


def streams_command(port: int) -> list[str]:
    """Return the streams' server as production runs it (Procfile's `streams`: one gevent worker)."""
    return [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", "wsgi:app"]


def _free_port() -> int:
    """Return LOAD_PORT, or a free port the system picks."""
    if os.environ.get("LOAD_PORT"):
        return int(os.environ["LOAD_PORT"])
    return _any_port()


def _any_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 240  # workers boot slowly on a busy machine
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # refused, or workers still booting past the timeout
            pass
        time.sleep(0.5)
    raise RuntimeError("the server never became ready")


def _login(base: str, email: str) -> dict:
    token = requests.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                          timeout=10).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _fixture(base: str, settings: "Settings", people: dict) -> dict:
    """Put an event on sale and sell tickets for the gates; add who is out this evening."""
    organiser, citizen = (_login(base, f"{who}@demo.cq") for who in ("organiser", "citizen"))
    venue = requests.get(f"{base}/api/v1/sites", params={"lat": 29.744, "lon": 106.805, "radius_m": 500,
                                                         "kind": "venue"}, timeout=10).json()["items"][0]
    now = datetime.now(UTC)
    event = requests.post(f"{base}/api/v1/organiser/events", headers=organiser, timeout=10, json={
        "category": "motorsport", "title_zh": "龙兴赛道之夜", "title_en": "Longxing Night Race",
        "venue_site_id": venue["id"], "starts_at": (now + timedelta(days=7)).isoformat(),
        "ends_at": (now + timedelta(days=7, hours=4)).isoformat()}).json()
    tier = requests.post(f"{base}/api/v1/organiser/events/{event['id']}/tiers", headers=organiser, timeout=10,
                         json={"name_zh": "看台", "name_en": "Grandstand", "price_fen": 18000,
                               "quota": settings.seats, "sales_start": now.isoformat(),
                               "sales_end": (now + timedelta(days=6)).isoformat()})
    tier.raise_for_status()
    requests.post(f"{base}/api/v1/organiser/events/{event['id']}/publish", headers=organiser, timeout=10)
    tier_id = tier.json()["id"]  # adding a tier answers the tier
    for _ in range(10):
        order = requests.post(f"{base}/api/v1/events/{event['id']}/orders", headers=citizen, timeout=10,
                              json={"items": [{"tier_id": tier_id, "quantity": 4}]}).json()
        paid = requests.post(f"{base}/api/v1/payments/{order['payment']['id']}/sandbox/confirm", timeout=10,
                             headers=citizen, json={"card_number": "4242424242424242"})
        paid.raise_for_status()
    codes = [t["code"] for t in requests.get(f"{base}/api/v1/tickets", headers=citizen, timeout=10).json()["items"]]
    return {"event_id": event["id"], "tier_id": tier_id, "ticket_codes": codes, "password": PASSWORD,
            "organiser_email": "organiser@demo.cq", "operator_email": "operator@demo.cq",
            "gates": settings.gates, **people}


def _locust(base: str, env: dict, csv: Path, classes: tuple[str, ...], *, processes: int, users: int,
            spawn_rate: float, seconds: int, html: Path | None = None) -> tuple[int, float]:
    """Run locust headless with some user classes; return its exit code (the verdict of a measured run,
    the one with an HTML report) and the CPU seconds it used, its forked processes included."""
    command = [str(BIN / "locust"), "-f", str(ROOT / "load" / "locustfile.py"), "--headless", "-u", str(users),
               "-r", str(spawn_rate), "-t", f"{seconds}s", "--host", base, "--csv", str(csv), "--only-summary",
               # figures and thresholds count from when every user is in (the HTML charts show the ramp)
               "--reset-stats", *(["--processes", str(processes)] if processes > 1 else []),
               *(["--html", str(html)] if html else []), *classes]
    # Only the measured run answers to the thresholds: the warm-up and the probes are not the evening.
    extra = {"LOAD_THRESHOLDS": "on" if html else "off", "LOAD_LOCUST_PROCESSES": str(processes)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = subprocess.run(command, cwd=ROOT, env={**env, **extra, "PYTHONPATH": str(ROOT)}).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # locust waits for the processes it forks
    return code, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """Return the CPU seconds the server's processes and their children (gunicorn's workers) used so far."""
    total = 0.0
    for process in processes:
        try:
            parent = psutil.Process(process.pid)
            for each in (parent, *parent.children(recursive=True)):
                times = each.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:  # a worker recycled in between: its share is lost, not invented
            continue
    return total


def _without_local_paths(report: Path) -> None:
    """Strip this machine's directories from the tracebacks locust puts in its HTML report."""
    text = report.read_text()
    for directory in sorted({str(ROOT), sys.prefix, str(Path(sys.prefix).resolve()), sys.base_prefix},
                            key=len, reverse=True):
        text = text.replace(directory + "/", "")
    report.write_text(text)


@dataclass(frozen=True)
class Usage:
    """What the measured run cost the machine, to tell a slow server from a busy machine or a slow client."""
    seconds: float
    locust_cpu_s: float
    server_cpu_s: float
    machine_busy_percent: float
    load_average: tuple[float, float, float]

    def describe(self, locust_processes: int) -> str:
        cores = os.cpu_count() or 1
        return (f"During the mix ({self.seconds:.0f} s, ramp included): locust ({locust_processes} process"
                f"{'es' if locust_processes > 1 else ''}) used {self.locust_cpu_s / self.seconds:.0%} of one core, "
                f"the server (gunicorn workers, streams' server, dispatcher, scheduler) "
                f"{self.server_cpu_s / self.seconds:.0%}; "
                f"the machine's {cores} cores were {self.machine_busy_percent:.0f}% busy, load average "
                f"{' / '.join(f'{x:.1f}' for x in self.load_average)} (1/5/15 min) at the end.")


def _warm_up_users(settings: Settings) -> int:
    """Return enough users for the warm-up to have citizens too: locust starts the users of a fixed
    count first (the fleet's gateways, the gates, the console)."""
    return max(1, settings.vehicles // VEHICLES_PER_GATEWAY) + settings.gates + 1 + WARM_UP_CITIZENS


def _serve(env: dict, settings: Settings, port: int, logs: Path, *,
           streams_port: int | None = None) -> list[subprocess.Popen]:
    """Start gunicorn (the API's first), the streams' server when given a port, the dispatcher and
    the scheduler; their logs go to one file."""
    log = logs.open("ab")

    def start(command):
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    streams = [start(streams_command(streams_port))] if streams_port else []
    return [start(server_command(port, settings.workers)), *streams, start([*flask, "dispatch", "run"]),
            start([*flask, "jobs", "run"])]


def main() -> int:
    settings, port, work = Settings.from_env(), _free_port(), Path(tempfile.mkdtemp(prefix="cq-load-"))
    streams_port = _any_port()
    results = Path(os.environ.get("LOAD_RESULTS", ROOT / "load" / "results.md"))
    with seeded_database("cq_load") as env:
        people = provision(env, citizens=settings.users, vehicles=settings.vehicles)
        processes = _serve(env, settings, port, work / "server.log", streams_port=streams_port)
        try:
            base, streams = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{streams_port}"
            print(f"server logs: {work / 'server.log'}")
            _wait_ready(base)
            _wait_ready(streams)
            fixture = work / "fixture.json"
            fixture.write_text(json.dumps({**_fixture(base, settings, people), "streams": streams}))
            env = {**env, "LOAD_FIXTURE": str(fixture)}
            # Every worker meets every request once before anything counts, as behind a load balancer
            # that sends traffic to a new instance only after warming it.
            runs = {"processes": settings.locust_processes}
            warm_up = _warm_up_users(settings)
            _locust(base, env, work / "warm-up", MIX, users=warm_up, spawn_rate=warm_up, seconds=WARM_UP_SECONDS,
                    **runs)
            began, server_cpu, _ = time.monotonic(), _cpu_seconds(processes), psutil.cpu_percent()
            sampler = (hotspots.record(processes[0].pid, settings.seconds, results.with_suffix(".pyspy.txt"))
                       if os.environ.get("LOAD_PYSPY") == "1" else None)
            verdict, locust_cpu = _locust(base, env, work / "mix", MIX, users=settings.users,
                                          spawn_rate=settings.spawn_rate, seconds=settings.seconds,
                                          html=results.with_suffix(".html"), **runs)
            usage = Usage(time.monotonic() - began, locust_cpu, _cpu_seconds(processes) - server_cpu,
                          psutil.cpu_percent(), os.getloadavg())
            _without_local_paths(results.with_suffix(".html"))
            if sampler:
                sampler.wait(timeout=60)
            probe_cpu = []  # locust's share of a core per probe: near 1.0 per process, the client is the limit
            for probe in PROBES:  # measurements at saturation: their own percentiles are not thresholds
                _, cpu = _locust(base, env, work / probe, (probe,), users=settings.probe_users,
                                 spawn_rate=settings.probe_users, seconds=settings.probe_seconds, **runs)
                probe_cpu.append(cpu / settings.probe_seconds)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    mix, probes = read_stats(work / "mix"), [read_stats(work / probe)[0] for probe in PROBES]
    header = (f"# Load results\n\n{settings.users} locust users (spawning {settings.spawn_rate}/s) for "
              f"{settings.seconds} s against gunicorn ({settings.workers} workers x 8 threads, as production's web) "
              f"on PostgreSQL/PostGIS + "
              f"Redis, 127.0.0.1, with the streams' server (gevent), `flask dispatch run` and `flask jobs run` "
              f"alongside and "
              f"{settings.vehicles} robotaxis reporting; written by `make load` on "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. The floor is `GET /health` in the same app and run.\n\n"
              f"{usage.describe(settings.locust_processes)}\n\n")
    probe_header = (f"\n## Capacity at the same concurrency\n\n{settings.probe_users} users with no think time, "
                    f"{settings.probe_seconds} s each, right after the mix:\n\n")
    plot_history(work / "mix", results.with_suffix(".png"), f"{settings.users} users, {settings.vehicles} robotaxis")
    report = header + results_table(mix) + probe_header + probe_table(probes, probe_cpu)
    if sampler:
        raw = results.with_suffix(".pyspy.txt")
        report += "\n## Where the workers' time went\n\n" + (hotspots.summary(raw) if raw.exists() else "no samples\n")
    results.write_text(report)
    print(report)
    problems = thresholds.floor_breaches(mix, probes)
    for problem in problems:
        print(f"THRESHOLD BROKEN: {problem}")
    return 1 if verdict or problems else 0


if __name__ == "__main__":
    sys.exit(main())
