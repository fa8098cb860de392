"""Free slots per resource, for one site or for every nearby site, in a bounded number of queries."""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, SQLModel, select

from backend.errors import ApiError
from booking.bookings import rules, slots
from booking.bookings.rules import CITY_TZ
from booking.sites.models import Resource, ResourcePublic, Site, SitePublic
from booking.sites.services import nearby_sites, resource_public, site_public

MAX_WINDOW = timedelta(days=7)
SLOTS_PER_RESOURCE_NEARBY = 4


class Slot(SQLModel):
    start: datetime
    end: datetime
    remaining: int


class ResourceSlots(SQLModel):
    resource: ResourcePublic
    slots: list[Slot]


class SiteAvailability(SQLModel):
    site: SitePublic
    resources: list[ResourceSlots]


@dataclass(frozen=True)
class ResourceFilter:
    """What the caller needs from a resource; None means any."""
    resource_kind: str | None = None
    min_power_kw: float | None = None
    connector: str | None = None
    voltage_class: int | None = None
    battery_model: str | None = None
    car_model: str | None = None

    def accepts(self, resource: Resource) -> bool:
        a = resource.attributes
        return ((self.resource_kind is None or resource.kind == self.resource_kind)
                and (self.min_power_kw is None or a.get("power_kw", 0) >= self.min_power_kw)
                and (self.connector is None or a.get("connector") == self.connector)
                and (self.voltage_class is None or a.get("voltage_class") == self.voltage_class)
                and (self.battery_model is None or self.battery_model in a.get("battery_models", []))
                and (self.car_model is None or a.get("car_model") == self.car_model))


def check_range(start: datetime, end: datetime) -> None:
    """Refuse an empty, reversed or over-long availability window."""
    if end <= start:
        raise ApiError(422, "end_before_start", "`to` must be after `from`.")
    if end - start > MAX_WINDOW:
        raise ApiError(422, "window_too_long", f"Ask for at most {MAX_WINDOW.days} days at a time.")


def _grid_starts(rule: rules.KindRule, start: datetime, end: datetime):
    """Yield the slot starts of the kind's grid inside [start, end), in local days."""
    step = rule.step
    midnight = start.astimezone(CITY_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    moment = midnight + -(-(start - midnight) // step) * step  # the first grid start not before `start`
    while moment < end:
        yield moment
        moment += step


def free_slots(resource: Resource, site: Site, *, bookings, outages, start: datetime,
               end: datetime, now: datetime, limit: int | None = None) -> list[Slot]:
    """Return the single-slot windows of a resource that can still be booked."""
    rule = rules.rule_for(resource.kind)
    length = timedelta(minutes=rule.slot_minutes)
    earliest, latest = now + rule.min_notice, now + rule.max_ahead
    found = []
    for begins in _grid_starts(rule, max(start, earliest), end):
        ends = begins + length
        if begins > latest or (limit is not None and len(found) >= limit):
            break
        blocked = ends + timedelta(minutes=rule.buffer_minutes)
        if not rules.within_opening_hours(site.opening_hours, begins, ends) or \
                slots.overlaps_outage(outages, begins, blocked):
            continue
        remaining = resource.capacity - slots.peak_usage(bookings, begins, blocked)
        if remaining > 0:
            found.append(Slot(start=begins, end=ends, remaining=remaining))
    return found


def _occupancy(session: Session, resources: list[Resource], *, start: datetime, end: datetime,
               now: datetime) -> tuple[dict, dict]:
    """Return live bookings and outages of every resource over the window (two queries)."""
    ids = [r.id for r in resources]
    # An hour past the window covers the turnaround of a slot that starts near its end.
    until = end + timedelta(hours=1)
    return (slots.usage(session, resource_ids=ids, start=start, end=until, now=now),
            slots.outages(session, resource_ids=ids, start=start, end=until))


def site_availability(session: Session, *, site_id: int, start: datetime, end: datetime,
                      wanted: ResourceFilter, now: datetime) -> SiteAvailability:
    """Return every matching resource of a site with its free slots in the window."""
    check_range(start, end)
    site = session.get(Site, site_id)
    if site is None or not site.published:
        raise ApiError(404, "site_not_found", "No such site.")
    resources = [r for r in session.exec(select(Resource).where(
        Resource.site_id == site.id, Resource.active).order_by(Resource.id)).all() if wanted.accepts(r)]
    taken, down = _occupancy(session, resources, start=start, end=end, now=now)
    return SiteAvailability(site=site_public(site), resources=[
        ResourceSlots(resource=resource_public(r), slots=free_slots(
            r, site, bookings=taken.get(r.id, []), outages=down.get(r.id, []), start=start, end=end,
            now=now)) for r in resources])


def nearby_availability(session: Session, *, lat: float, lon: float, radius_m: float,
                        site_kind: str | None, wanted: ResourceFilter, start: datetime,
                        end: datetime, now: datetime, limit: int) -> list[SiteAvailability]:
    """Return nearby sites with a free matching slot in the window, nearest first (four queries)."""
    check_range(start, end)
    nearby = nearby_sites(session, lat=lat, lon=lon, radius_m=radius_m, kind=site_kind,
                          limit=200, offset=0, resource_kind=wanted.resource_kind)
    sites = {site.id: site for site, _ in nearby}
    query = select(Resource).where(Resource.site_id.in_(list(sites)), Resource.active)
    if wanted.resource_kind:  # the cheap part of the filter in SQL, attributes in Python
        query = query.where(Resource.kind == wanted.resource_kind)
    resources = [r for r in session.exec(query.order_by(Resource.id)).all() if wanted.accepts(r)] if sites else []
    taken, down = _occupancy(session, resources, start=start, end=end, now=now)
    by_site = {}
    for resource in resources:
        by_site.setdefault(resource.site_id, []).append(resource)
    answer = []
    # Slots are worked out site by site, nearest first, only until enough sites have one.
    for site, distance in nearby:
        offers = []
        for r in by_site.get(site.id, []):
            free = free_slots(r, site, bookings=taken.get(r.id, []), outages=down.get(r.id, []),
                              start=start, end=end, now=now, limit=SLOTS_PER_RESOURCE_NEARBY)
            if free:
                offers.append(ResourceSlots(resource=resource_public(r), slots=free))
        if offers:
            answer.append(SiteAvailability(site=site_public(site, distance), resources=offers))
        if len(answer) == limit:
            break
    return answer
