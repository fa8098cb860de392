"""What bookers are told: a booking starting soon, an outage hitting a booking."""
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.notifications.models import NotificationKind as Kind
from backend.notifications.services import notify
from booking.bookings.models import Booking, BookingStatus, Outage
from booking.bookings.rules import city_time
from booking.sites.models import Resource, Site

STARTING_WITHIN = timedelta(minutes=60)


def _place(session: Session, booking: Booking) -> tuple[str, str]:
    site, resource = session.get_one(Site, booking.site_id), session.get_one(Resource, booking.resource_id)
    return f"{site.name_zh} · {resource.name_zh}", f"{site.name_en} · {resource.name_en}"


def booking_disrupted(session: Session, booking: Booking, outage: Outage) -> None:
    """Tell a booker an outage hits their booking, and that moving or cancelling it is free."""
    zh, en = _place(session, booking)
    start, back = city_time(booking.start_at).strftime("%m-%d %H:%M"), city_time(outage.end_at).strftime("%m-%d %H:%M")
    notify(session, user_id=booking.user_id, kind=Kind.booking_disrupted,
           title=("预约受设备停用影响", "Your booking is hit by an outage"),
           body=(f"{zh}（{start}）将停用至 {back}。可免费改约或取消。",
                 f"{en} ({start}) is out of service until {back}. Move or cancel it free of charge."),
           data={"booking_id": booking.id, "site_id": booking.site_id,
                 "back_in_service": city_time(outage.end_at).isoformat()})


def starting_soon(session: Session, now: datetime) -> int:
    """Remind bookers whose confirmed booking starts within the hour; each booking once. Return how many."""
    bookings = session.exec(select(Booking).where(
        Booking.status == BookingStatus.confirmed, Booking.start_at > now,
        Booking.start_at <= now + STARTING_WITHIN)).all()
    sent = 0
    for booking in bookings:
        zh, en = _place(session, booking)
        at = city_time(booking.start_at).strftime("%H:%M")
        sent += notify(session, user_id=booking.user_id, kind=Kind.booking_starting_soon,
                       title=("预约即将开始", "Your booking starts soon"),
                       body=(f"{zh} {at} 开始，开始前 30 分钟可签到。",
                             f"{en} starts at {at}; check in from 30 minutes before."),
                       data={"booking_id": booking.id, "site_id": booking.site_id},
                       dedupe_key=f"starting-soon:{booking.id}") is not None
    return sent
