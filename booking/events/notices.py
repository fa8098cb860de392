"""What ticket buyers are told: waiting-list offers made, about to lapse and lapsed; events moved or cancelled."""
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.notifications.models import NotificationKind as Kind
from backend.notifications.services import notify
from booking.bookings.rules import city_time
from booking.events.models import Event, Order, OrderStatus, WaitlistEntry

EXPIRING_WITHIN = timedelta(minutes=10)


def _when(moment: datetime) -> str:
    return city_time(moment).strftime("%m-%d %H:%M")


def offer_made(session: Session, *, entry: WaitlistEntry, order: Order, event: Event) -> None:
    """Tell the next in line that returned seats are held for them until the offer lapses."""
    until = _when(order.expires_at)
    notify(session, user_id=entry.user_id, kind=Kind.waitlist_offer,
           title=("候补成功，座位已为您保留", "Seats are held for you"),
           body=(f"{event.title_zh}：{entry.quantity} 张票为您保留至 {until}，付款后出票。",
                 f"{event.title_en}: {entry.quantity} seat(s) are held for you until {until}. Pay to get the tickets."),
           data={"order_id": order.id, "event_id": event.id, "expires_at": city_time(order.expires_at).isoformat()})


def _offer_of(session: Session, order: Order) -> WaitlistEntry | None:
    return session.exec(select(WaitlistEntry).where(WaitlistEntry.offer_order_id == order.id)).first()


def offer_expired(session: Session, order: Order) -> None:
    """Tell a waiter whose offer lapsed unpaid that the seats went to the next in line."""
    if _offer_of(session, order) is None:
        return
    event = session.get_one(Event, order.event_id)
    notify(session, user_id=order.user_id, kind=Kind.waitlist_offer_expired,
           title=("候补保留已过期", "Your held seats were released"),
           body=(f"{event.title_zh}：保留的座位未在时限内付款，已释放给下一位候补。",
                 f"{event.title_en}: the held seats were not paid in time and went to the next in line."),
           data={"order_id": order.id, "event_id": event.id})


def offers_expiring(session: Session, now: datetime) -> int:
    """Remind waiters whose offer lapses within ten minutes; each offer once. Return how many."""
    rows = session.exec(select(Order, Event).join(Event, Event.id == Order.event_id)
                        .join(WaitlistEntry, WaitlistEntry.offer_order_id == Order.id)
                        .where(Order.status == OrderStatus.pending, Order.expires_at > now,
                               Order.expires_at <= now + EXPIRING_WITHIN)).all()
    sent = 0
    for order, event in rows:
        minutes = max(1, round((order.expires_at - now).total_seconds() / 60))
        sent += notify(session, user_id=order.user_id, kind=Kind.waitlist_offer_expiring,
                       title=("候补保留即将过期", "Your held seats are about to be released"),
                       body=(f"{event.title_zh}：请在 {minutes} 分钟内付款，否则座位将释放。",
                             f"{event.title_en}: pay within {minutes} minute(s) or the seats go to the next in line."),
                       data={"order_id": order.id, "event_id": event.id},
                       dedupe_key=f"offer-expiring:{order.id}") is not None
    return sent


def _holders(session: Session, event: Event) -> list[int]:
    return list(session.exec(select(Order.user_id).where(
        Order.event_id == event.id, Order.status.in_([OrderStatus.pending, OrderStatus.paid])).distinct()).all())


def event_moved(session: Session, event: Event, was: datetime) -> None:
    """Tell every ticket holder that the event now starts at another time."""
    if event.starts_at == was:
        return
    for user_id in _holders(session, event):
        notify(session, user_id=user_id, kind=Kind.event_changed,
               title=("活动时间变更", "The event moved"),
               body=(f"{event.title_zh} 改为 {_when(event.starts_at)} 开始（原定 {_when(was)}）。",
                     f"{event.title_en} now starts at {_when(event.starts_at)} (was {_when(was)})."),
               data={"event_id": event.id, "starts_at": city_time(event.starts_at).isoformat()})


def event_cancelled(session: Session, event: Event) -> None:
    """Tell every ticket holder that the event is cancelled and paid orders are refunded in full."""
    for user_id in _holders(session, event):
        notify(session, user_id=user_id, kind=Kind.event_cancelled,
               title=("活动已取消", "The event is cancelled"),
               body=(f"{event.title_zh} 已取消，已付款的订单将全额退款。",
                     f"{event.title_en} is cancelled; paid orders are refunded in full."),
               data={"event_id": event.id})
