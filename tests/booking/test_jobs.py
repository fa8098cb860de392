"""The scheduler runs the booking jobs by itself, one leader at a time; lapsed holds are never seen as held."""
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend import jobs, leases
from backend.dbtypes import utcnow
from booking.bookings.models import Booking
from booking.events.models import Order
from tests.booking.conftest import booking_body, next_slot
from tests.factories import make_event, make_org, make_site


@pytest.fixture
def lapsed(app, client, session, world):
    """A held booking and a pending 3-seat order, both past their expiry as if time had passed."""
    start, end = next_slot("swap_lane", after=timedelta(days=1))
    booking = client.post("/api/v1/bookings", json=booking_body(world.resources["swap_lane"], start, end),
                          headers=world.headers).json
    org = make_org(session, kind="organiser")
    event = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    tier_id = client.get(f"/api/v1/events/{event.id}").json["tiers"][0]["id"]
    order = client.post(f"/api/v1/events/{event.id}/orders", headers=world.headers,
                        json={"items": [{"tier_id": tier_id, "quantity": 3}]}).json
    assert booking["status"] == "held" and order["status"] == "pending"
    past = utcnow() - timedelta(seconds=1)
    session.exec(update(Booking).where(Booking.id == booking["id"]).values(hold_expires_at=past))
    session.exec(update(Order).where(Order.id == order["id"]).values(expires_at=past))
    session.commit()
    return {"booking": booking["id"], "order": order["id"], "event": event.id}


def statuses(session, lapsed) -> tuple[str, str]:
    session.commit()
    return (session.get(Booking, lapsed["booking"], populate_existing=True).status.value,
            session.get(Order, lapsed["order"], populate_existing=True).status.value)


def test_expiry_happens_with_no_other_traffic(app, session, lapsed):
    stop = threading.Event()
    thread = jobs.start(app, stop)
    try:
        deadline = time.monotonic() + 20
        while statuses(session, lapsed) != ("expired", "expired") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    assert statuses(session, lapsed) == ("expired", "expired")
    assert app.extensions["redis"].get(jobs.LEASE_KEY) is None  # released on stop


def test_one_scheduler_at_a_time(app, session, lapsed):
    store = app.extensions["redis"]
    assert leases.acquire(store, jobs.LEASE_KEY, "someone-else", 60_000)
    stop = threading.Event()
    thread = jobs.start(app, stop)
    time.sleep(1)
    stop.set()
    thread.join(10)
    assert statuses(session, lapsed) == ("held", "pending")  # the standby never ran a job
    assert store.get(jobs.LEASE_KEY) in ("someone-else", b"someone-else")


def test_every_job_is_registered_and_runs_once_from_the_command_line(app, session, lapsed):
    names = {job.name for job in app.extensions["jobs"]}
    assert names == {"bookings-sweep", "orders-expire", "payment-instructions", "payments-reconcile-awaiting",
                     "payments-reconcile", "idempotency-purge", "notifications", "rides-booked", "sandbox-webhooks"}
    output = app.test_cli_runner().invoke(args=["jobs", "run", "--once"]).output
    assert "bookings-sweep: {'expired': 1, 'no_show': 0}" in output and "orders-expire: 1" in output
    assert statuses(session, lapsed) == ("expired", "expired")


def test_a_failing_job_does_not_stop_the_others(app, session, lapsed, monkeypatch):
    def broken(app, session):
        raise RuntimeError("bug")

    monkeypatch.setitem(app.extensions, "jobs", [jobs.Job("broken", 1, broken), *app.extensions["jobs"]])
    done = jobs.Scheduler(app).tick()
    assert done["broken"] == "failed" and done["orders-expire"] == 1


def test_a_lapsed_hold_is_never_shown_as_held(client, session, lapsed, world):
    booking = client.get(f"/api/v1/bookings/{lapsed['booking']}", headers=world.headers).json
    assert booking["status"] == "expired"
    event = client.get(f"/api/v1/events/{lapsed['event']}").json
    assert event["tiers"][0]["remaining"] == 100  # the lapsed order's seats are back
    order = client.get(f"/api/v1/orders/{lapsed['order']}", headers=world.headers).json
    assert order["status"] == "expired"
