"""Ride rules: quote, request (authorising the fare), cancel, and what vehicle events do to a ride."""
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import update
from sqlmodel import Session, select

from backend import logs
from backend.db import write_transaction
from backend.dbtypes import utcnow
from backend.exceptions import Invalid, NotFound, PaymentRequired, Unavailable
from backend.geo import Point, contains_point
from backend.i18n import DEFAULT_LANGUAGE, pick
from backend.money import Money
from payments import services as payments
from payments import wallet
from payments.creation import Charge
from payments.effects import register_payable
from payments.gateway import OffSession
from payments.models import Payment, PaymentInstruction
from payments.runner import run_after_commit
from robotaxi_dispatch.engine import booked
from robotaxi_dispatch.engine.chongqing import to_xy
from robotaxi_dispatch.engine.eta import DETOUR, SPEED_BY_HOUR, BridgeAwareEta
from robotaxi_dispatch.rides import fares, positions
from robotaxi_dispatch.rides.models import (
    Ride,
    RideCancellationTerms,
    RideEvent,
    RidePublic,
    RideQuote,
    RideRequest,
    RideStatus,
    Vehicle,
    VehicleStatus,
    VehicleView,
)
from robotaxi_dispatch.rides.states import check_ride_move
from robotaxi_dispatch.service_areas import ServiceArea
from robotaxi_dispatch.streams import notify_ride, publish_request, publish_status

PAYABLE_TYPE = "ride"
AUTHORISED = "authorised"  # Ride.payment_status once its fare is authorised: only then is it dispatched
ETA = BridgeAwareEta()
FRESH_POSITION = timedelta(minutes=2)
# A rider who cancels when the vehicle is this close to the pickup pays the cancellation fee.
FEE_WHEN_ETA_BELOW_S = 180
# Not yet given a vehicle: a booked ride before its release, any ride before its match.
WAITING = (RideStatus.scheduled, RideStatus.requested)
CANCELLABLE = (*WAITING, RideStatus.assigned, RideStatus.arriving)
OVER = (RideStatus.cancelled, RideStatus.no_vehicle)  # an authorisation arriving now is released


def hour_of(at: datetime) -> int:
    return at.astimezone(fares.SHANGHAI).hour


def _trip(request: RideRequest, at: datetime) -> tuple[float, float]:
    """Return road metres and seconds from pickup to drop-off."""
    a, b = to_xy(request.pickup.lat, request.pickup.lon), to_xy(request.dropoff.lat, request.dropoff.lon)
    return float(ETA.road_distance(*a, *b)[0]), float(ETA.seconds(*a, *b, hour=hour_of(at))[0])


def nearest_pickup_s(session: Session, redis, ask: tuple[str, Point, int], now: datetime) -> int | None:
    """Return the pickup seconds of the closest free vehicle of a region (region, pickup, passengers),
    exact whenever one is within the dispatcher's pickup limit."""
    here, hour, fresh_since = to_xy(ask[1].lat, ask[1].lon), hour_of(now), (now - FRESH_POSITION).timestamp()
    best = None
    # Only vehicles near the pickup are read: first those a minute away (an evening fleet nearly always
    # has one), else once those within the limit. A car outside the box a car covers in `reach` seconds
    # at the hour's speed cannot come sooner than that.
    for reach in (60.0, booked.LEAD_WITHOUT_VEHICLE_S):
        found = [(lat, lon) for lat, lon, at in positions.free_near(
            session, redis, ask, reach * SPEED_BY_HOUR[hour] / DETOUR) if at is not None and at >= fresh_since]
        if found:
            lat, lon = np.array(found).T
            best = int(ETA.seconds(*to_xy(lat, lon), np.full(len(lat), here[0]), np.full(len(lat), here[1]),
                                   hour=hour).min())
            if best <= reach:
                return best
    return best


def _trip_area(session: Session, request: RideRequest) -> tuple[str, str, str]:
    """Return (region, name_zh, name_en) of the service area holding both pickup and drop-off; 422 if none does."""
    connection, areas = session.connection(), ServiceArea.__table__.c
    dialect = connection.dialect.name
    # One query for both ends, and only the columns a quote shows (the polygon itself is never needed here),
    # from the table: plain rows skip the ORM's work on the statement.
    area = connection.execute(select(areas.region, areas.name_zh, areas.name_en).where(
        contains_point(areas.area, request.pickup.lat, request.pickup.lon, dialect),
        contains_point(areas.area, request.dropoff.lat, request.dropoff.lon, dialect))).first()
    if area is None:
        raise Invalid("outside_service_area",
                       "Pickup and drop-off must both lie in one robotaxi service area.")
    return area


def quote(session: Session, redis, *, request: RideRequest, language: str, now: datetime | None = None,
          pickup_eta: bool = True) -> tuple[RideQuote, str]:
    """Price a ride inside one service area (at its pickup time when booked ahead); return the quote
    (area named in the language) and its region. `pickup_eta=False` leaves out the pickup estimate,
    which a ride does not keep (the dispatcher sets its own)."""
    now = now or utcnow()
    at = request.pickup_at or now
    region, name_zh, name_en = _trip_area(session, request)
    distance, seconds = _trip(request, at)
    fare = fares.fare_for(distance_m=distance, trip_s=seconds, at=at)
    return RideQuote(fare=Money(amount=fare.total_fen), fare_breakdown=fare.breakdown(),
                     distance_m=round(distance), trip_s=round(seconds),
                     pickup_eta_s=nearest_pickup_s(session, redis, (region, request.pickup, request.passengers),
                                                   now) if pickup_eta and not request.pickup_at else None,
                     service_area=pick(name_zh, name_en, language),
                     cancellation=cancellation_terms(request.pickup_at, language)), region


def cancellation_terms(pickup_at: datetime | None, language: str) -> RideCancellationTerms:
    """Return a ride's cancellation terms: booked ahead, free until a deadline; else until the car is close."""
    if pickup_at is None:
        return fares.cancellation_terms(FEE_WHEN_ETA_BELOW_S, language)
    return fares.booked_cancellation_terms(pickup_at, FEE_WHEN_ETA_BELOW_S, language)


def record(session: Session, ride: Ride, reason: str, **data) -> None:
    """Append a ride event (what the SSE stream replays)."""
    session.add(RideEvent(ride_id=ride.id, status=ride.status, reason=reason, data=data))


def new_ride(*, user_id: int, region: str, request: RideRequest, offer: RideQuote) -> Ride:
    """Return a ride (not yet added) for a request at its quoted fare, with the amount to authorise."""
    return Ride(user_id=user_id, region=region, pickup_lat=request.pickup.lat, pickup_lon=request.pickup.lon,
                dropoff_lat=request.dropoff.lat, dropoff_lon=request.dropoff.lon, passengers=request.passengers,
                distance_m=offer.distance_m, trip_s=offer.trip_s, quoted_fare_fen=offer.fare.amount,
                authorised_fen=fares.authorisation_for(offer.fare.amount), pickup_at=request.pickup_at,
                request_id=logs.request_id.get())


def request_ride(session: Session, gateway, redis, *, user_id: int, request: RideRequest) -> tuple[Ride, Payment]:
    """Create a ride with its fare's authorisation, ask the provider for it off-session against the rider's
    wallet, then hand the ride to dispatch; return the ride and its payment.

    Without a saved method nothing is created (402 payment_method_required); a declined
    authorisation cancels the ride (402 payment_declined). Only an authorised ride is dispatched.
    """
    # One transaction from the trip's area to the payment's intent: the area read apart cost a BEGIN and COMMIT more.
    with write_transaction(session):
        # A ride shows no area name, and keeps no pickup estimate: finding the nearby vehicles was a third of a
        # request.
        offer, region = quote(session, redis, request=request, language=DEFAULT_LANGUAGE, pickup_eta=False)
        method = wallet.default_method(session, gateway, user_id=user_id)  # 402 before anything is written
        ride = new_ride(user_id=user_id, region=region, request=request, offer=offer)
        session.add(ride)
        session.flush()
        record(session, ride, "requested")
        intent = payments.intend_payment(session, gateway, off_session=method, **_fare_hold(ride))
    payment = _or_give_up(session, gateway, ride, lambda: payments.send_payment(session, gateway, intent))
    publish_request(redis, region, ride.id)
    return ride, payment  # the session's own objects: the authorisation's change is on them already


def _fare_hold(ride: Ride) -> Charge:
    """Return the charge that holds a ride's fare plus margin until the ride is over (`payments.creation.intent`)."""
    return {"payable_type": PAYABLE_TYPE, "payable_id": ride.id, "user_id": ride.user_id,
            "amount": ride.authorised_fen, "capture_method": "manual", "description": f"ride {ride.id}"}


def authorise(session: Session, gateway, ride: Ride, method: OffSession | None = None) -> Payment:
    """Hold the ride's fare plus margin on the rider's default card (`method`, if already read), off-session;
    return the payment; PaymentRequired if declined."""
    return wallet.pay_with_default(session, gateway, method=method, **_fare_hold(ride))


def authorise_or_give_up(session: Session, gateway, ride: Ride, method: OffSession | None = None) -> Payment:
    """Authorise a ride the rider waits for and return its payment; declined (402) or the provider away (503),
    cancel it."""
    return _or_give_up(session, gateway, ride, lambda: authorise(session, gateway, ride, method))


def _or_give_up(session: Session, gateway, ride: Ride, authorising: Callable[[], Payment]) -> Payment:
    """Return the payment `authorising` leaves authorised; declined (402) or the provider away (503), cancel
    the ride."""
    try:
        return authorising()
    except PaymentRequired:
        give_up(session, gateway, ride.id, "payment_declined")
        raise
    except Exception as exc:  # the provider is away: no ride without an authorisation
        give_up(session, gateway, ride.id, "payment_unavailable")
        raise Unavailable("payment_provider_unavailable", "Payments are unavailable; try again shortly.",
                          retry_after_s=5) from exc


def give_up(session: Session, gateway, ride_id: int, reason: str) -> None:
    """Cancel a ride whose fare could not be authorised (it was never dispatched), and its payment."""
    owed = None
    with write_transaction(session):
        ride = session.exec(select(Ride).where(Ride.id == ride_id).with_for_update()).one()
        if ride.status in WAITING and ride.payment_status != AUTHORISED:
            ride.status, ride.ended_at = RideStatus.cancelled, utcnow()
            record(session, ride, reason)
            owed = settle(session, ride=ride, keep_fen=0)
    run_after_commit(session, gateway, owed)


_PAYMENT_OF_RIDE = (Payment.payable_type == PAYABLE_TYPE) & (Payment.payable_id == Ride.id)


def own_ride(session: Session, *, ride_id: int, user_id: int) -> tuple[Ride, Payment | None, Vehicle | None]:
    """Return one of the rider's rides (404 for anyone else's) with its payment and vehicle, in one query."""
    found = session.exec(select(Ride, Payment, Vehicle).where(Ride.id == ride_id, Ride.user_id == user_id)
                         .outerjoin(Payment, _PAYMENT_OF_RIDE)
                         .outerjoin(Vehicle, Vehicle.id == Ride.vehicle_id)).first()
    if found is None:
        raise NotFound("ride_not_found", "No such ride.")
    return found[0], found[1], found[2]


def ride_public(session: Session, ride: Ride, redis=None, *, language: str = DEFAULT_LANGUAGE,
                payment: Payment | None = None, vehicle: Vehicle | None = None) -> RidePublic:
    """Return the rider's view: status, vehicle and its position (the latest known, given Redis),
    pickup ETA and time, fare, cancellation terms, payment. The payment and vehicle the caller
    already holds are not read again."""
    if vehicle is None and ride.vehicle_id:
        vehicle = session.get(Vehicle, ride.vehicle_id)
    if vehicle is not None and redis is not None:
        positions.overlay(redis, [vehicle])
    payment = payment or payments.payment_for(session, PAYABLE_TYPE, ride.id)
    money = lambda fen: None if fen is None else Money(amount=fen)  # noqa: E731
    return RidePublic(
        id=ride.id, status=ride.status, pickup=Point(lat=ride.pickup_lat, lon=ride.pickup_lon),
        dropoff=Point(lat=ride.dropoff_lat, lon=ride.dropoff_lon), passengers=ride.passengers,
        fare=Money(amount=ride.quoted_fare_fen), final_fare=money(ride.fare_fen),
        cancellation_fee=money(ride.cancellation_fee_fen), distance_m=ride.distance_m,
        trip_s=ride.trip_s, pickup_eta_s=ride.pickup_eta_s, requested_at=ride.requested_at, pickup_at=ride.pickup_at,
        cancellation=cancellation_terms(ride.pickup_at, language) if ride.status in CANCELLABLE else None,
        vehicle=None if vehicle is None else VehicleView(
            id=vehicle.id, plate=vehicle.plate,
            position=None if vehicle.lat is None or vehicle.lon is None else Point(lat=vehicle.lat, lon=vehicle.lon)),
        payment=payments.payment_public(payment) if payment else None)


def _release_vehicle(vehicle: Vehicle | None, ride: Ride) -> Vehicle | None:
    """Free the ride's vehicle, if it still serves this ride; return it."""
    if vehicle is None or vehicle.ride_id != ride.id:
        return None
    vehicle.status, vehicle.ride_id = VehicleStatus.available, None
    return vehicle


def _late(ride: Ride, now: datetime) -> bool:
    """Tell whether cancelling now costs the fee: the car is close, or a booked ride's free time is over."""
    if ride.status == RideStatus.arriving or (
            ride.status == RideStatus.assigned and (ride.pickup_eta_s or 1e9) <= FEE_WHEN_ETA_BELOW_S):
        return True
    return ride.pickup_at is not None and now >= ride.pickup_at - fares.FREE_CANCEL_BEFORE


def cancel_ride(session: Session, gateway, redis, *, ride_id: int,
                user_id: int) -> tuple[Ride, Payment | None, Vehicle | None]:
    """Cancel before pickup; a fee once the vehicle is about to arrive or a booked ride's free time is over.
    Return the ride with its payment and vehicle as the cancellation left them."""
    now = utcnow()
    with write_transaction(session):
        # Only the ride is locked: payments lock a payment before its payable, never after. Holding the
        # payment here keeps it in the session, so the runner and the answer need not read it again.
        found = session.exec(select(Ride, Payment).where(Ride.id == ride_id).outerjoin(Payment, _PAYMENT_OF_RIDE)
                             .with_for_update(of=Ride)).first()
        if found is None or found[0].user_id != user_id:
            raise NotFound("ride_not_found", "No such ride.")
        ride, payment = found
        check_ride_move(ride.status, RideStatus.cancelled)
        ride.cancellation_fee_fen = fares.CANCELLATION_FEE_FEN if _late(ride, now) else 0
        ride.status, ride.ended_at = RideStatus.cancelled, now
        # Read once the ride is locked, not with it: a vehicle assigned meanwhile must be seen to be freed.
        vehicle = session.get(Vehicle, ride.vehicle_id) if ride.vehicle_id else None
        freed = _release_vehicle(vehicle, ride)
        record(session, ride, "rider_cancelled", fee_fen=ride.cancellation_fee_fen)
        owed = payments.settle(session, payment, keep_fen=ride.cancellation_fee_fen, reason=_settled(ride))
    run_after_commit(session, gateway, owed)
    notify_ride(redis, ride.region, ride.id)
    if freed is not None:
        publish_status(redis, freed.region, freed.id, freed.status)
    return ride, payment, vehicle  # the payment refreshed in place by the settlement and the runner's locked reads


def settle(session: Session, *, ride: Ride, keep_fen: int) -> PaymentInstruction | None:
    """Record, in the ride's transaction, capturing what it costs or releasing the authorisation."""
    return payments.settle_payable(session, payable_type=PAYABLE_TYPE, payable_id=ride.id, keep_fen=keep_fen,
                                   reason=_settled(ride))


def _settled(ride: Ride) -> str:
    """Return why a ride's payment is settled, as its instructions record it."""
    return f"ride {ride.id} {ride.status.value}"


class RidePayable:
    """A ride becomes dispatchable once its fare is authorised, and never before."""

    def on_succeeded(self, session: Session, payable_id: int) -> bool:
        return True

    def on_authorised(self, session: Session, payable_id: int) -> bool:
        """Mark the ride authorised (the dispatcher matches only these); False if it is over."""
        # One conditional update locks, checks and marks the row, where a locked read and its write took two;
        # "fetch" brings the session's own ride up to date only if the row did change.
        marked = session.exec(update(Ride).where(Ride.id == payable_id, Ride.status.not_in(OVER))
                              .values(payment_status=AUTHORISED).execution_options(synchronize_session="fetch"))
        return marked.rowcount == 1

    def on_failed(self, session: Session, payable_id: int) -> None:
        ride = session.get(Ride, payable_id)
        if ride is not None and ride.status in WAITING:
            ride.status, ride.ended_at = RideStatus.cancelled, utcnow()
            record(session, ride, "payment_failed")


def register() -> None:
    """Tell payments how to apply payment outcomes to rides."""
    register_payable(PAYABLE_TYPE, RidePayable())
