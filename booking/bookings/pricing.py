"""Prices in fen: time-of-use charging, flat swaps, hydrogen per kg, sessions and parking per slot."""
from datetime import datetime, timedelta

from booking.bookings.rules import CITY_TZ
from booking.sites.models import ResourceKind

# Chongqing's commercial time-of-use periods (local time) and their energy prices, fen/kWh.
TOU_PRICES = {"valley": 36, "flat": 62, "peak": 95}
TOU_PERIODS = [(0, "valley"), (8 * 60, "flat"), (11 * 60, "peak"), (17 * 60, "flat"),
               (20 * 60, "peak"), (22 * 60, "flat")]
# An estimate assumes the charger delivers this share of its rated power on average.
CHARGE_LOAD_FACTOR = 0.6
MAX_SESSION_KWH = 100
IDLE_GRACE = timedelta(minutes=10)
IDLE_FEE_FEN_PER_MIN = 100
# Typical fill at each pressure: buses and trucks at 35 MPa, cars at 70 MPa.
TYPICAL_FILL_KG = {35: 20, 70: 5}


def period_at(moment: datetime) -> str:
    """Return the time-of-use period of a moment."""
    local = moment.astimezone(CITY_TZ)
    minute = local.hour * 60 + local.minute
    return [name for begins, name in TOU_PERIODS if begins <= minute][-1]


def _period_edges(start: datetime, end: datetime) -> list[datetime]:
    """Return start, every period boundary inside (start, end), and end."""
    edges = [start]
    day = start.astimezone(CITY_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        for begins, _ in TOU_PERIODS:
            edge = day + timedelta(minutes=begins)
            if start < edge < end:
                edges.append(edge)
        day += timedelta(days=1)  # Asia/Shanghai keeps no daylight saving
    return sorted(edges) + [end]


def energy_cost(start: datetime, end: datetime, energy_kwh: float) -> dict[str, float]:
    """Split energy delivered evenly over [start, end) into periods; return fen and kWh per period."""
    edges = _period_edges(start, end)
    seconds = (end - start).total_seconds()
    kwh = {name: 0.0 for name in TOU_PRICES}
    for left, right in zip(edges, edges[1:]):
        kwh[period_at(left)] += energy_kwh * (right - left).total_seconds() / seconds
    bill = {f"{period}_kwh": round(value, 3) for period, value in kwh.items()}
    bill["energy_fen"] = round(sum(kwh[p] * TOU_PRICES[p] for p in kwh))
    return bill


def estimate_price(kind: str, attributes: dict, start: datetime, end: datetime,
                   quantity: int) -> int:
    """Return the price quoted when booking: an estimate for energy, exact for the rest."""
    hours = (end - start).total_seconds() / 3600
    kind = ResourceKind(kind)
    if kind is ResourceKind.charger:
        kwh = min(attributes.get("power_kw", 60) * hours * CHARGE_LOAD_FACTOR, MAX_SESSION_KWH)
        return charging_price(attributes, start, end, kwh)["total_fen"]
    if kind is ResourceKind.h2_dispenser:
        kg = TYPICAL_FILL_KG.get(attributes.get("pressure_mpa", 0), 5)
        return kg * attributes.get("price_fen_per_kg", 3500)
    if kind is ResourceKind.parking_bay:
        return round(hours * attributes.get("price_fen_per_hour", 0)) * quantity
    return attributes.get("price_fen", 0) * quantity


def charging_price(attributes: dict, start: datetime, end: datetime, energy_kwh: float,
                   unplugged_at: datetime | None = None) -> dict:
    """Return the charging bill: energy by period, service fee and the idle fee after the slot."""
    bill = energy_cost(start, end, energy_kwh)
    bill["service_fen"] = round(energy_kwh * attributes.get("service_fee_fen_per_kwh", 60))
    idle = (unplugged_at - end - IDLE_GRACE) if unplugged_at else timedelta(0)
    bill["idle_minutes"] = max(0, int(idle.total_seconds() // 60))
    bill["idle_fen"] = bill["idle_minutes"] * IDLE_FEE_FEN_PER_MIN
    bill["total_fen"] = bill["energy_fen"] + bill["service_fen"] + bill["idle_fen"]
    return bill


def hydrogen_price(attributes: dict, kg: float) -> dict:
    """Return the hydrogen bill for the kilograms dispensed."""
    total = round(kg * attributes.get("price_fen_per_kg", 3500))
    return {"kg": kg, "total_fen": total}


def authorisation_ceiling(kind: str, attributes: dict, start: datetime, end: datetime) -> int:
    """Return the most a charge or a fill can cost, authorised up front and captured as settled."""
    if ResourceKind(kind) is ResourceKind.h2_dispenser:
        return 2 * estimate_price(kind, attributes, start, end, 1)
    hours = (end - start).total_seconds() / 3600
    kwh = min(attributes.get("power_kw", 60) * hours, MAX_SESSION_KWH)
    leave_by = end + IDLE_GRACE + timedelta(minutes=30)
    return charging_price(attributes, start, end, kwh, leave_by)["total_fen"]
