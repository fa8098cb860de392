"""Fares on a tariff modelled on Chongqing's metered taxis, in integer fen.

- Flag fall 10.00 CNY covers the first 3 km.
- 2.00 CNY per km after the first 3 km.
- Slow time: a meter bills time spent crawling in traffic or waiting; here the time a trip
  takes beyond what it would at SLOW_PACE_MPS (30 km/h) is billed at 0.40 CNY a minute, the
  price of one kilometre every five minutes as Chongqing's meters charge for low speed.
- Night (23:00-05:00 Asia/Shanghai, by pickup time): 20% on top of the metered fare.
- The total is rounded half up to whole yuan, as taxi receipts are.
- A rider who cancels once the vehicle is close pays CANCELLATION_FEE_FEN; a ride booked ahead
  is free to cancel until FREE_CANCEL_BEFORE its pickup time, then costs the same fee.
"""
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from backend.i18n import duration_text, pick
from backend.money import Money
from robotaxi_dispatch.rides.models import RideCancellationTerms

SHANGHAI = ZoneInfo("Asia/Shanghai")
FLAG_FALL_FEN = 1000
FLAG_FALL_M = 3000
PER_KM_FEN = 200
SLOW_PACE_MPS = 30 / 3.6
SLOW_PER_MIN_FEN = 40
NIGHT_PERCENT = 20
NIGHT_HOURS = (23, 5)
CANCELLATION_FEE_FEN = 500
FREE_CANCEL_BEFORE = timedelta(minutes=30)
# Authorised at request so the final metered fare (longer detours, more traffic) still fits.
AUTHORISATION_MARGIN_PERCENT = 50


@dataclass(frozen=True)
class Fare:
    flag_fall_fen: int
    distance_fen: int
    slow_time_fen: int
    night_fen: int
    total_fen: int

    def breakdown(self) -> dict:
        return asdict(self)


def is_night(at: datetime) -> bool:
    """Tell whether a moment falls in the night tariff, in Chongqing's local time."""
    hour = at.astimezone(SHANGHAI).hour
    start, end = NIGHT_HOURS
    return hour >= start or hour < end


def fare_for(*, distance_m: float, trip_s: float, at: datetime) -> Fare:
    """Price a trip of a distance and duration that starts at a moment."""
    extra_km = max(0.0, distance_m - FLAG_FALL_M) / 1000
    distance_fen = round(extra_km * PER_KM_FEN)
    slow_s = max(0.0, trip_s - distance_m / SLOW_PACE_MPS)
    slow_fen = round(slow_s / 60 * SLOW_PER_MIN_FEN)
    metered = FLAG_FALL_FEN + distance_fen + slow_fen
    night_fen = metered * NIGHT_PERCENT // 100 if is_night(at) else 0
    total = (metered + night_fen + 50) // 100 * 100
    return Fare(FLAG_FALL_FEN, distance_fen, slow_fen, night_fen, total)


def authorisation_for(quoted_fen: int) -> int:
    """Return the amount to hold on the rider's card for a quoted fare."""
    return quoted_fen * (100 + AUTHORISATION_MARGIN_PERCENT) // 100


def cancellation_terms(fee_below_eta_s: int, language: str) -> RideCancellationTerms:
    """Return what cancelling costs: nothing until the car is `fee_below_eta_s` away, then the fee."""
    near = timedelta(seconds=fee_below_eta_s)
    fee = f"¥{CANCELLATION_FEE_FEN / 100:.2f}"
    return RideCancellationTerms(
        free_until_pickup_eta_s=fee_below_eta_s, fee=Money(amount=CANCELLATION_FEE_FEN),
        summary=pick(f"车辆距您{duration_text(near, 'zh-CN')}以上时可免费取消，之后取消收取 {fee}。",
                     f"Free to cancel until the car is {duration_text(near, 'en')} away; after that {fee}.",
                     language))


def booked_cancellation_terms(pickup_at: datetime, fee_below_eta_s: int, language: str) -> RideCancellationTerms:
    """Return what cancelling a ride booked ahead costs: nothing until FREE_CANCEL_BEFORE its pickup, then the fee."""
    free_until = pickup_at - FREE_CANCEL_BEFORE
    fee = f"¥{CANCELLATION_FEE_FEN / 100:.2f}"
    local = free_until.astimezone(SHANGHAI)
    return RideCancellationTerms(
        free_until_pickup_eta_s=fee_below_eta_s, fee=Money(amount=CANCELLATION_FEE_FEN), free_until=free_until,
        summary=pick(f"{local:%m月%d日 %H:%M}前可免费取消，之后取消收取 {fee}。",
                     f"Free to cancel until {local:%d %b %H:%M}; after that {fee}.", language))
