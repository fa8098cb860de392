"""Every unique rule that two requests can race for answers the loser 409 with a stable code.

Real clients over HTTP, released together by a barrier against a threaded live server, on both
databases: the check before the insert lets them all through, the unique index decides.
"""
import threading
from collections import Counter

import requests
from sqlmodel import func, select

from backend.accounts.models import Membership, UserRole
from booking.events.models import TicketTier, WaitlistEntry
from robotaxi_dispatch.rides.models import Vehicle
from tests.factories import bearer, make_event, make_org, make_site, make_user

CLIENTS = 12


def race(url: str, bodies: list[dict], headers: list[dict]) -> Counter:
    """POST each body at once from its own client; return (status, code) counts."""
    start = threading.Barrier(len(bodies))
    answers = [None] * len(bodies)

    def client(i):
        with requests.Session() as http:
            start.wait()
            answers[i] = http.post(url, json=bodies[i], headers=headers[i], timeout=60)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter((a.status_code, a.json().get("code")) for a in answers)


def count(session, model) -> int:
    """Count rows as they are now, not as the test session's last snapshot saw them."""
    session.rollback()
    return session.exec(select(func.count()).select_from(model)).one()


def test_same_plate_registered_at_once_by_two_fleets(app, session, live_server):
    operators = [bearer(app, session, make_user(session, roles=("operator",),
                                                organisation=make_org(session, kind="fleet_operator")))
                 for _ in range(CLIENTS)]
    body = {"plate": "渝A·R0001", "region": "liangjiang"}
    codes = race(f"{live_server}/api/v1/fleet/vehicles", [body] * CLIENTS, operators)
    assert codes == {(201, None): 1, (409, "plate_taken"): CLIENTS - 1}, codes
    assert count(session, Vehicle) == 1


def test_one_citizen_joins_a_waiting_list_from_many_devices(app, session, live_server):
    org = make_org(session, kind="event_organiser")
    event = make_event(session, organisation=org, venue=make_site(session, organisation=org, kind="venue"))
    tier = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)).one()
    tier.sold = tier.quota
    session.add(tier)
    session.commit()
    citizen = bearer(app, session, make_user(session))
    codes = race(f"{live_server}/api/v1/events/{event.id}/waitlist",
                 [{"tier_id": tier.id, "quantity": 1}] * CLIENTS, [citizen] * CLIENTS)
    assert codes == {(201, None): 1, (409, "already_waiting"): CLIENTS - 1}, codes
    assert count(session, WaitlistEntry) == 1


def test_same_email_signed_up_at_once(live_server):
    body = {"email": "twice@example.com", "password": "correct horse battery", "name": "Twice"}
    codes = race(f"{live_server}/api/v1/auth/register", [body] * CLIENTS, [{}] * CLIENTS)
    assert codes == {(201, None): 1, (409, "email_taken"): CLIENTS - 1}, codes


def test_same_organisation_slug_created_at_once(app, session, live_server):
    admin = bearer(app, session, make_user(session, roles=("admin",)))
    body = {"slug": "yubei-charging", "name_zh": "渝北充电", "name_en": "Yubei Charging", "kind": "site_operator"}
    codes = race(f"{live_server}/api/v1/admin/organisations", [body] * CLIENTS, [admin] * CLIENTS)
    assert codes == {(201, None): 1, (409, "organisation_exists"): CLIENTS - 1}, codes


def test_same_role_granted_at_once_is_granted_once(app, session, live_server):
    admin = bearer(app, session, make_user(session, roles=("admin",)))
    org, user = make_org(session), make_user(session)
    body = {"role": "site_operator", "organisation_id": org.id}
    codes = race(f"{live_server}/api/v1/admin/users/{user.id}/roles", [body] * CLIENTS, [admin] * CLIENTS)
    assert codes == {(200, None): CLIENTS}, codes
    assert count(session, Membership) == 1
    assert sorted(session.exec(select(UserRole.role).where(UserRole.user_id == user.id)).all()) == [
        "citizen", "site_operator"]
