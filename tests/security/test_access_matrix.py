"""Who may call what: every owned-object endpoint x every role x own and someone else's object.

Pinned conventions: anonymous is 401; a missing role is 403; another user's booking, order,
ticket, ride or payment is 404 (its existence is not revealed); another organisation's site,
event or vehicle is 403 (staff know the object exists; it is not theirs).
"""
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlmodel import select

from backend.dbtypes import utcnow
from backend.notifications.models import Device, Notification
from booking.bookings.models import Outage
from booking.sites.models import Resource
from payments import services as payments
from payments import wallet
from tests.factories import bearer, make_event, make_org, make_owned, make_site, make_user

ACTORS = ("anonymous", "owner", "citizen", "operator", "organiser", "site_operator",
          "operator_other", "organiser_other", "site_operator_other", "admin")
STAFF = ("operator", "organiser", "site_operator")
# Reached the rule behind the permission check: 2xx, or a state conflict or invalid input
# (check-in opens 30 minutes before the start, a completed ride cannot be cancelled, ...).
PASSED = "passed"


def later(days: float) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


@dataclass
class Row:
    """One endpoint: its request, and the status each actor gets (`default` for the rest)."""

    method: str
    rule: str
    url: str
    expect: dict
    default: int
    body: dict | None = field(default=None)


def user_owned(method, rule, url, body=None, ok=200):
    """Any signed-in user, but only the owner sees it; others get 404."""
    return Row(method, rule, url, {"anonymous": 401, "owner": ok}, 404, body)


def any_user(method, rule, url, body=None, ok=200):
    """Any signed-in user acts on their own behalf."""
    return Row(method, rule, url, {"anonymous": 401}, ok, body)


def staff(role, method, rule, url, body=None, ok=200, other=403):
    """Staff of the owning organisation and admins; other organisations' staff get `other`."""
    return Row(method, rule, url, {"anonymous": 401, role: ok, "admin": ok, f"{role}_other": other},
               403, body)


def admin_only(method, rule, url, body=None, ok=200):
    return Row(method, rule, url, {"anonymous": 401, "admin": ok}, 403, body)


def public(method, rule, url, ok=200):
    return Row(method, rule, url, {}, ok)


SITE = "/api/v1/manage/sites/{site}"
EVENT = "/api/v1/organiser/events/{event}"
TABLE = [
    any_user("GET", "/api/v1/me", "/api/v1/me"),
    any_user("GET", "/api/v1/me/timeline", "/api/v1/me/timeline"),
    any_user("GET", "/api/v1/bookings", "/api/v1/bookings"),
    any_user("GET", "/api/v1/tickets", "/api/v1/tickets"),
    any_user("GET", "/api/v1/rides", "/api/v1/rides"),
    any_user("GET", "/api/v1/me/notifications", "/api/v1/me/notifications"),
    any_user("GET", "/api/v1/me/notifications/unread-count", "/api/v1/me/notifications/unread-count"),
    any_user("POST", "/api/v1/me/notifications/read-all", "/api/v1/me/notifications/read-all"),
    any_user("GET", "/api/v1/me/stream", "/api/v1/me/stream"),
    any_user("GET", "/api/v1/me/notification-preferences", "/api/v1/me/notification-preferences"),
    any_user("PUT", "/api/v1/me/notification-preferences", "/api/v1/me/notification-preferences",
             body={"kinds": {"ride_arriving": {"inbox": True, "push": False}}}),
    any_user("GET", "/api/v1/me/devices", "/api/v1/me/devices"),
    any_user("POST", "/api/v1/me/devices", "/api/v1/me/devices", body={"address": "https://push.example.com/d"},
             ok=PASSED),
    user_owned("POST", "/api/v1/me/notifications/<int:notification_id>/read",
               "/api/v1/me/notifications/{notification}/read"),
    user_owned("DELETE", "/api/v1/me/devices/<int:device_id>", "/api/v1/me/devices/{device}", ok=204),
    any_user("POST", "/api/v1/bookings", "/api/v1/bookings", ok=PASSED,
             body={"resource_id": "{resource}", "start": "{slot_start}", "end": "{slot_end}"}),
    any_user("POST", "/api/v1/events/<int:event_id>/orders", "/api/v1/events/{event}/orders",
             body={"items": [{"tier_id": "{tier}", "quantity": 1}]}, ok=PASSED),
    any_user("POST", "/api/v1/events/<int:event_id>/waitlist", "/api/v1/events/{event}/waitlist",
             body={"tier_id": "{tier}"}, ok=PASSED),
    any_user("POST", "/api/v1/rides", "/api/v1/rides", ok=PASSED,
             body={"pickup": {"lat": 29.66, "lon": 106.545}, "dropoff": {"lat": 29.69, "lon": 106.58},
                   "passengers": 1}),
    any_user("GET", "/api/v1/me/payment-methods", "/api/v1/me/payment-methods"),
    any_user("POST", "/api/v1/me/payment-methods", "/api/v1/me/payment-methods", ok=201,
             body={"card_number": "4242424242424242"}),
    user_owned("POST", "/api/v1/me/payment-methods/<int:method_id>/default",
               "/api/v1/me/payment-methods/{method}/default"),
    user_owned("DELETE", "/api/v1/me/payment-methods/<int:method_id>", "/api/v1/me/payment-methods/{method}"),
    user_owned("GET", "/api/v1/bookings/<int:booking_id>", "/api/v1/bookings/{booking}"),
    user_owned("POST", "/api/v1/bookings/<int:booking_id>/cancel", "/api/v1/bookings/{booking}/cancel",
               ok=PASSED),
    user_owned("POST", "/api/v1/bookings/<int:booking_id>/check-in",
               "/api/v1/bookings/{booking}/check-in", ok=PASSED),
    user_owned("POST", "/api/v1/bookings/<int:booking_id>/complete",
               "/api/v1/bookings/{booking}/complete", body={}, ok=PASSED),
    user_owned("POST", "/api/v1/bookings/<int:booking_id>/stop-charging",
               "/api/v1/bookings/{booking}/stop-charging", ok=PASSED),
    user_owned("POST", "/api/v1/bookings/<int:booking_id>/rebook", "/api/v1/bookings/{booking}/rebook",
               body={"start": "{slot_start}", "end": "{slot_end}"}, ok=PASSED),
    user_owned("GET", "/api/v1/orders/<int:order_id>", "/api/v1/orders/{order}"),
    user_owned("POST", "/api/v1/orders/<int:order_id>/cancel", "/api/v1/orders/{order}/cancel",
               ok=PASSED),
    user_owned("GET", "/api/v1/tickets/<int:ticket_id>/qr.svg", "/api/v1/tickets/{ticket}/qr.svg"),
    user_owned("GET", "/api/v1/tickets/<int:ticket_id>.ics", "/api/v1/tickets/{ticket}.ics"),
    user_owned("POST", "/api/v1/tickets/<int:ticket_id>/ride-home", "/api/v1/tickets/{ticket}/ride-home",
               body={"dropoff": {"lat": 29.69, "lon": 106.58}}, ok=PASSED),
    user_owned("GET", "/api/v1/bookings/<int:booking_id>.ics", "/api/v1/bookings/{booking}.ics"),
    user_owned("GET", "/api/v1/rides/<int:ride_id>", "/api/v1/rides/{ride}"),
    user_owned("GET", "/api/v1/rides/<int:ride_id>/events", "/api/v1/rides/{ride}/events"),
    user_owned("POST", "/api/v1/rides/<int:ride_id>/cancel", "/api/v1/rides/{ride}/cancel", ok=PASSED),
    user_owned("GET", "/api/v1/payments/<int:payment_id>", "/api/v1/payments/{payment}"),
    user_owned("POST", "/api/v1/payments/<int:payment_id>/sandbox/confirm",
               "/api/v1/payments/{payment}/sandbox/confirm", body={"card_number": "4242424242424242"}),
    staff("site_operator", "POST", "/api/v1/manage/sites", "/api/v1/manage/sites", ok=201, body={
        "kind": "charging_station", "name_zh": "新站", "name_en": "New", "address_zh": "地址",
        "address_en": "Address", "district": "yuzhong", "location": {"lat": 29.56, "lon": 106.57},
        "organisation_id": "{org}"}),
    staff("site_operator", "GET", "/api/v1/manage/sites", "/api/v1/manage/sites", other=200),
    staff("site_operator", "PATCH", "/api/v1/manage/sites/<int:site_id>", SITE, body={"name_en": "Renamed"}),
    staff("site_operator", "GET", "/api/v1/manage/sites/<int:site_id>/resources", SITE + "/resources"),
    staff("site_operator", "GET", "/api/v1/manage/sites/<int:site_id>/chargers", SITE + "/chargers"),
    staff("site_operator", "PUT", "/api/v1/manage/sites/<int:site_id>/power-cap", SITE + "/power-cap",
          body={"power_cap_kw": 400}),
    staff("site_operator", "PUT", "/api/v1/manage/sites/<int:site_id>/resources/<int:resource_id>/ocpp",
          SITE + "/resources/{resource}/ocpp",
          body={"ocpp_identity": "CQ-{resource}", "password": "station-secret-0123456789"}),
    staff("site_operator", "POST", "/api/v1/manage/sites/<int:site_id>/resources", SITE + "/resources",
          ok=201, body={"kind": "charger", "name_zh": "桩", "name_en": "Charger", "capacity": 1,
                        "attributes": {"power_kw": 120, "connector": "GB/T DC", "voltage_class": 400}}),
    staff("site_operator", "PATCH", "/api/v1/manage/sites/<int:site_id>/resources/<int:resource_id>",
          SITE + "/resources/{resource}", body={"name_en": "Renamed"}),
    staff("site_operator", "POST",
          "/api/v1/manage/sites/<int:site_id>/resources/<int:resource_id>/outages",
          SITE + "/resources/{resource}/outages", ok=201,
          body={"start": "{slot_start}", "end": "{slot_end}", "reason": "maintenance"}),
    staff("site_operator", "GET", "/api/v1/manage/sites/<int:site_id>/resources/<int:resource_id>/outages",
          SITE + "/resources/{resource}/outages"),
    staff("site_operator", "PATCH",
          "/api/v1/manage/sites/<int:site_id>/resources/<int:resource_id>/outages/<int:outage_id>",
          SITE + "/resources/{resource}/outages/{outage}", body={"end": "{slot_end}"}),
    staff("site_operator", "DELETE",
          "/api/v1/manage/sites/<int:site_id>/resources/<int:resource_id>/outages/<int:outage_id>",
          SITE + "/resources/{resource}/outages/{outage}", ok=204),
    staff("site_operator", "GET", "/api/v1/manage/sites/<int:site_id>/bookings",
          SITE + "/bookings?from={now_q}&to={later_q}"),
    staff("site_operator", "GET", "/api/v1/manage/sites/<int:site_id>/utilisation",
          SITE + "/utilisation?from={now_q}&to={later_q}"),
    # Creating is for one's own organisation: other organisations' staff create their own, and
    # an admin, a member of none, has no organisation to create events or vehicles for.
    Row("POST", "/api/v1/organiser/events", "/api/v1/organiser/events",
        {"anonymous": 401, "organiser": 201, "organiser_other": 201}, 403, body={
        "category": "culture", "title_zh": "展", "title_en": "Show", "venue_site_id": "{site}",
        "starts_at": "{event_start}", "ends_at": "{event_end}"}),
    staff("organiser", "GET", "/api/v1/organiser/events", "/api/v1/organiser/events", other=200),
    staff("organiser", "GET", "/api/v1/organiser/events/<int:event_id>/check-ins", EVENT + "/check-ins"),
    staff("organiser", "PATCH", "/api/v1/organiser/events/<int:event_id>", EVENT, body={"title_en": "New"}),
    staff("organiser", "POST", "/api/v1/organiser/events/<int:event_id>/tiers", EVENT + "/tiers", ok=201,
          body={"name_zh": "票", "name_en": "Ticket", "price_fen": 100, "quota": 10,
                "sales_start": "{now}", "sales_end": "{sales_end}"}),
    staff("organiser", "PATCH", "/api/v1/organiser/events/<int:event_id>/tiers/<int:tier_id>",
          EVENT + "/tiers/{tier}", body={"name_en": "Renamed"}),
    # Already on sale: publishing again is a state conflict once past the permission check.
    staff("organiser", "POST", "/api/v1/organiser/events/<int:event_id>/publish", EVENT + "/publish",
          ok=PASSED),
    staff("organiser", "POST", "/api/v1/organiser/events/<int:event_id>/cancel", EVENT + "/cancel"),
    staff("organiser", "GET", "/api/v1/organiser/events/<int:event_id>/sales", EVENT + "/sales"),
    staff("organiser", "POST", "/api/v1/organiser/events/<int:event_id>/check-ins", EVENT + "/check-ins",
          body={"code": "1.forged"}),
    staff("organiser", "POST", "/api/v1/organiser/events/<int:event_id>/check-ins/batch",
          EVENT + "/check-ins/batch", body={"scans": [{"code": "1.forged", "scanned_at": "{now}"}]}),
    Row("POST", "/api/v1/fleet/vehicles", "/api/v1/fleet/vehicles",
        {"anonymous": 401, "operator": 201, "operator_other": 201}, 403,
        body={"plate": "{plate}", "model": "test", "seats": 4, "region": "liangjiang"}),
    staff("operator", "POST", "/api/v1/fleet/telemetry", "/api/v1/fleet/telemetry", ok=202,
          body={"rows": [{"vehicle_id": "{vehicle}", "lat": 29.66, "lon": 106.55, "soc": 80, "ts": "{now}"}]}),
    staff("operator", "POST", "/api/v1/fleet/vehicles/<int:vehicle_id>/events",
          "/api/v1/fleet/vehicles/{vehicle}/events", body={"event": "fault"}, ok=PASSED),
    staff("operator", "POST", "/api/v1/ops/vehicles/<int:vehicle_id>/commands",
          "/api/v1/ops/vehicles/{vehicle}/commands", body={"command": "pull_over"}, ok=PASSED),
    # Listings are scoped, not refused: other fleets see their own (empty) fleet.
    staff("operator", "GET", "/api/v1/ops/fleet", "/api/v1/ops/fleet?bbox=29,106,30,107", other=200),
    staff("operator", "GET", "/api/v1/ops/metrics", "/api/v1/ops/metrics", other=200),
    staff("operator", "GET", "/api/v1/ops/metrics/history", "/api/v1/ops/metrics/history", other=200),
    staff("operator", "GET", "/api/v1/ops/stream", "/api/v1/ops/stream", other=200),
    staff("operator", "GET", "/api/v1/ops/vehicles/<int:vehicle_id>", "/api/v1/ops/vehicles/{vehicle}"),
    staff("operator", "GET", "/api/v1/fleet/statement", "/api/v1/fleet/statement?month=2026-11&organisation_id={org}"),
    admin_only("POST", "/api/v1/admin/organisations", "/api/v1/admin/organisations", ok=201,
               body={"slug": "{plate_slug}", "name_zh": "新", "name_en": "New", "kind": "platform"}),
    admin_only("POST", "/api/v1/admin/users/<int:user_id>/roles", "/api/v1/admin/users/{citizen}/roles",
               body={"role": "organiser", "organisation_id": "{org}"}),
]
# Open to everyone by design: public catalogue, sign-in, the provider's signed webhook and
# the console's base map.
PUBLIC = {
    "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/availability",
    "/api/v1/car-models", "/api/v1/events", "/api/v1/events/<int:event_id>", "/api/v1/sites",
    "/api/v1/sites/<int:site_id>", "/api/v1/sites/<int:site_id>/availability", "/api/v1/service-areas",
    "/api/v1/rides/quote", "/api/v1/payments/webhook", "/api/v1/ops/map",
}


def build_world(app, session) -> tuple[dict, dict]:
    """Return the ids the table's placeholders name, and each actor's headers."""
    org, other_org = make_org(session), make_org(session)
    site = make_site(session, organisation=org, kind="venue", resources=[
        {"kind": "charger", "capacity": 1, "attributes": {
            "power_kw": 120, "connector": "GB/T DC", "voltage_class": 400, "service_fee_fen_per_kwh": 60}}])
    resource = session.exec(select(Resource).where(Resource.site_id == site.id)).first()
    event = make_event(session, organisation=org, venue=site)
    users = {"owner": make_user(session), "citizen": make_user(session),
             "admin": make_user(session, roles=("admin",))}
    for role in STAFF:
        users[role] = make_user(session, roles=(role,), organisation=org)
        users[f"{role}_other"] = make_user(session, roles=(role,), organisation=other_org)
    owned = make_owned(session, user=users["owner"], resource=resource, event=event, vehicle_org=org)
    notice = Notification(user_id=users["owner"].id, kind="event_changed", title_zh="改", title_en="Moved",
                          body_zh="改", body_en="Moved", data={})
    device = Device(user_id=users["owner"].id, provider="webhook", address="https://push.example.com/owner",
                    secret="s")
    session.add_all([notice, device])
    outage = Outage(resource_id=resource.id, start_at=utcnow() + timedelta(days=1),
                    end_at=utcnow() + timedelta(days=1, hours=1), reason="maintenance")
    session.add(outage)
    session.commit()
    payment = payments.start_payment(session, app.extensions["payment_gateway"], payable_type="booking",
                                     payable_id=owned["booking"], user_id=users["owner"].id, amount=1000)
    method = wallet.save_method(session, app.extensions["payment_gateway"], user_id=users["owner"].id,
                                method="4242424242424242", idempotency_key=f"matrix-{site.id}")
    ids = {**owned, "method": method.id, "org": org.id, "site": site.id, "resource": resource.id, "event": event.id,
           "tier": _tier_id(session, event.id), "payment": payment.id, "citizen": users["citizen"].id,
           "outage": outage.id, "notification": notice.id, "device": device.id,
           "plate": f"渝A·N{site.id:04d}", "plate_slug": f"new-org-{site.id}",
           "now": utcnow().isoformat(), "now_q": quote(utcnow().isoformat()), "later_q": quote(later(7)),
           "slot_start": later(2), "slot_end": later(2.02),
           "event_start": later(20), "event_end": later(20.2),
           "sales_end": later(5)}  # before the owned event starts (make_event: in 10 days)
    headers = {name: bearer(app, session, user) for name, user in users.items()}
    return ids, {"anonymous": {}, **headers}


def _tier_id(session, event_id: int) -> int:
    from booking.events.models import TicketTier

    return session.exec(select(TicketTier.id).where(TicketTier.event_id == event_id)).first()


def fill(value, ids: dict):
    """Replace "{name}" placeholders in a URL or body with the world's values."""
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value.count("{") == 1:
        return ids[value[1:-1]]
    return value.format(**ids) if isinstance(value, str) else value


def call(client, row: Row, ids: dict, headers: dict) -> int:
    answer = client.open(fill(row.url, ids), method=row.method, headers=headers,
                         json=fill(row.body, ids) if row.body is not None else None)
    answer.close()  # event streams are generators: close them rather than read them out
    return answer.status_code


def allowed(status: int, expected) -> bool:
    if expected == PASSED:
        return status < 500 and status not in (401, 403, 404)
    return status == expected


@pytest.mark.parametrize("row", TABLE, ids=lambda r: f"{r.method} {r.rule}")
def test_access_matrix(app, client, session, row):
    """Each actor gets the pinned status; a call that may change state gets a fresh world."""
    ids, headers = build_world(app, session)
    got, wrong = {}, {}
    for actor in ACTORS:
        expected = row.expect.get(actor, row.default)
        if (expected == PASSED or expected < 300) and row.method != "GET":
            ids, headers = build_world(app, session)
        got[actor] = call(client, row, ids, headers[actor])
        if not allowed(got[actor], expected):
            wrong[actor] = (expected, got[actor])
    assert not wrong, f"actor: (expected, got) {wrong}; all: {got}"


def test_every_api_route_has_a_row(app):
    """A new /api/v1 route must get a row here (or be declared public) before it ships."""
    routes = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")}
    covered = {row.rule for row in TABLE} | PUBLIC
    assert routes - covered == set(), "add these routes to the access matrix"
    assert covered - routes == set(), "the matrix names routes the app no longer has"
