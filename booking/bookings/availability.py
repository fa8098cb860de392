"""Free slots per resource, for one site or for every nearby site, in a bounded number of queries."""
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, lru_cache
from typing import TypeVar

from sqlalchemy import bindparam
from sqlmodel import Session, SQLModel, select

from backend.bounded import BoundedCache
from backend.db import reads_on_their_own
from backend.exceptions import Invalid, NotFound
from backend.geo import haversine_m, lat_lon
from booking.bookings import rules, slots
from booking.bookings.models import CancellationTerms
from booking.bookings.policy import terms
from booking.bookings.rules import CITY_TZ
from booking.bookings.slot_cache import ENTRY_TTL_S, CatalogueMoved, Entry, SlotCache
from booking.bookings.slot_cache import touch as touch  # the hook other writers call
from booking.chargers.live import live_statuses
from booking.chargers.models import DOWN, LiveStatus
from booking.sites import attributes
from booking.sites.models import Resource, ResourcePublic, Site, SitePublic
from booking.sites.services import nearby_sites, resource_public, site_public

MAX_WINDOW = timedelta(days=7)
SLOTS_PER_RESOURCE_NEARBY = 4
# Nearby searches share their candidate sites per cell of 0.01 degree (about 1.1 x 1 km here):
# the cell's search reaches half a diagonal further, so it holds the sites of any point in it.
CELL_DEGREES = 0.01
CELL_HALF_DIAGONAL_M = 800
CANDIDATE_SITES = 200
CANDIDATE_CACHE_SIZE = 4096
DESCRIPTIONS = 8192  # sites and resources, per language
CATALOGUE_RETRIES = 3
CACHED_SLOTS = 8192


class Slot(SQLModel):
    """A free window of a resource."""

    start: datetime
    end: datetime
    remaining: int


class ResourceSlots(SQLModel):
    """A resource with its free slots."""

    resource: ResourcePublic
    slots: list[Slot]
    live_status: LiveStatus | None = None  # chargers on the line: what the charger reports now
    cancellation: CancellationTerms


class SiteAvailability(SQLModel):
    """A site with the free slots of its matching resources."""

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
        a = attributes.usable(resource.kind, resource.attributes)
        return (a is not None and (self.resource_kind is None or resource.kind == self.resource_kind)
                and (self.min_power_kw is None or a.get("power_kw", 0) >= self.min_power_kw)
                and (self.connector is None or a.get("connector") == self.connector)
                and (self.voltage_class is None or a.get("voltage_class") == self.voltage_class)
                and (self.battery_model is None or self.battery_model in a.get("battery_models", []))
                and (self.car_model is None or a.get("car_model") == self.car_model))


@cache
def _terms(kind: str, language: str) -> CancellationTerms:
    """Return a kind's cancellation terms in a language, worked out once: the rules are the code's."""
    return terms(kind, language)  # one object shared by every answer, which only serialise it


def check_range(start: datetime, end: datetime) -> None:
    """Refuse an empty, reversed or over-long availability window."""
    if end <= start:
        raise Invalid("end_before_start", "`to` must be after `from`.")
    if end - start > MAX_WINDOW:
        raise Invalid("window_too_long", "Ask for at most {days} days at a time.",
                       params={"days": MAX_WINDOW.days})


def _grid_starts(rule: rules.KindRule, start: datetime, end: datetime):
    """Yield the slot starts of the kind's grid inside [start, end), in local days."""
    moment = _grid_start(start, rule.step, after=True)
    while moment < end:
        yield moment
        moment += rule.step


@dataclass(frozen=True)
class Window:
    """The window a search asks about."""
    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> "Window":
        check_range(start, end)
        return cls(start, end)

    def on_grid(self, rule: rules.KindRule) -> "Window":
        """Return the window widened to the kind's slot grid: searches within one step share their cached slots."""
        return Window(_grid_start(self.start, rule.step, after=False), _grid_start(self.end, rule.step, after=True))

    @property
    def key(self) -> str:
        return f"{int(self.start.timestamp())}-{int(self.end.timestamp())}"


def _grid_start(moment: datetime, step: timedelta, *, after: bool) -> datetime:
    """Return the grid start (steps from local midnight) nearest `moment`: not before it, or not after it."""
    midnight = moment.astimezone(CITY_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    steps = -(-(moment - midnight) // step) if after else (moment - midnight) // step
    return midnight + steps * step


def free_slots(resource: Resource, opening_hours: dict, used: slots.Occupancy, *, window: Window,
               now: datetime, limit: int | None = None) -> list[Slot]:
    """Return the single-slot windows of a resource that can still be booked."""
    rule = rules.rule_for(resource.kind)
    length = timedelta(minutes=rule.slot_minutes)
    earliest, latest = now + rule.min_notice, now + rule.max_ahead
    found: list[Slot] = []
    for begins in _grid_starts(rule, max(window.start, earliest), window.end):
        ends = begins + length
        if begins > latest or (limit is not None and len(found) >= limit):
            break
        blocked = ends + timedelta(minutes=rule.buffer_minutes)
        if not rules.within_opening_hours(opening_hours, begins, ends) or \
                slots.overlaps_outage(used.outages, begins, blocked):
            continue
        remaining = resource.capacity - slots.peak_usage(used.bookings, begins, blocked)
        if remaining > 0:
            found.append(Slot(start=begins, end=ends, remaining=remaining))
    return found


def _serving(session: Session, resources: list[Resource], now: datetime) -> tuple[list[Resource], dict]:
    """Drop chargers that report a fault or went offline; return the rest and their live statuses."""
    chargers = [r.id for r in resources if r.kind == "charger"]
    live = live_statuses(reads_on_their_own(session), resource_ids=chargers, now=now)
    return [r for r in resources if live.get(r.id) not in DOWN], live


def _occupancy(session: Session, resources: list[Resource], *, window: Window,
               now: datetime) -> dict[int, slots.Occupancy]:
    """Return what occupies each resource over the window (one query)."""
    # An hour past the window covers the turnaround of a slot that starts near its end.
    return slots.occupancy(reads_on_their_own(session), resource_ids=[r.id for r in resources], start=window.start,
                           end=window.end + timedelta(hours=1), now=now)


def site_availability(session: Session, *, site_id: int, start: datetime, end: datetime,
                      wanted: ResourceFilter, now: datetime, language: str) -> SiteAvailability:
    """Return every matching resource of a site with its free slots in the window."""
    window, cache = Window.of(start, end), SlotCache.open(session)
    return _under_catalogue(cache, lambda: _site_offers(session, cache, site_id, wanted, window=window, now=now,
                                                        language=language))


def _site_offers(session: Session, cache: SlotCache, site_id: int, wanted: ResourceFilter, *, window: Window,
                 now: datetime, language: str) -> SiteAvailability:
    """Return the site's resources with their live status and free slots, read under the cache's token."""

    def load():
        with _apart(session) as apart:
            return _candidates_from(apart, apart.exec(select(Site).where(Site.id == site_id, Site.published)).all(),
                                    wanted)
    found = _kept(session, cache, ("site", site_id, wanted), load)
    if not found:
        raise NotFound("site_not_found", "No such site.")
    candidate = found[0]
    resources, live = _serving(session, list(candidate.resources), now)
    free = _slots_of(session, cache, [(r, candidate.site.opening_hours) for r in resources], window=window,
                     now=now, limit=None)
    site, public = candidate.view(language, cache)
    # Built from parts already checked when described, computed or cached: no validation needed.
    return SiteAvailability.model_construct(site=site, resources=[
        ResourceSlots.model_construct(resource=public[r.id], live_status=live.get(r.id),
                                      cancellation=_terms(r.kind, language), slots=free[r.id]) for r in resources])


@dataclass(frozen=True)
class Area:
    """Where a search looks: a point, a radius and the kind of site."""
    lat: float
    lon: float
    radius_m: float
    site_kind: str | None = None

    def cell(self) -> "Area":
        """Return the search from the centre of the point's cell, wide enough for any point in it."""
        return Area(round(self.lat / CELL_DEGREES) * CELL_DEGREES, round(self.lon / CELL_DEGREES) * CELL_DEGREES,
                    self.radius_m * 1.01 + CELL_HALF_DIAGONAL_M, self.site_kind)


@dataclass(frozen=True)
class Candidate:
    """A site a search may offer, with its matching resources: what slots are computed from."""
    site: Site
    lat: float
    lon: float
    resources: tuple[Resource, ...]
    views: dict = field(default_factory=dict, compare=False)  # language -> public site and resources

    def view(self, language: str, cache: SlotCache) -> tuple[SitePublic, dict[int, ResourcePublic]]:
        """Return the site and its resources as the API shows them in a language, described once."""
        if language not in self.views:
            self.views[language] = (_described(self.site, language, cache, site_public),
                                    {r.id: _described(r, language, cache, resource_public) for r in self.resources})
        return self.views[language]


_candidates_cache: BoundedCache[list[Candidate]] = BoundedCache(CANDIDATE_CACHE_SIZE)
_descriptions: BoundedCache = BoundedCache(DESCRIPTIONS)
Shown = TypeVar("Shown", SitePublic, ResourcePublic)


def _described(row: Site | Resource, language: str, cache: SlotCache, describe: Callable[..., Shown]) -> Shown:
    """Describe a site or resource in a language once per catalogue token: neighbouring cells share most sites."""
    if cache.catalogue is None:  # no token to know the row by: described afresh
        return describe(row, language=language)
    # Under one token every read of a row is the same row: a change replaces the token.
    key = (cache.client, cache.catalogue, type(row), row.id, language)
    return _descriptions.get(key) or _descriptions.put(key, describe(row, language=language))


@contextmanager
def _apart(session: Session) -> Iterator[Session]:
    """Yield a session on the caller's transaction whose rows belong to no session once the block ends.

    Candidates are shared read-only between requests and threads: rows read apart need no copy (a
    copy of a table row cost about 50 us, most of a cold search), and each load reads them afresh.
    """
    apart = Session(bind=reads_on_their_own(session).connection())
    try:
        yield apart
    finally:
        apart.close()  # detaches every row read, with its columns loaded


def _kept(session: Session, cache: SlotCache, key, load) -> list[Candidate]:
    """Return the candidates `load` reads for a key, kept per catalogue token (confirmed before reading)."""
    found = _candidates_cache.get((session.get_bind(), cache.catalogue, key))
    if found is None:
        cache.confirm()  # before going to the database: the token assumed may be stale
        found = _candidates_cache.get((session.get_bind(), cache.catalogue, key))
    if found is not None:
        return found
    found = load()
    if cache.catalogue is not None:
        _candidates_cache.put((session.get_bind(), cache.catalogue, key), found)
    return found


def _candidates_from(session: Session, sites: Sequence[Site], wanted: ResourceFilter) -> list[Candidate]:
    """Return the sites, in their order, each with its matching active resources (one query)."""
    params = {"site_ids": [site.id for site in sites], "kind": wanted.resource_kind}
    by_site = defaultdict(list)
    for resource in session.exec(_resources_of(bool(wanted.resource_kind)), params=params).all() if sites else []:
        if wanted.accepts(resource):
            by_site[resource.site_id].append(resource)
    return [Candidate(site, *lat_lon(site.location), tuple(by_site[site.id])) for site in sites]


@lru_cache
def _resources_of(of_kind: bool):
    """Build, once with the kind and once without, the query of the active resources of some sites."""
    query = select(Resource).where(Resource.site_id.in_(bindparam("site_ids", expanding=True)), Resource.active)
    if of_kind:  # the cheap part of the filter in SQL, attributes in Python
        query = query.where(Resource.kind == bindparam("kind"))
    return query.order_by(Resource.id)


def _candidates(session: Session, area: Area, wanted: ResourceFilter, cache: SlotCache) -> list[Candidate]:
    """Return the sites with matching resources around the area's cell, kept per catalogue token."""
    cell = area.cell()

    def load():
        with _apart(session) as apart:
            nearby = nearby_sites(apart, lat=cell.lat, lon=cell.lon, radius_m=cell.radius_m, kind=area.site_kind,
                                  limit=CANDIDATE_SITES, offset=0, resource_kind=wanted.resource_kind)
            return [c for c in _candidates_from(apart, [site for site, _ in nearby], wanted) if c.resources]
    return _kept(session, cache, (cell, wanted), load)


def _slots_of(session: Session, cache: SlotCache, resources: list[tuple[Resource, dict]], *,
              window: Window, now: datetime, limit: int | None) -> dict[int, list[Slot]]:
    """Return the first `limit` free slots of each resource (all with None): cached where current,
    else from one occupancy query.

    Raises CatalogueMoved when sites or resources changed since the token the caller read under.
    """
    kinds = {r.kind for r, _ in resources}
    by_kind = {kind: _Span.of(window, rules.rule_for(kind), limit=limit, now=now) for kind in kinds}
    spans = {r.id: by_kind[r.kind] for r, _ in resources}
    cached = cache.read({rid: span.key for rid, span in spans.items()}, now=now.timestamp())
    missing = [(r, hours) for r, hours in resources if r.id not in cached]
    used = _occupancy(session, [r for r, _ in missing], window=_widest([spans[r.id].window for r, _ in missing]),
                      now=now) if missing else {}
    computed = {r.id: _entry(r, hours, used.get(r.id, slots.Occupancy()), spans[r.id], now) for r, hours in missing}
    cache.write({rid: (spans[rid].key, entry) for rid, entry in computed.items()})
    return {rid: [_cached_slot(*slot) for slot in entry.slots if spans[rid].low <= slot[0] < spans[rid].high][:limit]
            for rid, entry in (cached | computed).items()}


@dataclass(frozen=True)
class _Span:
    """A resource's part in a search: the window its cached entry covers, and which of its slots are asked for."""
    window: Window  # the asked window widened to the kind's grid: searches within a step share the entry
    keep: int | None  # slots the entry keeps: those asked for, and those that may fall before the asked start
    low: float  # the first start on offer: the asked start, or the end of the notice period
    high: float  # the asked end: slots start before it
    key: str  # the entry's name

    @classmethod
    def of(cls, asked: Window, rule: rules.KindRule, *, limit: int | None, now: datetime) -> "_Span":
        # Before the asked start lies at most one grid start of the widened window, and while the
        # entry lives the notice period passes over at most ENTRY_TTL_S / step (rounded up) more.
        spare = 1 + -(-ENTRY_TTL_S // int(rule.step.total_seconds()))
        window, keep = asked.on_grid(rule), None if limit is None else limit + spare
        return cls(window, keep, max(asked.start, now + rule.min_notice).timestamp(), asked.end.timestamp(),
                   f"{window.key}:{keep or 'all'}")


def _widest(windows: list[Window]) -> Window:
    """Return the window that covers them all: one occupancy query serves every resource."""
    return Window(min(w.start for w in windows), max(w.end for w in windows))


def _entry(resource: Resource, opening_hours: dict, used: slots.Occupancy, span: _Span, now: datetime) -> Entry:
    """Work out a resource's cache entry: its free slots in the span, valid until a hold among them lapses."""
    found = free_slots(resource, opening_hours, used, window=span.window, now=now, limit=span.keep)
    return Entry([(s.start.timestamp(), s.end.timestamp(), s.remaining) for s in found],
                 used.lapses_at.timestamp() if used.lapses_at else None)


@lru_cache(maxsize=CACHED_SLOTS)
def _cached_slot(start: float, end: float, remaining: int) -> Slot:
    """Return the slot a cache entry names, built once per process: the searches of a hotspot repeat them."""
    # Written by us: trusted. Shared between answers and threads, which only read it.
    return Slot.model_construct(start=datetime.fromtimestamp(start, CITY_TZ), end=datetime.fromtimestamp(end, CITY_TZ),
                                remaining=remaining)


def nearby_availability(session: Session, *, lat: float, lon: float, radius_m: float,
                        site_kind: str | None, wanted: ResourceFilter, start: datetime,
                        end: datetime, now: datetime, limit: int, language: str) -> list[SiteAvailability]:
    """Return nearby sites with a free matching slot in the window, nearest first."""
    window, cache, area = Window.of(start, end), SlotCache.open(session), Area(lat, lon, radius_m, site_kind)
    return _under_catalogue(cache, lambda: _offers(session, cache, area, wanted, window=window, now=now,
                                                   limit=limit, language=language))


def _under_catalogue(cache: SlotCache, answer):
    """Return answer(), read again under the new token when sites or resources changed meanwhile."""
    for _ in range(CATALOGUE_RETRIES):
        try:
            return answer()
        except CatalogueMoved:
            continue
    cache.bypass()  # the catalogue keeps moving: answer from the database alone
    return answer()


def _offers(session: Session, cache: SlotCache, area: Area, wanted: ResourceFilter, *, window: Window,
            now: datetime, limit: int, language: str) -> list[SiteAvailability]:
    """Return the nearest sites with a free slot, from candidates and slots read under the cache's token."""
    by_distance = sorted((haversine_m(area.lat, area.lon, c.lat, c.lon), c.site.id, c)
                         for c in _candidates(session, area, wanted, cache))
    ranked = [(distance, c) for distance, _, c in by_distance if distance <= area.radius_m]
    answer: list[SiteAvailability] = []
    # Slots are worked out for the nearest sites the answer still needs, a batch at a time.
    while ranked and len(answer) < limit:
        batch, ranked = ranked[:limit - len(answer)], ranked[limit - len(answer):]
        # A charger that faults or goes offline is out of service through an outage, which the
        # cache hears of at once; its live status itself is shown on the site's own page.
        free = _slots_of(session, cache, [(r, c.site.opening_hours) for _, c in batch for r in c.resources],
                         window=window, now=now, limit=SLOTS_PER_RESOURCE_NEARBY)
        for distance, c in batch:
            site, resources = c.view(language, cache)
            offers = [ResourceSlots.model_construct(resource=resources[r.id], slots=free[r.id], live_status=None,
                                                    cancellation=_terms(r.kind, language))
                      for r in c.resources if free[r.id]]
            if offers:  # parts already checked: no validation needed
                answer.append(SiteAvailability.model_construct(
                    site=site.model_copy(update={"distance_m": round(distance, 1)}), resources=offers))
    return answer
