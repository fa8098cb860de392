"""The bounded cache that tokens and nearby availability keep per process."""
from concurrent.futures import ThreadPoolExecutor

from backend.bounded import BoundedCache


def test_a_full_cache_is_emptied_before_it_stores_more():
    cache: BoundedCache[str] = BoundedCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert (cache.get("a"), cache.get("b")) == ("A", "B")
    assert cache.put("c", "C") == "C"
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, "C")


def test_threads_sharing_a_cache_read_an_entry_or_nothing_and_keep_it_bounded():
    cache: BoundedCache[int] = BoundedCache(16)
    wrong, largest = [], []

    def churn(thread: int) -> None:
        for n in range(20_000):
            key = (thread * n) % 97
            found = cache.get(key)
            if found is not None and found != key * 2:
                wrong.append((key, found))
            cache.put(key, key * 2)
            largest.append(len(cache._entries))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(churn, range(8)))
    assert not wrong
    assert max(largest) <= 16 + 8
