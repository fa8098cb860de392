"""Calendar files (iCalendar, RFC 5545) for a booking or a ticket, with the venue's place on the map."""
from datetime import datetime

from icalendar import Calendar, Event, vGeo

from backend.dbtypes import utcnow
from backend.geo import lat_lon
from backend.i18n import pick
from booking.bookings.rules import city_time
from booking.sites.models import Site

PRODUCT = "-//Chongqing mobility experience platform//cq-mobility//EN"
UID_DOMAIN = "cq-mobility.example"


def calendar_file(*, uid: str, summary: str, start: datetime, end: datetime, venue: Site,
                  description: str, cancelled: bool, language: str) -> bytes:
    """Return one event as an .ics file, in Chongqing's time zone, with the venue's address and GEO."""
    lat, lon = lat_lon(venue.location)
    entry = Event()
    entry.add("uid", f"{uid}@{UID_DOMAIN}")
    entry.add("dtstamp", utcnow())
    entry.add("dtstart", city_time(start))
    entry.add("dtend", city_time(end))
    entry.add("summary", summary)
    entry.add("description", description)
    entry.add("location", f"{pick(venue.name_zh, venue.name_en, language)}, "
                          f"{pick(venue.address_zh, venue.address_en, language)}")
    entry.add("geo", vGeo((lat, lon)))
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add_component(entry)
    calendar.add_missing_timezones()
    return calendar.to_ical()
