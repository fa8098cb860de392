"""`REDIS_URL=redis+cluster://...`: leases, dispatch streams, idempotency and rate limits on a
local three-node Redis Cluster that the test starts itself."""
import random
import shutil
import socket
import subprocess
import time

import pytest
from redis.cluster import RedisCluster
from sqlmodel import Session, select

from backend import create_app
from backend.cli import upgrade_database
from backend.redis_client import make_redis
from booking.sites.models import Resource
from robotaxi_dispatch import streams
from tests.booking.conftest import RESOURCES, booking_body, next_slot
from tests.conftest import BASE_CONFIG, IN_CI
from tests.factories import bearer, make_org, make_site, make_user

NODES = 3


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(n: int) -> list[int]:
    """Return ports that are free with their cluster-bus port (port + 10000) too."""
    ports = [p for p in random.sample(range(17000, 27000), 200) if _bindable(p) and _bindable(p + 10000)]
    return ports[:n]


def _wait_for_cluster(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True)
        if "cluster_state:ok" in info.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError("the local Redis Cluster did not come up")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    """Start three cluster-mode redis-servers, join them, yield a `redis+cluster://` URL."""
    if not shutil.which("redis-server"):
        if IN_CI:
            pytest.fail("CI needs redis-server for the Redis Cluster test")
        pytest.skip("redis-server is not installed")
    ports, workdir = _free_ports(NODES), tmp_path_factory.mktemp("cluster")
    servers = [subprocess.Popen(
        ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
         "--cluster-config-file", f"nodes-{p}.conf", "--save", "", "--appendonly", "no"],
        cwd=workdir, stdout=subprocess.DEVNULL) for p in ports]
    try:
        for p in ports:
            subprocess.run(["redis-cli", "-p", str(p), "--raw", "ping"], check=False, capture_output=True)
        time.sleep(0.5)
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True)
        _wait_for_cluster(ports[0])
        yield f"redis+cluster://127.0.0.1:{ports[0]}/0"
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster_app(cluster_url, tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "cluster.db"
    app = create_app({**BASE_CONFIG, "DATABASE_URL": f"sqlite:///{path}", "REDIS_URL": cluster_url,
                      "LOGIN_RATE_LIMIT": "3 per minute"})
    upgrade_database(app.extensions["db_engine"])
    return app


def test_the_url_makes_a_cluster_client_that_spreads_regions_over_nodes(cluster_url):
    r = make_redis(cluster_url)
    assert isinstance(r, RedisCluster)
    slots = {r.keyslot(streams.requests_key(region)) for region in ("liangjiang", "yongchuan")}
    assert len(slots) == 2
    assert r.keyslot(streams.requests_key("liangjiang")) == r.keyslot(streams.telemetry_key("liangjiang"))


def test_the_lease_has_one_holder_and_only_the_holder_renews_or_releases_it(cluster_url):
    r = make_redis(cluster_url)
    assert streams.acquire_lease(r, "liangjiang", "a", 5_000)
    assert not streams.acquire_lease(r, "liangjiang", "b", 5_000)
    assert streams.acquire_lease(r, "liangjiang", "a", 5_000)  # renewal
    streams.release_lease(r, "liangjiang", "b")  # not b's to release
    assert r.get(streams.lease_key("liangjiang")) == "a"
    streams.release_lease(r, "liangjiang", "a")
    assert streams.acquire_lease(r, "liangjiang", "b", 5_000)


def test_ride_requests_flow_through_the_consumer_group(cluster_url):
    r = make_redis(cluster_url)
    streams.ensure_groups(r, "yongchuan")
    streams.publish_request(r, "yongchuan", 41)
    key = streams.requests_key("yongchuan")
    entries = streams.read_group(r, key, "dispatcher-1")
    assert [fields["ride_id"] for _, fields in entries] == ["41"]
    streams.ack(r, key, [entry_id for entry_id, _ in entries])
    assert r.xpending(key, streams.GROUP)["pending"] == 0


def test_idempotent_replay_and_login_limits_use_the_cluster(cluster_app):
    client = cluster_app.test_client()
    with Session(cluster_app.extensions["db_engine"], expire_on_commit=False) as session:
        org, citizen = make_org(session), make_user(session)
        site = make_site(session, organisation=org, resources=RESOURCES[:1])
        charger = session.exec(select(Resource).where(Resource.site_id == site.id)).one()
        headers = bearer(cluster_app, session, citizen) | {"Idempotency-Key": "book-1"}
    body = booking_body(charger, *next_slot("charger"))
    first = client.post("/api/v1/bookings", json=body, headers=headers)
    again = client.post("/api/v1/bookings", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.json
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json["id"] == first.json["id"]
    wrong = {"email": citizen.email, "password": "not-the-password"}
    codes = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_nearby_availability_is_cached_and_kept_honest_on_the_cluster(cluster_app):
    """The search's cache keys share one slot: a read or write of many of them is one command."""
    client = cluster_app.test_client()
    with Session(cluster_app.extensions["db_engine"], expire_on_commit=False) as session:
        org, citizen = make_org(session), make_user(session)
        site = make_site(session, organisation=org, lat=29.6001, lon=106.5001, resources=RESOURCES[:2])
        charger = session.exec(select(Resource).where(Resource.site_id == site.id)).first()
        headers = bearer(cluster_app, session, citizen)
    start, end = next_slot("charger")
    search = {"lat": 29.6001, "lon": 106.5001, "radius_m": 500, "resource_kind": "charger",
              "from": start.isoformat(), "to": end.isoformat()}

    def offered() -> set[int]:
        answer = client.get("/api/v1/availability", query_string=search)
        assert answer.status_code == 200, answer.json
        return {r["resource"]["id"] for s in answer.json["items"] for r in s["resources"] if r["slots"]}

    assert charger.id in offered() and charger.id in offered()  # computed, then from the cache
    booked = client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers=headers)
    assert booked.status_code == 201, booked.json
    assert charger.id not in offered()
