"""The demo's event season: events, tiers, the fans' paid orders with tickets, and a waiting list.

Dates count from the day of the first seed, so a fresh `make run` always shows a coming season.
"""
import itertools
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, select

from backend.accounts.models import User
from backend.dbtypes import utcnow
from backend.seed import catalogue
from booking.bookings.rules import CITY_TZ
from booking.events.models import (
    Event,
    EventStatus,
    Order,
    OrderItem,
    OrderStatus,
    Ticket,
    TicketTier,
    WaitlistEntry,
)
from booking.sites.models import Site

ORDER_SEATS = 4  # a typical family or group order


def _starts_at(now: datetime, days: int, hour: int) -> datetime:
    local_day = now.astimezone(CITY_TZ).replace(hour=hour, minute=0, second=0, microsecond=0)
    return local_day + timedelta(days=days)


def _sell(session: Session, tier: TicketTier, seats: int, buyers, now: datetime) -> None:
    """Issue the seats a tier counts as sold: paid orders of the fans, one ticket per seat."""
    while seats > 0:
        quantity, buyer = min(ORDER_SEATS, seats), next(buyers)
        order = Order(user_id=buyer, event_id=tier.event_id, status=OrderStatus.paid,
                      total_fen=tier.price_fen * quantity, expires_at=now, created_at=now)
        session.add(order)
        session.flush()
        session.add(OrderItem(order_id=order.id, tier_id=tier.id, quantity=quantity,
                              unit_price_fen=tier.price_fen))
        session.add_all(Ticket(order_id=order.id, event_id=tier.event_id, tier_id=tier.id, user_id=buyer,
                               serial=secrets.token_hex(16)) for _ in range(quantity))
        seats -= quantity


def _event(session: Session, spec: dict, *, organisation_id: int, venue: Site, fans: list[int],
           now: datetime) -> None:
    starts_at = _starts_at(now, spec["days"], spec["hour"])
    event = Event(category=spec["category"], title_zh=spec["title_zh"], title_en=spec["title_en"],
                  description_zh=spec["description_zh"], description_en=spec["description_en"],
                  refund_policy=[{"hours_before": spec["refund_hours"], "percent": 100}],
                  organisation_id=organisation_id, venue_site_id=venue.id, status=EventStatus.published,
                  starts_at=starts_at,
                  ends_at=starts_at + timedelta(hours=spec["hours"]))
    session.add(event)
    session.flush()
    buyers = itertools.cycle(fans)
    sold_out = None
    for name_zh, name_en, price, quota, sold in spec["tiers"]:
        tier = TicketTier(event_id=event.id, name_zh=name_zh, name_en=name_en, price_fen=price,
                          quota=quota, sold=sold, per_order_limit=6, sales_start=now - timedelta(days=1),
                          sales_end=starts_at - timedelta(hours=1))
        session.add(tier)
        session.flush()
        _sell(session, tier, sold, buyers, now)
        sold_out = sold_out or (tier if sold == quota else None)
    for n, fan in enumerate(fans[: spec.get("waiting", 0)]):
        assert sold_out is not None  # only a sold-out tier has a waiting list
        session.add(WaitlistEntry(tier_id=sold_out.id, user_id=fan, quantity=1 + n % 2,
                                  created_at=now + timedelta(seconds=n)))


def load_season(session: Session, *, organisation_id: int) -> int:
    """Add the season's missing events for the organisation; return how many were added."""
    known = set(session.exec(select(Event.title_en).where(Event.organisation_id == organisation_id)).all())
    venues = {s.name_en: s for s in session.exec(select(Site).where(Site.kind == "venue")).all()}
    venues |= {s.name_en: s for s in session.exec(select(Site).where(Site.kind == "proving_ground")).all()}
    emails = [email for email, _ in catalogue.FANS]
    fans = list(session.exec(select(User.id).where(User.email.in_(emails)).order_by(User.id)).all())
    now, added = utcnow(), 0
    for spec in catalogue.EVENTS:
        if spec["title_en"] not in known:
            _event(session, spec, organisation_id=organisation_id, venue=venues[spec["venue"]],
                   fans=fans, now=now)
            added += 1
    return added
