"""The demo's sites and their resources as plain data, generated the same way on every run."""
import math
import random
from dataclasses import dataclass, field

from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon

from backend.geography import DISTRICT_NAMES, NEIGHBOURHOODS, SERVICE_AREAS, district_at, in_water
from backend.seed import catalogue

_SEED = 2026
_SCATTER_M = 600
_ALL_WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass
class PlannedSite:
    kind: str
    organisation: str
    district: str
    name_zh: str
    name_en: str
    lat: float
    lon: float
    resources: list[dict] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, str]:
        zh, en = DISTRICT_NAMES[self.district]
        return f"重庆市{zh}{self.name_zh}", f"{self.name_en}, {en}, Chongqing"

    @property
    def opening_hours(self) -> dict:
        if self.kind in ("dealer", "proving_ground", "venue"):
            return {day: [["09:00", "21:00"]] for day in _ALL_WEEK}
        return {day: [["00:00", "24:00"]] for day in _ALL_WEEK}


def _scatter(rng: random.Random, district: str, lat: float, lon: float) -> tuple[float, float]:
    """Return a point near a neighbourhood centre, on land and inside the district."""
    for _ in range(200):
        radius, angle = _SCATTER_M * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        p_lat = lat + radius * math.cos(angle) / 110_574
        p_lon = lon + radius * math.sin(angle) / (111_320 * math.cos(math.radians(lat)))
        if district_at(p_lat, p_lon) == district and not in_water(p_lat, p_lon):
            return round(p_lat, 6), round(p_lon, 6)
    raise ValueError(f"no land near {lat},{lon} in {district}")


def _resource(kind: str, name_zh: str, name_en: str, capacity: int = 1, **attributes) -> dict:
    return {"kind": kind, "name_zh": name_zh, "name_en": name_en, "capacity": capacity,
            "attributes": attributes}


def _chargers(rng: random.Random) -> list[dict]:
    """Mix 800 V liquid-cooled superchargers with 120 kW 400 V DC posts."""
    fast = [_resource("charger", f"{n}号超充桩", f"Supercharger {n}", power_kw=rng.choice([360, 480]),
                      connector="GB/T DC", voltage_class=800, service_fee_fen_per_kwh=80)
            for n in range(1, rng.randint(1, 3) + 1)]
    start = len(fast) + 1
    dc = [_resource("charger", f"{n}号快充桩", f"DC charger {n}", power_kw=120, connector="GB/T DC",
                    voltage_class=400, service_fee_fen_per_kwh=60)
          for n in range(start, start + rng.randint(2, 4))]
    return fast + dc


def _resources_for(kind: str, rng: random.Random, organisation: str) -> list[dict]:
    """Return the bookable resources a site of this kind offers."""
    if kind == "charging_station":
        return _chargers(rng)
    if kind == "swap_station":
        models = (["choco-swap-25"] if organisation == "evogo-cq" else ["nio-75kwh", "nio-100kwh"])
        return [_resource("swap_lane", f"{n}号换电道", f"Swap lane {n}", battery_models=models,
                          price_fen=8000) for n in (1, 2)]
    if kind == "hydrogen_station":
        return [_resource("h2_dispenser", f"{mpa}MPa 加氢机", f"{mpa} MPa dispenser", pressure_mpa=mpa,
                          price_fen_per_kg=3500) for mpa in (35, 70)]
    if kind == "dealer":
        makers = ("Changan", "Avatr") if organisation == "changan-retail" else ("Seres",)
        cars = [c for c in catalogue.CAR_MODELS if c[3] in makers]
        return [_resource("test_drive_car", f"试驾车 {c[1]}", f"Test drive: {c[2]}", car_model=c[0],
                          price_fen=0) for c in rng.sample(cars, min(3, len(cars)))]
    if kind == "parking_garage":
        return [_resource("parking_bay", "自动代客泊车位", "Automated valet bays", capacity=rng.choice([10, 20, 40]),
                          automated_valet=True, price_fen_per_hour=800)]
    raise ValueError(f"no generated resources for {kind}")


# What the landmark venues and proving grounds offer.
LANDMARK_OFFERS = {
    "track_day": lambda: [_resource("track_session", "赛道体验场次", "Track day session", capacity=30,
                                    price_fen=59900)],
    "proving_session": lambda: [_resource("track_session", "试验场体验场次", "Proving ground session",
                                          capacity=20, price_fen=29900)],
    "venue_parking": lambda: [_resource("parking_bay", "场馆自动代客泊车", "Venue automated valet",
                                        capacity=100, automated_valet=True,
                                        price_fen_per_hour=1000)],
}


def _landmarks() -> list[PlannedSite]:
    return [PlannedSite(kind, org, district, zh, en, lat, lon, LANDMARK_OFFERS[offer]())
            for kind, org, district, zh, en, lat, lon, offer in catalogue.LANDMARKS]


def _hydrogen(rng: random.Random) -> list[PlannedSite]:
    sites = []
    for district, place in catalogue.HYDROGEN_STOPS:
        zh, en, lat, lon = next(n for n in NEIGHBOURHOODS[district] if n[0] == place)
        p_lat, p_lon = _scatter(rng, district, lat, lon)
        label_zh, label_en = catalogue.SITE_LABEL["hydrogen_station"]
        sites.append(PlannedSite("hydrogen_station", "sinopec-h2-cq", district,
                                 f"中国石化{zh}{label_zh}", f"Sinopec {en} {label_en}", p_lat, p_lon))
    return sites


def _district_sites(rng: random.Random, district: str, count: int) -> list[PlannedSite]:
    sites = []
    for n in range(count):
        kind = catalogue.KIND_CYCLE[(n + len(district)) % len(catalogue.KIND_CYCLE)]
        zh, en, lat, lon = NEIGHBOURHOODS[district][n % len(NEIGHBOURHOODS[district])]
        org = catalogue.OPERATOR_OF_KIND[kind][n % len(catalogue.OPERATOR_OF_KIND[kind])]
        org_zh = next(o[1] for o in catalogue.ORGANISATIONS if o[0] == org)
        org_en = next(o[2] for o in catalogue.ORGANISATIONS if o[0] == org)
        label_zh, label_en = catalogue.SITE_LABEL[kind]
        number = n // len(NEIGHBOURHOODS[district]) + 1
        p_lat, p_lon = _scatter(rng, district, lat, lon)
        sites.append(PlannedSite(kind, org, district, f"{org_zh}{zh}{label_zh}{number}号",
                                 f"{org_en} {en} {label_en} {number}", p_lat, p_lon))
    return sites


def demo_sites() -> list[PlannedSite]:
    """Return every demo site with its resources; the same list on every call."""
    rng = random.Random(_SEED)
    sites = _landmarks() + _hydrogen(rng)
    for district, count in catalogue.SITES_PER_DISTRICT.items():
        sites.extend(_district_sites(rng, district, count))
    for site in sites:
        site.resources = site.resources or _resources_for(site.kind, rng, site.organisation)
    return sites


def demo_vehicles(per_region: dict[str, int] | None = None) -> list[tuple[str, str, float, float, int, float]]:
    """Return (plate, region, lat, lon, seats, soc) of the demo robotaxis, inside their service areas.

    Batteries range from just above the charging threshold to full, so the demo shows vehicles
    leaving service to charge after a ride or two.
    """
    rng = random.Random(_SEED + 1)
    per_region = per_region or {"liangjiang": 30, "yongchuan": 12}
    found = []
    for slug, _, _, region, ring in SERVICE_AREAS:
        area = Polygon(ring)
        (west, south, east, north), n = area.bounds, 0
        while n < per_region.get(region, 0):
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            if area.contains(ShapelyPoint(lon, lat)) and not in_water(lat, lon):
                n += 1
                found.append((f"渝A·{slug[0].upper()}{n:04d}", region, round(lat, 6), round(lon, 6),
                              rng.choice([4, 4, 6]), round(rng.uniform(22, 95), 1)))
    return found
