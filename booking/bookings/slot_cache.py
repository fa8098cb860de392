"""A short-lived shared cache of each resource's free slots, kept honest by per-resource versions.

Every committed change to a booking or an outage bumps its resource's version in Redis, and
every change to a site or resource replaces the catalogue token, right after the transaction
commits. A cached entry is served only while the version and token it was computed under are
current, and it is computed after they were read: a search never offers a slot as free once the
booking that took it is committed, except in the instant between that commit and the bump.
A hold lapsing frees its place without any write: an entry is served only until the first hold
it counted lapses. Entries live ENTRY_TTL_S, which bounds the one thing nothing announces, a crash
between a commit and its bump. While Redis is down every search is a miss.
"""
import json
import logging
import secrets
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import NamedTuple

import redis
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from booking.bookings.models import Booking, Outage
from booking.sites.models import Resource, Site

log = logging.getLogger(__name__)

ENTRY_TTL_S = 30
DECODED_ENTRIES = 4096
# One hash tag for every key: a search reads the token, versions and entries in one MGET and
# stores its entries in one script, which a Redis Cluster allows only within one slot.
CATALOGUE_KEY = "{availability}:catalogue"
_clients: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # engine -> Redis client
_writes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # Redis client -> its script storing entries
# KEYS: the entries; ARGV: their time to live, then their values. One command and one reply
# where a pipeline of SETs cost a third of a millisecond more for 40 entries.
_WRITE = """
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1]) end
return #KEYS
"""


def register(engine, client) -> None:
    """Let sessions bound to the engine read and bump the cache in this Redis."""
    _clients[engine] = client
    _writes[client] = client.register_script(_WRITE)


def _client(session: Session):
    return _clients.get(session.get_bind())


def _version_key(resource_id: int) -> str:
    return f"{{availability}}:version:{resource_id}"


def _entry_key(resource_id: int, key: str) -> str:
    return f"{{availability}}:slots:{resource_id}:{key}"


@lru_cache(maxsize=DECODED_ENTRIES)
def _decoded(entry: str) -> dict:
    """Return a cached entry parsed, once per process: the searches of a hotspot read the same entries."""
    return json.loads(entry)  # shared between searches and threads: read, never changed


class Entry(NamedTuple):
    """A resource's cached free slots (start, end, places left; epoch seconds) and until when they hold."""
    slots: list
    until: float | None  # when the first hold counted lapses


class CatalogueMoved(Exception):
    """A site or resource changed since this process last read the catalogue token."""


_last_token: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # Redis client -> catalogue token


class SlotCache:
    """One search's view of the cache: the catalogue token, then versions and entries per resource.

    The token this process saw last is assumed, and checked in the same round trip as the
    entries: a search costs one round trip to Redis unless the catalogue moved.
    """

    def __init__(self, client):
        self.client, self.catalogue, self.versions = client, None, {}

    @classmethod
    def open(cls, session: Session) -> "SlotCache":
        """Return the cache of the session's database, with the catalogue token last seen."""
        cache = cls(_client(session))
        if cache.client is not None:
            cache.catalogue = _last_token.get(cache.client) or cache._guard(cache._read_catalogue)
        return cache

    def confirm(self) -> None:
        """Read the catalogue token now instead of assuming the one last seen."""
        self.catalogue = self._guard(self._read_catalogue)

    def bypass(self) -> None:
        """Answer every read as a miss and write nothing, from now on."""
        self.client = self.catalogue = None

    def _guard(self, call, *args):
        """Run a Redis call; when Redis fails, log it and answer as a miss from then on."""
        if self.client is None:
            return None
        try:
            return call(*args)
        except redis.RedisError as exc:
            log.warning("availability cache skipped, Redis unavailable: %s", exc)
            self.bypass()
            return None

    def _read_catalogue(self) -> str:
        # A Redis that lost its data gets a new token, so nothing cached before stays valid.
        pipe = self.client.pipeline(transaction=False)
        pipe.set(CATALOGUE_KEY, secrets.token_hex(8), nx=True)
        pipe.get(CATALOGUE_KEY)
        _last_token[self.client] = token = pipe.execute()[1]
        return token

    def read(self, keys: dict[int, str], *, now: float) -> dict[int, Entry]:
        """Return the entries (resource id -> its entry's key) that are current at `now`; note every version.

        Raises CatalogueMoved (with the new token taken) when the assumed token was stale.
        """
        return self._guard(self._read, keys, now) or {}

    def _read(self, keys: dict[int, str], now: float) -> dict[int, Entry]:
        # A read only: the token is written (SET NX) only when it is missing, not on every search.
        # One MGET answers the token, the versions and the entries: cheaper than a command for each.
        token, *found = self.client.mget([CATALOGUE_KEY, *map(_version_key, keys),
                                          *(_entry_key(r, key) for r, key in keys.items())])
        if token is None:  # Redis lost its data: take a new token
            token = self._read_catalogue()
        if token != self.catalogue:
            _last_token[self.client] = self.catalogue = token
            raise CatalogueMoved(token)
        current = {}
        for resource_id, version, entry in zip(keys, found, found[len(keys):]):
            self.versions[resource_id] = version or "0"
            cached = _decoded(entry) if entry else None
            # An entry stored by a server from before `until` existed has none: it lives its TTL.
            if cached and cached["version"] == self.versions[resource_id] and cached["catalogue"] == self.catalogue \
                    and (cached.get("until") is None or now < cached["until"]):
                current[resource_id] = Entry(cached["slots"], cached.get("until"))
        return current

    def write(self, entries: dict[int, tuple[str, Entry]]) -> None:
        """Store entries (resource id -> the entry's key and the entry) computed after their versions were read."""
        if self.catalogue is not None and entries:
            self._guard(self._write, entries)

    def _write(self, entries: dict[int, tuple[str, Entry]]) -> None:
        values = [{"version": self.versions[r], "catalogue": self.catalogue, "slots": entry.slots, "until": entry.until}
                  for r, (_, entry) in entries.items()]
        _writes[self.client](keys=[_entry_key(r, key) for r, (key, _) in entries.items()],
                             args=[ENTRY_TTL_S, *map(json.dumps, values)])


@dataclass
class _Pending:
    resources: set = field(default_factory=set)
    catalogue: bool = False


def _pending(session: Session) -> _Pending:
    return session.info.setdefault("availability_pending", _Pending())


def touch(session: Session, resource_ids) -> None:
    """Make the next search recompute these resources' slots: once the session's transaction commits, or now.

    Writers that change what a resource can offer without going through the booking models
    (a charger's live status, for instance) call this.
    """
    _pending(session).resources.update(resource_ids)
    if not session.in_transaction():
        _bump(session)


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _flush_context) -> None:
    """Note the resources whose bookings or outages changed, and any change to the catalogue."""
    for instance in chain(session.new, session.dirty, session.deleted):
        if isinstance(instance, (Booking, Outage)):
            moved = inspect(instance).attrs.resource_id.history  # a rebooking frees the old resource
            _pending(session).resources.update(chain(moved.added, moved.unchanged, moved.deleted))
        elif isinstance(instance, (Site, Resource)):
            _pending(session).catalogue = True


@event.listens_for(Session, "after_commit")
def _bump(session: Session) -> None:
    """Bump the versions noted during the transaction that just committed."""
    pending, client = session.info.pop("availability_pending", None), _client(session)
    if not pending or client is None or not (pending.resources or pending.catalogue):
        return
    try:
        pipe = client.pipeline(transaction=False)
        for resource_id in pending.resources:
            pipe.incr(_version_key(resource_id))
        if pending.catalogue:
            pipe.set(CATALOGUE_KEY, secrets.token_hex(8))
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("availability versions not bumped, Redis unavailable: %s", exc)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    """Forget what a rolled-back transaction noted: none of it happened."""
    session.info.pop("availability_pending", None)
