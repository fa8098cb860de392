"""Time-of-use charging prices, slot rules and cancellation fees, without a database."""
from datetime import datetime, timedelta

import pytest

from backend.exceptions import Invalid
from booking.bookings import pricing, rules
from booking.bookings.models import Booking, BookingStatus
from booking.bookings.services import cancellation_fee

CQ = rules.CITY_TZ
ALL_DAY = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """Return a Chongqing local time on 2 Dec 2026 (a Wednesday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=CQ)


def test_period_boundaries():
    assert pricing.period_at(at(7, 59)) == "valley"
    assert pricing.period_at(at(8, 0)) == "flat"
    assert pricing.period_at(at(11, 0)) == "peak"
    assert pricing.period_at(at(21, 59)) == "peak"
    assert pricing.period_at(at(22, 0)) == "flat"


def test_energy_split_across_valley_and_flat():
    # 07:30-08:30: half the energy at the valley price, half at the flat price.
    bill = pricing.energy_cost(at(7, 30), at(8, 30), 40)
    assert bill["valley_kwh"] == 20 and bill["flat_kwh"] == 20
    assert bill["energy_fen"] == 20 * pricing.TOU_PRICES["valley"] + 20 * pricing.TOU_PRICES["flat"]


def test_energy_split_across_midnight():
    # 21:30-00:30: half an hour of peak, two hours of flat, half an hour of valley.
    bill = pricing.energy_cost(at(21, 30), at(0, 30, day=3), 30)
    assert (bill["peak_kwh"], bill["flat_kwh"], bill["valley_kwh"]) == (5, 20, 5)


def test_charging_bill_adds_service_and_idle_fee():
    attributes = {"power_kw": 480, "service_fee_fen_per_kwh": 80}
    bill = pricing.charging_price(attributes, at(12), at(12, 30), 50, unplugged_at=at(12, 55))
    assert bill["energy_fen"] == 50 * pricing.TOU_PRICES["peak"]
    assert bill["service_fen"] == 50 * 80
    assert bill["idle_minutes"] == 15 and bill["idle_fen"] == 15 * pricing.IDLE_FEE_FEN_PER_MIN
    assert bill["total_fen"] == bill["energy_fen"] + bill["service_fen"] + bill["idle_fen"]


def test_estimates_per_kind():
    assert pricing.estimate_price("swap_lane", {"price_fen": 8000}, at(9), at(9, 10), 1) == 8000
    assert pricing.estimate_price("h2_dispenser", {"pressure_mpa": 70, "price_fen_per_kg": 3500},
                                  at(9), at(9, 15), 1) == 5 * 3500
    assert pricing.estimate_price("parking_bay", {"price_fen_per_hour": 800}, at(9), at(12), 2) == 4800
    assert pricing.estimate_price("track_session", {"price_fen": 59900}, at(9), at(10), 3) == 3 * 59900
    assert pricing.estimate_price("test_drive_car", {"price_fen": 0}, at(9), at(9, 45), 1) == 0
    ceiling = pricing.authorisation_ceiling("charger", {"power_kw": 120}, at(9), at(9, 30))
    assert ceiling > pricing.estimate_price("charger", {"power_kw": 120}, at(9), at(9, 30), 1)


@pytest.mark.parametrize("start, end, code", [
    (at(10), at(9, 30), "end_before_start"),
    (at(10, 10), at(10, 40), "slot_not_on_grid"),
    (at(10), at(10, 20), "invalid_duration"),
    (at(10), at(13), "invalid_duration"),
    (at(8), at(8, 30), "in_the_past"),
    (at(9, 0), at(9, 30), "too_short_notice"),
    (at(10, day=20), at(10, 30, day=20), "beyond_booking_window"),
    (at(23, 30), at(0, 30, day=3), "outside_opening_hours"),
])
def test_window_rules(start, end, code):
    hours = {d: [["06:00", "23:00"]] for d in ALL_DAY}
    with pytest.raises(Invalid) as refused:
        rules.check_window(kind="charger", opening_hours=hours, start=start, end=end,
                           now=at(8, 58))
    assert refused.value.code == code


def test_test_drive_grid_includes_turnaround():
    rule = rules.rule_for("test_drive_car")
    assert rule.step == timedelta(hours=1)
    assert rules.blocked_until("test_drive_car", at(10, 45)) == at(11)
    rules.check_window(kind="test_drive_car", opening_hours=ALL_DAY, start=at(14), end=at(14, 45),
                       now=at(9))


def test_cancellation_fee_after_cut_off():
    booking = Booking(kind="charger", status=BookingStatus.confirmed, start_at=at(12),
                      end_at=at(12, 30), price_fen=4000)
    assert cancellation_fee(booking, at(11, 0)) == 0
    assert cancellation_fee(booking, at(11, 45)) == 4000 * 20 // 100
    booking.disrupted = True
    assert cancellation_fee(booking, at(11, 45)) == 0
