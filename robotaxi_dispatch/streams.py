"""Redis Streams and leases that carry dispatch work, partitioned by region.

Every key carries its region in a hash tag (`dispatch:{liangjiang}:requests`, and the live
channels `ride:{liangjiang}:status` and `ride:{liangjiang}:positions`), so Redis Cluster keeps
one region's streams, lease and publishes on one shard. A ride's news travels in its region's
batches, addressed to `ride:<ride id>`: a stream can watch its ride before it has read which
region the ride is in. Telemetry travels as one stream entry per
batch (JSON columns), so thousands of positions cost one XADD instead of thousands, and the
dispatcher turns them into arrays without a loop per row.
"""
import json
from typing import cast

import redis

from backend import leases, realtime
from backend.redis_client import best_effort

# The clients decode responses (decode_responses=True): stream ids and fields come back as str,
# which redis-py's types, written for both settings, cannot tell; the casts below say so.

# Publishes are best effort: the database already holds what they say. The dispatcher reloads
# the fleet and the open rides from it when Redis is back, so a lost position, status note or
# wake-up costs a little latency, never a ride.
GROUP = "dispatchers"
TELEMETRY_MAXLEN = 100_000
CONSOLE_CHANNEL = "console"


def ride_channel(ride_id: int) -> str:
    """What a ride's streams watch: its status changes and its vehicle's positions (ride ids are city-wide)."""
    return f"ride:{ride_id}"


def ride_status_channel(region: str) -> str:
    """The live channel carrying a region's ride status changes."""
    return f"ride:{{{region}}}:status"


def ride_positions_channel(region: str) -> str:
    """The live channel carrying a region's ride positions, one batch per telemetry call."""
    return f"ride:{{{region}}}:positions"


def telemetry_key(region: str) -> str:
    return f"dispatch:{{{region}}}:telemetry"


def requests_key(region: str) -> str:
    return f"dispatch:{{{region}}}:requests"


def lease_key(region: str) -> str:
    return f"dispatch:{{{region}}}:leader"


def rebalancing_key(region: str) -> str:
    return f"dispatch:{{{region}}}:rebalancing"


def rebalancing_on(r: redis.Redis, region: str) -> bool:
    """Tell whether the region's operators let the dispatcher rebalance (on unless set "off")."""
    return r.get(rebalancing_key(region)) != "off"


def ensure_groups(r: redis.Redis, region: str) -> None:
    """Create the region's streams and consumer groups if they are missing."""
    for key in (telemetry_key(region), requests_key(region)):
        try:
            r.xgroup_create(key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


@best_effort
def publish_positions(r: redis.Redis, region: str, columns: dict[str, list]) -> str:
    """Append one batch of positions for a region's dispatcher: columns id, lat, lon, soc, ts (epoch s)."""
    return cast(str, r.xadd(telemetry_key(region), {"kind": "positions", "columns": json.dumps(columns)},
                            maxlen=TELEMETRY_MAXLEN, approximate=True))


@best_effort
def publish_status(r: redis.Redis, region: str, vehicle_id: int, status: str) -> str:
    """Tell the region's dispatcher a vehicle changed status (event, command, cancelled ride)."""
    return cast(str, r.xadd(telemetry_key(region), {"kind": "status", "vehicle_id": str(vehicle_id), "status": status},
                            maxlen=TELEMETRY_MAXLEN, approximate=True))


@best_effort
def publish_request(r: redis.Redis, region: str, ride_id: int) -> str:
    """Tell the region's dispatcher a ride waits for a vehicle."""
    return cast(str, r.xadd(requests_key(region), {"region": region, "ride_id": str(ride_id)}))


def read_group(r: redis.Redis, key: str, consumer: str, *, pending: bool = False,
               count: int = 1000) -> list[tuple[str, dict]]:
    """Read new entries for a consumer, or (pending=True) its own unacknowledged ones."""
    answer = r.xreadgroup(GROUP, consumer, {key: "0" if pending else ">"}, count=count)
    return cast(list, answer)[0][1] if answer else []


def claim_stale(r: redis.Redis, key: str, consumer: str, *, min_idle_ms: int,
                count: int = 1000) -> list[tuple[str, dict]]:
    """Take over entries other consumers read but never acknowledged (they died)."""
    start, claimed = "0-0", []
    while True:
        answer = r.xautoclaim(key, GROUP, consumer, min_idle_time=min_idle_ms,
                              start_id=start, count=count)
        start, entries = answer[0], answer[1]
        claimed += [(eid, fields) for eid, fields in entries if fields]
        if start in ("0-0", b"0-0"):
            return claimed


def ack(r: redis.Redis, key: str, ids: list[str]) -> None:
    if ids:
        r.xack(key, GROUP, *ids)




def acquire_lease(r: redis.Redis, region: str, owner: str, ttl_ms: int) -> bool:
    """Take or renew the region's leader lease; False while another owner holds it."""
    return leases.acquire(r, lease_key(region), owner, ttl_ms)


def release_lease(r: redis.Redis, region: str, owner: str) -> None:
    """Give up the lease if this owner still holds it."""
    leases.release(r, lease_key(region), owner)


@best_effort
def notify_ride(r: redis.Redis, region: str, ride_id: int) -> None:
    """Tell the streams watching a ride that its status changed (they read the new ride events)."""
    realtime.publish_batch(r, ride_status_channel(region), {ride_channel(ride_id): {"kind": "status"}})


@best_effort
def publish_ride_positions(r: redis.Redis, region: str, updates: list[tuple[int, dict]]) -> None:
    """Send each ride's watchers its vehicle's new position: one message for the region's batch."""
    realtime.publish_batch(r, ride_positions_channel(region), {
        ride_channel(ride_id): {"kind": "position", **update} for ride_id, update in updates})


@best_effort
def publish_console(r: redis.Redis, message: dict) -> None:
    """Send every open operator console a fleet frame or the KPIs."""
    realtime.publish(r, CONSOLE_CHANNEL, message)
