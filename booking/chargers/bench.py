"""How many charge points one CSMS process holds, each sending a heartbeat and meter values every 10 s.

`python -m booking.chargers.bench --charge-points 5000 --seconds 120` builds a throwaway SQLite
database with that many charge points, serves it with one CSMS process on 127.0.0.1, connects the
simulated charge points (OCPP 2.0.1, the `ocpp` library) from client processes, and prints one JSON
object: how many connected, handshake time, call latency, and the CSMS process's CPU and memory.
"""
import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import resource
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ocpp.v201 import ChargePoint, call
from sqlalchemy import insert
from sqlmodel import Session
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

PASSWORD = "bench-password-0123456789"
CONNECT_AT_ONCE = 200


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one; return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def build_database(path: Path, count: int) -> str:
    """Create a migrated SQLite database with one site and `count` charge points; return its URL."""
    from backend import create_app
    from backend.accounts.models import Organisation
    from backend.cli import upgrade_database
    from backend.config import DEVELOPMENT  # a throwaway database: the development key will do
    from backend.geo import point_ewkt
    from booking.chargers.models import ChargePoint as Point
    from booking.chargers.models import Connector
    from booking.chargers.services import hash_password
    from booking.sites.models import Resource, Site, SiteKind

    url = f"sqlite:///{path}"
    app = create_app({"DATABASE_URL": url, "REDIS_URL": None, "APP_ENV": DEVELOPMENT})
    engine = app.extensions["db_engine"]
    upgrade_database(engine)
    with Session(engine) as session:
        org = Organisation(slug="bench", name_zh="压测", name_en="Bench", kind="site_operator")
        session.add(org)
        session.flush()
        site = Site(kind=SiteKind.charging_station, name_zh="压测站", name_en="Bench station", address_zh="-",
                    address_en="-", district="yuzhong", organisation_id=org.id, location=point_ewkt(29.56, 106.57))
        session.add(site)
        session.flush()
        digest = hash_password(PASSWORD)
        session.execute(insert(Resource), [{"site_id": site.id, "kind": "charger", "name_zh": f"桩{n}",
                                            "name_en": f"Charger {n}", "capacity": 1, "active": True,
                                            "attributes": {"power_kw": 120}} for n in range(count)])
        session.execute(insert(Point), [{"identity": identity(n), "site_id": site.id, "password_hash": digest,
                                         "connected": False} for n in range(count)])
        session.flush()
        # Core selects of the tables: sqlmodel's exec() runs them but is typed for its own selects only.
        resources = session.exec(Resource.__table__.select().where(Resource.site_id == site.id)  # type: ignore[call-overload]
                                 .order_by(Resource.id)).all()
        points = session.exec(Point.__table__.select().order_by(Point.id)).all()  # type: ignore[call-overload]
        session.execute(insert(Connector), [{"charge_point_id": p.id, "resource_id": r.id, "evse_id": 1,
                                             "connector_id": 1, "status": "unavailable", "faults": []}
                                            for p, r in zip(points, resources, strict=True)])
        session.commit()
    engine.dispose()
    return url


def identity(n: int) -> str:
    return f"BENCH-{n:05d}"


def serve(url: str, port: int) -> None:
    """Run one CSMS process on the database (the process under measurement)."""
    from backend import create_app
    from backend.config import DEVELOPMENT  # a throwaway database: the development key will do
    from booking.chargers.cli import platform_of
    from booking.chargers.csms import Csms, CsmsSettings

    app = create_app({"DATABASE_URL": url, "REDIS_URL": None, "APP_ENV": DEVELOPMENT})
    csms = Csms(platform_of(app), CsmsSettings(heartbeat_s=10))
    asyncio.run(csms.serve("127.0.0.1", port))


class Station(ChargePoint):
    """A simulated charge point: boots, reports its connector, then beats and meters every interval."""

    async def live(self, interval: float, until: float, latencies: list, failures: list) -> None:
        await asyncio.sleep(random.uniform(0, interval))  # spread the fleet over the interval
        energy = random.uniform(0, 1e6)
        while time.monotonic() < until:
            energy += random.uniform(0, 300)
            for payload in (call.Heartbeat(), call.MeterValues(evse_id=1, meter_value=[{
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "sampled_value": [{"value": round(energy, 1)}]}])):
                sent = time.perf_counter()
                try:
                    await self.call(payload, suppress=False, skip_schema_validation=True)
                    latencies.append(time.perf_counter() - sent)
                except Exception as exc:  # noqa: BLE001 - counted, not raised: the bench reports them
                    failures.append(type(exc).__name__)
            await asyncio.sleep(interval)


async def _station(port: int, n: int, gate: asyncio.Semaphore, plan: dict, report: dict) -> None:
    token = base64.b64encode(f"{identity(n)}:{PASSWORD}".encode()).decode()
    async with gate:
        began = time.perf_counter()
        try:
            ws = await connect(f"ws://127.0.0.1:{port}/ocpp/{identity(n)}", subprotocols=[Subprotocol("ocpp2.0.1")],
                               additional_headers={"Authorization": f"Basic {token}"}, ping_interval=None,
                               open_timeout=120)
        except Exception as exc:  # noqa: BLE001
            report["failures"].append(f"connect: {type(exc).__name__}")
            return
        station = Station(identity(n), ws, response_timeout=60)
        listening = asyncio.ensure_future(station.start())
        try:
            await station.call(call.BootNotification(charging_station={"vendor_name": "Bench", "model": "B1"},
                                                     reason="PowerUp"), suppress=False)
            await station.call(call.StatusNotification(
                timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), connector_status="Available",
                evse_id=1, connector_id=1), suppress=False)
        except Exception as exc:  # noqa: BLE001
            report["failures"].append(f"boot: {type(exc).__name__}")
            return
        report["handshakes"].append(time.perf_counter() - began)
    report["online"] += 1
    await station.live(plan["interval"], plan["until"], report["latencies"], report["failures"])
    report["online_at_end"] += 0 if ws.close_code is not None else 1
    await ws.close()
    listening.cancel()


def clients(port: int, numbers: list[int], plan: dict, results) -> None:
    """Run a share of the charge points in this process and put what it saw on the queue."""
    raise_fd_limit()
    report = {"handshakes": [], "latencies": [], "failures": [], "online": 0, "online_at_end": 0}

    async def everyone():
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        await asyncio.gather(*(_station(port, n, gate, plan, report) for n in numbers))

    asyncio.run(everyone())
    results.put(report)


def _process_usage(pid: int) -> dict:
    """Return a process's CPU seconds and resident memory from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return {"cpu_s": (int(fields[11]) + int(fields[12])) / ticks, "rss_mb": round(rss / 2**20, 1)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, timeout: float = 60) -> None:
    """Wait until the CSMS accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _quantile(values: list[float], q: int) -> float | None:
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1) if len(values) > 100 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charge-points", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=120, help="steady phase after everyone connected")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args()
    fd_limit = raise_fd_limit()
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        url = build_database(Path(tmp) / "bench.db", args.charge_points)
        port = _free_port()
        server = spawn.Process(target=serve, args=(url, port), daemon=True)
        server.start()
        _wait_for(port)
        results, started = spawn.Queue(), time.monotonic()
        ramp_allowance = max(60.0, args.charge_points / 15)  # SQLite takes the boot storm one write at a time
        plan = {"interval": args.interval, "until": time.monotonic() + ramp_allowance + args.seconds}
        shares = [list(range(args.charge_points))[k::args.client_processes] for k in range(args.client_processes)]
        workers = [spawn.Process(target=clients, args=(port, share, plan, results)) for share in shares]
        assert server.pid is not None  # started above
        before = _process_usage(server.pid)
        for worker in workers:
            worker.start()
        reports = [results.get() for _ in workers]
        after = _process_usage(server.pid)
        elapsed = time.monotonic() - started
        server.terminate()
    merged: dict[str, Any] = {key: sum((r[key] for r in reports), [] if isinstance(reports[0][key], list) else 0)
              for key in reports[0]}
    calls = len(merged["latencies"])
    print(json.dumps({
        "charge_points": args.charge_points, "fd_limit": fd_limit, "interval_s": args.interval,
        "connected_and_booted": merged["online"], "still_connected_at_end": merged["online_at_end"],
        "handshake_p50_ms": _quantile(merged["handshakes"], 50),
        "handshake_p99_ms": _quantile(merged["handshakes"], 99),
        "calls": calls, "calls_per_s": round(calls / elapsed, 1),
        "call_p50_ms": _quantile(merged["latencies"], 50), "call_p99_ms": _quantile(merged["latencies"], 99),
        "failures": len(merged["failures"]), "failure_kinds": sorted(set(merged["failures"]))[:5],
        "csms_cpu_share": round((after["cpu_s"] - before["cpu_s"]) / elapsed, 2), "csms_rss_mb": after["rss_mb"],
        "seconds": round(elapsed, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
