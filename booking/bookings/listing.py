"""The citizen's bookings as timeline entries, one keyset page at a time."""
from sqlmodel import Session, select

from backend.i18n import pick
from backend.timeline import TimelineEntry, TimelineKey, after
from booking.bookings.models import Booking
from booking.bookings.rules import city_time
from booking.sites.models import Resource, Site

KIND = "booking"


def timeline_entries(session: Session, *, user_id: int, cursor: TimelineKey | None, limit: int,
                     language: str) -> list[TimelineEntry]:
    """Return up to `limit` of the user's bookings after the cursor, latest start first."""
    rows = session.exec(
        select(Booking, Resource, Site).join(Resource, Resource.id == Booking.resource_id)
        .join(Site, Site.id == Booking.site_id)
        .where(Booking.user_id == user_id, after(cursor, kind=KIND, at_column=Booking.start_at,
                                                 id_column=Booking.id))
        .order_by(Booking.start_at.desc(), Booking.id.desc()).limit(limit)).all()
    return [TimelineEntry(type=KIND, id=b.id, status=b.status.value, at=city_time(b.start_at),
                          title=f"{pick(s.name_zh, s.name_en, language)} · {pick(r.name_zh, r.name_en, language)}",
                          detail={"site_id": s.id, "resource_kind": r.kind,
                                  "end": city_time(b.end_at).isoformat()})
            for b, r, s in rows]
