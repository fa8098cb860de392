"""Vehicle positions, write-behind: the latest lives in Redis, the database follows in batches.

Telemetry arrives far more often than anyone reads a vehicle's row: writing every position to
the primary would be one row update per vehicle per second. Each batch instead sets the latest
position of its vehicles in the region's hash (`positions:{region}:latest`, what readers
overlay on the row), and the region's dispatcher writes that hash to the rows every few seconds
in one statement: a vehicle reporting every second costs one row update per flush, one that
stood still none (a row only ever takes a newer position). Nothing is taken out of the hash, so
a flush that failed half-way is simply done again by the next one.
"""
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import bindparam, or_, text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from backend.db import write_transaction
from backend.geo import Point
from robotaxi_dispatch.rides.models import TelemetryRow, Vehicle, VehicleStatus

FIELDS = ("lat", "lon", "soc", "heading", "speed_mps")
# How far a vehicle can have gone since its row was last written: a few flushes at city speed.
DRIFT_M = 500.0
M_PER_DEG_LAT = 111_320.0


def _key(region: str) -> str:
    return f"positions:{{{region}}}:latest"


def fields_of(row: TelemetryRow) -> dict:
    """Return the position fields of a telemetry row as the vehicle's row stores them."""
    return {**{name: getattr(row, name) for name in FIELDS}, "position_at": row.ts}


def _encode(row: TelemetryRow) -> str:
    values = [getattr(row, name) for name in FIELDS] + [row.ts.timestamp()]
    return ",".join("" if v is None else repr(float(v)) for v in values)


def _split(value: str | bytes) -> list[str]:
    return (value.decode() if isinstance(value, bytes) else value).split(",")


def _decode(value: str | bytes) -> dict:
    *values, ts = _split(value)
    fields = {name: float(v) if v else None for name, v in zip(FIELDS, values)}
    return {**fields, "position_at": datetime.fromtimestamp(float(ts), UTC)}


def on_map(value: str | bytes) -> tuple[float, float, float | None, float | None]:
    """Return only (lat, lon, soc, heading) of an encoded position: what the console's map shows."""
    lat, lon, soc, heading, *_ = _split(value)
    return float(lat), float(lon), float(soc) if soc else None, float(heading) if heading else None


def _place(value: str | bytes) -> tuple[float, float, float]:
    """Return only (lat, lon, epoch seconds) of an encoded position: what finding nearby vehicles needs."""
    lat, lon, *_, ts = _split(value)
    return float(lat), float(lon), float(ts)


def remember(r: redis.Redis, region: str, rows: list[TelemetryRow]) -> None:
    """Make rows the latest known positions of their vehicles."""
    r.hset(_key(region), mapping={row.vehicle_id: _encode(row) for row in rows})


def latest(r: redis.Redis, region: str, vehicle_ids: list[int], decode: Callable = _decode) -> dict[int, Any]:
    """Return the latest known position fields of some vehicles of a region (or what `decode` keeps of them)."""
    if not vehicle_ids:
        return {}
    values = r.hmget(_key(region), vehicle_ids)
    return {vid: decode(v) for vid, v in zip(vehicle_ids, values) if v}


def latest_of_region(r: redis.Redis, region: str, decode: Callable = _decode) -> dict[int, Any]:
    """Return the latest known position fields (or what `decode` keeps of them) of every vehicle
    of a region heard from lately."""
    return {int(vid): decode(v) for vid, v in r.hgetall(_key(region)).items()}


def newer(fields: dict, stored_at: datetime | None) -> bool:
    """Tell whether a latest known position is newer than the one a row stored at `stored_at`."""
    return stored_at is None or fields["position_at"] > stored_at


def latest_or_none(r: redis.Redis, region: str, vehicle_ids: list[int], decode: Callable = _decode) -> dict[int, Any]:
    """Return `latest`, or nothing while Redis is away: the rows are at most one flush behind."""
    try:
        return latest(r, region, vehicle_ids, decode)
    except redis.RedisError:
        return {}


def free_near(session: Session, r: redis.Redis, ask: tuple[str, Point, int],
              half_m: float) -> list[tuple[float, float, float | None]]:
    """Return the latest (lat, lon, epoch seconds of the position) of a region's free vehicles with enough seats
    (region, point, passengers) whose rows lie within half_m of the point north-south and east-west, or drifted
    out since, or have no position yet."""
    region, point, seats = ask
    dlat = (half_m + DRIFT_M) / M_PER_DEG_LAT
    dlon = dlat / math.cos(math.radians(point.lat))
    # Columns, not vehicles, and only the box's: reading the region's whole free fleet and building an
    # object per vehicle for every quote took a third of the server's time in an evening load run. The
    # table's, not the model's: plain rows skip the ORM's work on each statement.
    v = Vehicle.__table__.c
    rows = session.connection().execute(select(v.id, v.lat, v.lon, v.position_at).where(
        v.region == region, v.status == VehicleStatus.available, v.seats >= seats,
        # a row not yet written since the vehicle was first heard of has only its Redis position
        or_(v.lat.is_(None), v.lat.between(point.lat - dlat, point.lat + dlat)
            & v.lon.between(point.lon - dlon, point.lon + dlon)))).all()
    # Only the place and its time of each reported position: decoding all its fields took half of this.
    reported = latest_or_none(r, region, [vehicle_id for vehicle_id, *_ in rows], _place)
    found = []
    for vehicle_id, lat, lon, at in rows:
        stored = None if at is None else at.timestamp()
        fresh = reported.get(vehicle_id)
        if fresh is not None and (stored is None or fresh[2] > stored):
            lat, lon, stored = fresh
        if lat is not None and lon is not None:
            found.append((lat, lon, stored))
    return found


def overlay(r: redis.Redis, vehicles: Sequence[Vehicle]) -> None:
    """Show the latest known position on loaded vehicles, without making their rows dirty."""
    by_region: dict[str, list[Vehicle]] = {}
    for vehicle in vehicles:
        by_region.setdefault(vehicle.region, []).append(vehicle)
    for region, group in by_region.items():
        fresh = latest_or_none(r, region, [v.id for v in group])
        for vehicle in group:
            _apply(vehicle, fresh.get(vehicle.id))


def _apply(vehicle: Vehicle, fields: dict | None) -> None:
    if fields is None or not newer(fields, vehicle.position_at):
        return
    for name, value in fields.items():
        set_committed_value(vehicle, name, value)


# PostgreSQL takes the whole batch as arrays in one statement; SQLite, local to the process,
# runs the same update once per row inside one transaction.
_PG_WRITE = text("""
    UPDATE vehicles AS v SET lat = u.lat, lon = u.lon, soc = u.soc, heading = u.heading,
                             speed_mps = u.speed_mps, position_at = u.ts
    FROM unnest(CAST(:ids AS bigint[]), CAST(:lat AS float8[]), CAST(:lon AS float8[]), CAST(:soc AS float8[]),
                CAST(:heading AS float8[]), CAST(:speed_mps AS float8[]), CAST(:ts AS timestamptz[]))
         AS u(id, lat, lon, soc, heading, speed_mps, ts)
    WHERE v.id = u.id AND (v.position_at IS NULL OR v.position_at < u.ts)""")


def write(session: Session, rows: list[tuple[int, dict]]) -> None:
    """Store positions in one statement, never replacing a newer one already stored."""
    if not rows:
        return
    with write_transaction(session):
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            columns = {name: [fields[name] for _, fields in rows] for name in FIELDS}
            connection.execute(_PG_WRITE, {"ids": [vid for vid, _ in rows], "ts": [f["position_at"] for _, f in rows],
                                           **columns})
            return
        table = Vehicle.__table__
        statement = update(table).where(table.c.id == bindparam("vid"), or_(
            table.c.position_at.is_(None), table.c.position_at < bindparam("ts"))).values(
            lat=bindparam("lat"), lon=bindparam("lon"), soc=bindparam("soc"), heading=bindparam("heading"),
            speed_mps=bindparam("speed_mps"), position_at=bindparam("ts"))
        connection.execute(statement, [{"vid": vid, "ts": fields["position_at"], **{n: fields[n] for n in FIELDS}}
                                       for vid, fields in rows])


def flush(r: redis.Redis, session: Session, region: str, vehicle_ids: list[int] | None = None) -> int:
    """Bring the region's rows (or some of them) up to the latest known positions; return how many."""
    known = latest_of_region(r, region) if vehicle_ids is None else latest(r, region, vehicle_ids)
    rows = list(known.items())
    write(session, rows)
    return len(rows)
