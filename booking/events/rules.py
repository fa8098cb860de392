"""Rules an event's organiser and its ticket holders rely on: when it may happen, when tickets
sell, how a published event may move, and how much cancelling an order gives back.

Money code calls `refund_due`; it never works a refund out by itself.
"""
from datetime import datetime, timedelta

from backend.exceptions import Conflict, Invalid
from booking.events.models import Event, EventStatus, Order, TicketTier


def check_schedule(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    """Refuse an event that ends before it starts or starts in the past."""
    if ends_at <= starts_at:
        raise Invalid("end_before_start", "The event must end after it starts.")
    if starts_at <= now:
        raise Invalid("event_in_past", "The event must start in the future.")


def check_sales_window(tier: TicketTier, event: Event) -> None:
    """Refuse a tier whose sales end before they start or after the event starts."""
    if tier.sales_end <= tier.sales_start:
        raise Invalid("end_before_start", "Sales must end after they start.")
    if tier.sales_end > event.starts_at:
        raise Invalid("sales_end_after_start", "Sales must end no later than the event starts.")


def check_move(event: Event, *, old_start: datetime, tiers: list[TicketTier]) -> None:
    """Refuse moving a published event earlier; a draft keeps every tier's sales before its start.

    A holder planned around the time they bought for: the event may only move later, and then
    each of them may cancel for a full refund (`refund_due`).
    """
    if event.status == EventStatus.published and event.starts_at < old_start:
        raise Conflict("event_moved_earlier", "A published event can only move to a later time.")
    if any(tier.sales_end > event.starts_at for tier in tiers):
        raise Conflict("sales_end_after_start", "A tier's sales would end after the new start.")


def record_move(event: Event, *, old_start: datetime, now: datetime) -> None:
    """Remember that a published event moved, so its holders are told and may leave in full."""
    if event.status == EventStatus.published and event.starts_at != old_start:
        event.previous_starts_at, event.rescheduled_at = old_start, now


def moved_since_bought(event: Event, order: Order) -> bool:
    """Tell whether the event moved after the order was placed."""
    return event.rescheduled_at is not None and order.created_at < event.rescheduled_at


def refund_percent(event: Event, order: Order, now: datetime) -> int:
    """Return the share of its price an order gets back when cancelled now."""
    if now >= event.starts_at:
        return 0
    if moved_since_bought(event, order):
        return 100
    left = event.starts_at - now
    return max((step["percent"] for step in event.refund_policy
                if left >= timedelta(hours=step["hours_before"])), default=0)


def refund_due(order: Order, event: Event, now: datetime) -> int:
    """Return what cancelling the order now refunds, in fen (rounded down)."""
    return order.total_fen * refund_percent(event, order, now) // 100
