"""Calendar files for bookings and tickets: the right times in Chongqing, the venue's address and place."""
from datetime import timedelta

from icalendar import Calendar
from sqlmodel import select

from booking.events.models import TicketTier
from tests.booking.conftest import booking_body, next_slot, pay
from tests.factories import bearer, make_event, make_org, make_site, make_user


def read_event(answer):
    assert answer.status_code == 200 and answer.mimetype == "text/calendar", answer.data[:300]
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    (event,) = Calendar.from_ical(answer.data).walk("VEVENT")
    return event


def test_a_booking_opens_in_the_phones_calendar(client, world):
    charger = world.resources["charger"]
    start, end = next_slot("charger", after=timedelta(hours=2))
    booked = client.post("/api/v1/bookings", json=booking_body(charger, start, end), headers=world.headers).json
    pay(client, booked, world.headers)
    event = read_event(client.get(f"/api/v1/bookings/{booked['id']}.ics",
                                  headers={**world.headers, "Accept-Language": "en"}))
    assert event.decoded("dtstart") == start and event.decoded("dtend") == end
    assert str(event.decoded("dtstart").tzinfo) == "Asia/Shanghai"
    assert event["geo"].latitude == 29.5576 and event["geo"].longitude == 106.5772
    assert str(event["location"]) == f"{world.site.name_en}, {world.site.address_en}"
    assert str(event["status"]) == "CONFIRMED" and "Free to cancel until" in str(event["description"])
    assert str(event["uid"]).startswith(f"booking-{booked['id']}@")
    assert client.get(f"/api/v1/bookings/{booked['id']}.ics", headers=world.other_headers).status_code == 404
    client.post(f"/api/v1/bookings/{booked['id']}/cancel", headers=world.headers)
    cancelled = read_event(client.get(f"/api/v1/bookings/{booked['id']}.ics", headers=world.headers))
    assert str(cancelled["status"]) == "CANCELLED"


def test_a_ticket_opens_in_the_phones_calendar(app, client, session):
    org = make_org(session, kind="organiser")
    venue = make_site(session, organisation=org, kind="venue", lat=29.7195, lon=106.5665)
    event = make_event(session, organisation=org, venue=venue)
    user = make_user(session)
    tier = session.exec(select(TicketTier).where(TicketTier.event_id == event.id)).first()
    placed = client.post(f"/api/v1/events/{event.id}/orders", headers=bearer(app, session, user),
                         json={"items": [{"tier_id": tier.id, "quantity": 1}]}).json
    pay(client, placed, bearer(app, session, user))
    ticket = client.get("/api/v1/tickets", headers=bearer(app, session, user)).json["items"][0]
    entry = read_event(client.get(f"/api/v1/tickets/{ticket['id']}.ics",
                                  headers={**bearer(app, session, user), "Accept-Language": "zh-CN"}))
    assert str(entry["summary"]) == event.title_zh
    assert entry.decoded("dtstart") == event.starts_at.replace(microsecond=0)
    assert (entry["geo"].latitude, entry["geo"].longitude) == (29.7195, 106.5665)
    assert venue.address_zh in str(entry["location"])
    stranger = bearer(app, session, make_user(session))
    assert client.get(f"/api/v1/tickets/{ticket['id']}.ics", headers=stranger).status_code == 404
