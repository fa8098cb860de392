"""The cancellation policy said up front: on offered slots, and on each booking with its own dates."""
from datetime import datetime, timedelta

from backend.i18n import duration_text, pick
from backend.money import Money
from booking.bookings import rules
from booking.bookings.models import Booking, BookingStatus, Cancellation, CancellationTerms
from booking.bookings.services import cancellation_fee, paid_cancellation_fee

CANCELLABLE = (BookingStatus.held, BookingStatus.confirmed)


def yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def terms(kind: str, language: str) -> CancellationTerms:
    """Return the cancellation terms of a resource kind, as a quote shows them."""
    rule = rules.rule_for(kind)
    notice = rule.free_cancel_before
    if rule.late_cancel_fee_pct == 0:
        summary = pick("随时免费取消。", "Free to cancel at any time.", language)
    else:
        summary = pick(
            f"开始前{duration_text(notice, 'zh-CN')}之前免费取消，之后收取价格的 {rule.late_cancel_fee_pct}%；"
            f"未到场收取 {rule.no_show_fee_pct}%。",
            f"Free to cancel until {duration_text(notice, 'en')} before the start, then "
            f"{rule.late_cancel_fee_pct}% of the price is kept; a no-show costs {rule.no_show_fee_pct}%.", language)
    return CancellationTerms(free_until_minutes_before_start=notice // timedelta(minutes=1),
                             late_fee_percent=rule.late_cancel_fee_pct,
                             no_show_fee_percent=rule.no_show_fee_pct, summary=summary)


def _late_fee(booking: Booking) -> int:
    # What the same booking costs to cancel at its start once paid and undisturbed: the late fee.
    return paid_cancellation_fee(booking, booking.start_at)


def cancellation(booking: Booking, now: datetime, language: str) -> Cancellation | None:
    """Return what cancelling the booking costs now and until when it is free; None once it cannot be."""
    if booking.status not in CANCELLABLE:
        return None
    fee_now, late = cancellation_fee(booking, now), _late_fee(booking)
    always_free = late == 0 or booking.disrupted
    cut_off = booking.start_at if always_free else booking.start_at - rules.rule_for(booking.kind).free_cancel_before
    free_until = rules.city_time(cut_off) if fee_now == 0 else None
    if always_free:
        summary = pick("开始前可免费取消。", "Free to cancel before the start.", language)
    elif fee_now == 0:
        when = rules.city_time(cut_off).strftime("%Y-%m-%d %H:%M")
        summary = pick(f"{when} 前可免费取消，之后取消收取 {yuan(late)}。",
                       f"Free to cancel until {when}; after that {yuan(late)} is kept.", language)
    else:
        summary = pick(f"现在取消将收取 {yuan(fee_now)}。", f"Cancelling now keeps {yuan(fee_now)}.", language)
    return Cancellation(free_until=free_until,
                        fee_now=Money(amount=fee_now, currency=booking.currency),
                        late_fee=Money(amount=late, currency=booking.currency), summary=summary)
