"""What a booking request costs the database: the statements each of the evening's booking requests runs.

Only the statements on the bookings' own tables are pinned; what paying runs is the payments' own.
"""
import re
from datetime import timedelta

from sqlalchemy import update

from backend.dbtypes import utcnow
from booking.bookings.models import Booking
from booking.bookings.payables import BookingPayable
from tests.booking.conftest import book, booking_body, next_slot, pay
from tests.factories import save_card, statements_run

PAYMENTS_TABLES = ("payments", "payment_", "sandbox_", "webhook_events", "ledger_entries", "idempotency_claims")
MAIN_TABLE = re.compile(r"\s*(?:SELECT\b.*?\bFROM|INSERT INTO|UPDATE|DELETE FROM)\s+\"?(\w+)", re.DOTALL)


def booking_statements(app, call):
    """Run the call; return its answer and the statements it ran on tables not the payments' (no BEGIN or COMMIT)."""
    with statements_run(app) as seen:
        answer = call()
    assert answer.status_code in (200, 201), answer.json
    tables = [(match.group(1), statement) for statement in seen if (match := MAIN_TABLE.match(statement))]
    return answer, [statement for table, statement in tables if not table.startswith(PAYMENTS_TABLES)]


def lapse(session, booking_id: int) -> None:
    """Let a hold's time run out, as if its ten minutes had passed."""
    lapsed_at = utcnow() - timedelta(seconds=1)
    session.exec(update(Booking).where(Booking.id == booking_id).values(hold_expires_at=lapsed_at))
    session.commit()


def test_holding_a_charger_reads_its_resource_and_answers_in_one_query_each(app, client, world):
    save_card(client, world.headers)  # the charge is authorised against the wallet at once
    start, end = next_slot("charger", after=timedelta(hours=1))
    _, ran = booking_statements(app, lambda: client.post(
        "/api/v1/bookings", json=booking_body(world.resources["charger"], start, end), headers=world.headers))
    # Lock the resource with its site, read what occupies it, insert the hold; the authorisation
    # confirms it (lock, update); the answer is made from what the request read and wrote.
    assert len(ran) == 5, ran


def test_a_lapsed_hold_in_the_window_is_released_before_the_slot_is_taken(app, client, world, session):
    start, end = next_slot("swap_lane", after=timedelta(hours=1))
    body = booking_body(world.resources["swap_lane"], start, end)
    first = client.post("/api/v1/bookings", json=body, headers=world.headers).json
    lapse(session, first["id"])
    second, ran = booking_statements(app, lambda: client.post("/api/v1/bookings", json=body,
                                                              headers=world.other_headers))
    assert second.status_code == 201 and len(ran) == 4, ran  # lock, occupancy, release, insert
    assert session.get(Booking, first["id"], populate_existing=True).status == "expired"


def test_cancelling_locks_updates_and_answers(app, client, world):
    booking = book(client, world, "swap_lane", after=timedelta(hours=2)).json
    pay(client, booking, world.headers)
    _, ran = booking_statements(app, lambda: client.post(f"/api/v1/bookings/{booking['id']}/cancel",
                                                         headers=world.headers))
    # The refund's news does not read the booking again: the cancel already holds it.
    assert len(ran) == 3, ran


def test_a_page_of_bookings_and_one_booking_are_one_query_each(app, client, world):
    made = []
    for hours in (1, 3, 5):
        start, end = next_slot("swap_lane", after=timedelta(hours=hours))
        made.append(client.post("/api/v1/bookings", json=booking_body(world.resources["swap_lane"], start, end),
                                headers=world.headers).json)
    page, ran = booking_statements(app, lambda: client.get("/api/v1/bookings?limit=2", headers=world.headers))
    assert len(ran) == 1 and len(page.json["items"]) == 2, ran
    _, ran = booking_statements(app, lambda: client.get(f"/api/v1/bookings/{made[0]['id']}", headers=world.headers))
    assert len(ran) == 1, ran


def test_a_lapsed_hold_on_the_page_is_expired_before_it_is_shown(app, client, world, session):
    held = book(client, world, "swap_lane", after=timedelta(hours=1)).json
    lapse(session, held["id"])
    listed, ran = booking_statements(app, lambda: client.get("/api/v1/bookings", headers=world.headers))
    assert len(ran) == 3, ran  # the page is read, the hold expired, the page read again
    assert [b["status"] for b in listed.json["items"]] == ["expired"]
    assert session.get(Booking, held["id"], populate_existing=True).status == "expired"


def test_failure_news_of_a_booking_the_session_holds_out_of_held_reads_nothing(app, client, world, session):
    booking = book(client, world, "swap_lane", after=timedelta(hours=2)).json
    client.post(f"/api/v1/bookings/{booking['id']}/cancel", headers=world.headers)
    session.commit()  # a fresh snapshot: the requests committed after the session's last read
    held = session.get_one(Booking, booking["id"])  # as a cancel holds it when its payment's news comes back
    with statements_run(app) as seen:
        BookingPayable().on_failed(session, booking["id"])
    assert seen == [] and held.status == "cancelled"


def test_failure_news_of_a_held_booking_still_releases_it(client, world, session):
    booking = book(client, world, "swap_lane", after=timedelta(hours=2)).json
    session.commit()  # a fresh snapshot: the request committed after the session's last read
    held = session.get_one(Booking, booking["id"])
    BookingPayable().on_failed(session, booking["id"])
    session.commit()
    assert held.status == "expired" and not held.active
