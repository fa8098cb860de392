"""PostgreSQL restarts under a running app: 503 problem+json while it is down, then business as usual.

This restarts the machine's own PostgreSQL cluster (as CI and `make test` run it: local, as
root); elsewhere it is skipped, except under CI where it must run.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlmodel import select

from booking.sites.models import Resource
from tests.booking.conftest import RESOURCES, booking_body, next_slot
from tests.factories import bearer, make_org, make_site, make_user

CLUSTERS = Path("/etc/postgresql")


def _cluster() -> list[str]:
    """Return the pg_ctlcluster arguments naming the local cluster, or skip."""
    usable = shutil.which("pg_ctlcluster") and CLUSTERS.is_dir() and os.geteuid() == 0
    if not usable:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs a local PostgreSQL cluster it may restart (root, pg_ctlcluster)")
        pytest.skip("needs root and a local PostgreSQL cluster (pg_ctlcluster)")
    version = sorted(CLUSTERS.iterdir(), key=lambda p: float(p.name))[-1].name
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def _pg_ctl(cluster: list[str], action: str) -> None:
    subprocess.run([*cluster, action], check=True, timeout=60, capture_output=True)


def test_api_recovers_from_a_postgres_restart_without_being_restarted(app, backend, session):
    if backend["BACKEND"] != "postgres":
        pytest.skip("a PostgreSQL fault")
    cluster = _cluster()
    site = make_site(session, organisation=make_org(session), resources=RESOURCES[:1])
    charger = session.exec(select(Resource).where(Resource.site_id == site.id)).one()
    headers = bearer(app, session, make_user(session))
    client = app.test_client()
    assert client.get(f"/api/v1/sites/{site.id}").status_code == 200  # the pool holds live connections
    session.close()  # the test's own connection goes back to the pool, which the restart will cut

    _pg_ctl(cluster, "stop")
    try:
        down = client.get(f"/api/v1/sites/{site.id}")
        assert down.status_code == 503 and down.json["code"] == "database_unavailable"
        assert down.headers["Retry-After"] and down.mimetype == "application/problem+json"
        assert client.get("/ready").status_code == 503
    finally:
        _pg_ctl(cluster, "start")

    assert client.get("/ready").status_code == 200
    assert client.get(f"/api/v1/sites/{site.id}").status_code == 200
    start, end = next_slot("charger")
    booked = client.post("/api/v1/bookings", headers=headers, json=booking_body(charger, start, end))
    assert booked.status_code == 201, booked.json
