"""A per-process cache of at most so many entries, for values a key fully determines."""
from collections.abc import Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class BoundedCache(Generic[Value]):
    """A dict that is emptied when it is full, shared by a worker's threads without a lock.

    Each call is one operation on a dict, which the GIL keeps whole: a reader gets an entry or
    None, never half of one. Threads that race may store over each other, or empty the dict
    just after another stored: an entry is lost and computed again, the same for its key.
    The dict holds at most `size` entries plus one per thread storing at that instant.
    """

    def __init__(self, size: int):
        self.size = size
        self._entries: dict[Hashable, Value] = {}

    def get(self, key: Hashable) -> Value | None:
        """Return the entry of a key, or None."""
        # get(), not a test then a lookup: another thread may empty the dict in between.
        return self._entries.get(key)

    def put(self, key: Hashable, value: Value) -> Value:
        """Keep an entry, emptying the cache first when full; return the value."""
        if len(self._entries) >= self.size:
            self._entries.clear()  # cheaper than tracking use: the entries are each worth little
        self._entries[key] = value
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
