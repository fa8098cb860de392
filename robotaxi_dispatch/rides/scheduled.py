"""Rides booked ahead: accepted against forecast capacity, authorised in time, released to dispatch.

A booked ride is `scheduled` (the rider's saved card checked, nothing held yet), its fare is
authorised AUTHORISE_AHEAD before the pickup, and it becomes `requested` when released to its
region's dispatcher, as soon as the nearest free vehicles need all the time left plus a margin
(`engine.booked`). The dispatcher then gives it to no vehicle that would arrive too early.

Why authorise two hours ahead rather than at booking: a card hold lapses (Stripe's card holds
after seven days; some wallets sooner), and holding the fare for a ride a week away would block
the rider's money all week. Two hours leave the rider time to rebook when the card is declined,
which cancels the ride and tells them; by the end of the free cancellation time (30 minutes
before the pickup) the hold is in place, so a late cancellation's fee can be kept.

Capacity: the booked pickups of a region within CAPACITY_WINDOW of one time may take at most
BOOKABLE_SHARE of the region's vehicles (its forecast capacity: a vehicle serves about one booked
pickup per window), so riders who ask on the spot keep the rest. The count and the insert share
one transaction that holds the region's service-area rows, so two bookings never both take the
last place.
"""
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from backend import jobs
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Conflict, Invalid, PaymentRequired
from backend.geo import Point
from backend.i18n import DEFAULT_LANGUAGE, Span
from payments import wallet
from robotaxi_dispatch.engine import booked
from robotaxi_dispatch.rides import fares, notices, services
from robotaxi_dispatch.rides.models import Ride, RideRequest, RideStatus, Vehicle
from robotaxi_dispatch.rides.states import check_ride_move
from robotaxi_dispatch.service_areas import ServiceArea, area_at
from robotaxi_dispatch.streams import notify_ride, publish_request

log = logging.getLogger(__name__)
MIN_LEAD = timedelta(minutes=30)
MAX_AHEAD = timedelta(days=7)
SERVICE_HOURS = (6, 23)  # local pickup hours with the whole fleet on the road: 06:00 to 23:00
CAPACITY_WINDOW = timedelta(minutes=30)
BOOKABLE_SHARE = 0.5
AUTHORISE_AHEAD = timedelta(hours=2)
# No booked ride is released earlier than this before its pickup (see engine.booked.release_due).
RELEASE_LOOKAHEAD = timedelta(seconds=booked.LEAD_WITHOUT_VEHICLE_S + booked.MARGIN_S)
PREPOSITION_AHEAD = timedelta(seconds=booked.PREPOSITION_S)  # known demand draws idle vehicles this early
RIDE_HOME_SHARE = 0.05  # of an event's ticket holders, expected to ride home in a robotaxi
_SOURCES: dict[str, Callable] = {}  # where else riders are expected: registered by other services
BOOKED = (RideStatus.scheduled, RideStatus.requested, RideStatus.assigned,
          RideStatus.arriving, RideStatus.in_progress)


def check_pickup_at(pickup_at: datetime, now: datetime) -> None:
    """Refuse a pickup time too soon, too far ahead or outside service hours."""
    if pickup_at < now + MIN_LEAD:
        raise Invalid("too_short_notice", "Book at least {notice} ahead.", params={"notice": Span(MIN_LEAD)})
    if pickup_at > now + MAX_AHEAD:
        raise Invalid("beyond_booking_window", "Book at most {days} days ahead.", params={"days": MAX_AHEAD.days})
    opens, closes = SERVICE_HOURS
    if not opens <= pickup_at.astimezone(fares.SHANGHAI).hour < closes:
        raise Invalid("outside_service_hours", "Rides can be booked for pickups from {opens}:00 to {closes}:00.",
                      params={"opens": f"{opens:02d}", "closes": closes})


def _check_capacity(session: Session, *, region: str, pickup_at: datetime) -> None:
    """Refuse a booking once the region's booked pickups near that time take their share of the fleet."""
    session.exec(select(ServiceArea.id).where(ServiceArea.region == region)
                 .order_by(ServiceArea.id).with_for_update()).all()  # one booking of the region at a time
    fleet = session.exec(select(func.count()).select_from(Vehicle).where(Vehicle.region == region)).one()
    half = CAPACITY_WINDOW / 2
    taken = session.exec(select(func.count()).select_from(Ride).where(
        Ride.region == region, Ride.status.in_(BOOKED),
        Ride.pickup_at >= pickup_at - half, Ride.pickup_at < pickup_at + half)).one()
    if taken >= int(fleet * BOOKABLE_SHARE):
        raise Conflict("booked_rides_full",
                       "No more rides can be booked for this time in this area; try another time.")


def book_ride(session: Session, gateway, redis, *, user_id: int, request: RideRequest,
              now: datetime | None = None) -> Ride:
    """Book a ride for `request.pickup_at`: checked, priced at that time, held against forecast capacity.

    A pickup within AUTHORISE_AHEAD is authorised at once (402 when declined), later ones by the job.
    """
    now = now or utcnow()
    pickup_at = request.pickup_at
    assert pickup_at is not None, "on-demand rides are requested, not booked"
    check_pickup_at(pickup_at, now)
    offer, region = services.quote(session, redis, request=request, language=DEFAULT_LANGUAGE, now=now)
    method = wallet.default_method(session, gateway, user_id=user_id)  # 402 before anything is created
    with write_transaction(session):
        _check_capacity(session, region=region, pickup_at=pickup_at)
        ride = services.new_ride(user_id=user_id, region=region, request=request, offer=offer)
        ride.status = RideStatus.scheduled
        session.add(ride)
        session.flush()
        services.record(session, ride, "scheduled", pickup_at=pickup_at.isoformat())
    if pickup_at - now <= AUTHORISE_AHEAD:
        services.authorise_or_give_up(session, gateway, ride, method)
    return session.get_one(Ride, ride.id, populate_existing=True)


def _pickup_at(ride: Ride) -> datetime:
    """Return a booked ride's pickup time (every scheduled ride has one)."""
    assert ride.pickup_at is not None, "a scheduled ride has a pickup time"
    return ride.pickup_at


def _due(session: Session, *, until: datetime) -> list[Ride]:
    """Return the scheduled rides picked up by `until`, soonest first."""
    return list(session.exec(select(Ride).where(Ride.status == RideStatus.scheduled, Ride.pickup_at <= until)
                             .order_by(Ride.pickup_at)).all())


def _cancel_unpaid(session: Session, gateway, redis, ride: Ride, reason: str) -> None:
    """Cancel a booked ride whose card could not be authorised, and tell the rider."""
    services.give_up(session, gateway, ride.id, reason)  # a declined card has already cancelled it
    ride = session.get_one(Ride, ride.id, populate_existing=True)
    if ride.status == RideStatus.cancelled:
        with write_transaction(session):
            notices.booked_ride_cancelled(session, ride)
        notify_ride(redis, ride.region, ride.id)


def authorise_due(session: Session, gateway, redis, *, now: datetime) -> int:
    """Authorise the booked rides whose pickup is AUTHORISE_AHEAD away; a declined card cancels the ride."""
    done = 0
    for ride in (r for r in _due(session, until=now + AUTHORISE_AHEAD) if r.payment_status != services.AUTHORISED):
        try:
            services.authorise(session, gateway, ride)
            done += 1
        except PaymentRequired:
            _cancel_unpaid(session, gateway, redis, ride, "payment_declined")
        except Exception:  # the provider is away: try again next turn, until the release
            log.warning("booked ride %s: authorisation failed, retrying", ride.id, exc_info=True)
    return done


def release_due(session: Session, gateway, redis, *, now: datetime) -> list[int]:
    """Hand each authorised booked ride to its dispatcher once the nearest free vehicles need the time left."""
    rides = _due(session, until=now + RELEASE_LOOKAHEAD)
    for ride in (r for r in rides if r.payment_status != services.AUTHORISED):  # the provider never answered
        _cancel_unpaid(session, gateway, redis, ride, "payment_unavailable")
    rides = [r for r in rides if r.payment_status == services.AUTHORISED]
    nearest = [services.nearest_pickup_s(session, redis, (r.region, Point(lat=r.pickup_lat, lon=r.pickup_lon),
                                                           r.passengers), now) for r in rides]
    due = booked.release_due([_pickup_at(r).timestamp() for r in rides],
                             [np.nan if s is None else s for s in nearest], now.timestamp())
    released = []
    with write_transaction(session):
        for ride in (r for r, go in zip(rides, due) if go):
            ride = session.exec(select(Ride).where(Ride.id == ride.id).with_for_update()).one()
            if ride.status != RideStatus.scheduled:
                continue  # cancelled meanwhile
            check_ride_move(ride.status, RideStatus.requested)
            ride.status, ride.released_at = RideStatus.requested, now
            services.record(session, ride, "released")
            released.append(ride)
    for ride in released:
        publish_request(redis, ride.region, ride.id)
        notify_ride(redis, ride.region, ride.id)
    return [r.id for r in released]


def register_demand_source(name: str, source: Callable) -> None:
    """Add a source of riders expected soon: `source(session, start=, end=)` -> [(lat, lon, people)]."""
    _SOURCES[name] = source


def known_demand(session: Session, *, region: str, now: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (lat, lon, riders) expected in a region within PREPOSITION_AHEAD: booked pickups, and
    a share of the people the registered sources (events ending) let out there."""
    until = now + PREPOSITION_AHEAD
    points = [(lat, lon, 1.0) for lat, lon in session.exec(select(Ride.pickup_lat, Ride.pickup_lon).where(
        Ride.region == region, Ride.status.in_(services.WAITING), Ride.pickup_at >= now,
        Ride.pickup_at <= until)).all()]
    for source in _SOURCES.values():
        for lat, lon, people in source(session, start=now, end=until):
            area = area_at(session, lat=lat, lon=lon)
            if area is not None and area.region == region:
                points.append((lat, lon, RIDE_HOME_SHARE * people))
    lat, lon, riders = np.array(points, dtype=np.float64).reshape(-1, 3).T
    return lat, lon, riders


def _run(app, session: Session):
    gateway, redis, now = app.extensions["payment_gateway"], app.extensions["redis"], utcnow()
    authorised = authorise_due(session, gateway, redis, now=now)
    released = release_due(session, gateway, redis, now=now)
    return {"authorised": authorised, "released": len(released)} if authorised or released else None


def register(app) -> None:
    """Add the booked rides' job to the app's scheduler."""
    jobs.register(app, jobs.Job("rides-booked", 10, _run))
