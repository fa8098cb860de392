"""The cancellation policy is said up front, and rule messages read like a person wrote them."""
from datetime import timedelta

from backend.dbtypes import utcnow
from tests.booking.conftest import booking_body, next_slot, pay

EN, ZH = {"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}


def test_offered_slots_carry_the_kinds_terms(client, world):
    start = utcnow() + timedelta(days=3)
    answer = client.get(f"/api/v1/sites/{world.site.id}/availability", headers=EN, query_string={
        "from": start.isoformat(), "to": (start + timedelta(hours=6)).isoformat(), "resource_kind": "track_session"})
    terms = answer.json["resources"][0]["cancellation"]
    assert terms["free_until_minutes_before_start"] == 48 * 60 and terms["late_fee_percent"] == 50
    assert terms["summary"].startswith("Free to cancel until 2 days before the start")


def test_a_booking_says_until_when_cancelling_is_free_and_what_it_costs_after(app, client, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=3))
    held = client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers={**world.headers, **EN}).json
    policy = held["cancellation"]
    assert policy["fee_now"]["amount"] == 0 and policy["late_fee"]["amount"] == held["price"]["amount"] * 20 // 100
    free_until = (start - timedelta(minutes=30)).astimezone(start.tzinfo)
    assert policy["free_until"] == free_until.isoformat() and "Free to cancel until" in policy["summary"]
    pay(client, held, world.headers)
    zh = client.get(f"/api/v1/bookings/{held['id']}", headers={**world.headers, **ZH}).json["cancellation"]
    assert zh["summary"].endswith(f"之后取消收取 ¥{policy['late_fee']['amount'] / 100:.2f}。")
    cancelled = client.post(f"/api/v1/bookings/{held['id']}/cancel", headers=world.headers).json
    assert cancelled["status"] == "cancelled" and cancelled["cancellation"] is None


def test_a_late_booking_costs_its_fee_now():
    from booking.bookings.models import Booking, BookingStatus
    from booking.bookings.policy import cancellation

    start = utcnow().replace(microsecond=0) + timedelta(hours=1)
    paid = Booking(id=1, user_id=1, resource_id=1, site_id=1, kind="charger", status=BookingStatus.confirmed,
                   start_at=start, end_at=start + timedelta(minutes=30), blocked_until=start + timedelta(minutes=30),
                   price_fen=14200)
    early = cancellation(paid, start - timedelta(minutes=45), "en")
    assert early.fee_now.amount == 0 and early.late_fee.amount == 14200 * 20 // 100
    late = cancellation(paid, start - timedelta(minutes=10), "en")
    assert late.free_until is None and late.fee_now == late.late_fee
    assert late.summary == f"Cancelling now keeps ¥{late.fee_now.amount / 100:.2f}."
    paid.disrupted = True
    assert cancellation(paid, start - timedelta(minutes=10), "en").fee_now.amount == 0


def test_test_drives_are_free_to_cancel(client, world):
    car = world.resources["test_drive_car"]
    start, end = next_slot("test_drive_car", after=timedelta(hours=1))
    booked = client.post("/api/v1/bookings", json=booking_body(car, start, end), headers={**world.headers, **EN}).json
    assert booked["cancellation"]["summary"] == "Free to cancel before the start."
    assert booked["cancellation"]["late_fee"]["amount"] == 0


def test_rule_messages_read_like_a_person_wrote_them(client, world):
    car = world.resources["test_drive_car"]
    start = (utcnow() + timedelta(minutes=90)).replace(minute=0, second=0, microsecond=0)
    body = booking_body(car, start, start + timedelta(minutes=45))
    en = client.post("/api/v1/bookings", json=body, headers={**world.headers, **EN}).json
    assert en["code"] == "too_short_notice" and en["detail"] == "Book at least 2 hours ahead."
    zh = client.post("/api/v1/bookings", json=body, headers={**world.headers, **ZH}).json
    assert zh["detail"] == "请至少提前 2小时 预订。" and zh["title"] == "预订提前量不足"
    far = utcnow() + timedelta(days=40)
    far = far.replace(minute=0, second=0, microsecond=0)
    late = client.post("/api/v1/bookings", json=booking_body(car, far, far + timedelta(minutes=45)),
                       headers={**world.headers, **EN}).json
    assert late["detail"] == "Book at most 30 days ahead."


def test_ride_quotes_say_what_cancelling_costs(client, session):
    from backend.seed.loader import _service_areas

    _service_areas(session)
    session.commit()
    quote = client.post("/api/v1/rides/quote", headers=EN, json={
        "pickup": {"lat": 29.6600, "lon": 106.5450}, "dropoff": {"lat": 29.6900, "lon": 106.5800}}).json
    assert quote["cancellation"] == {"free_until_pickup_eta_s": 180, "fee": {"amount": 500, "currency": "CNY"},
                                     "summary": "Free to cancel until the car is 3 minutes away; after that ¥5.00.",
                                     "free_until": None}  # set for rides booked ahead
