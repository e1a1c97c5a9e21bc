"""The worker's parent-state cache: least recently used tasks go first, the budget holds."""

from __future__ import annotations

from flowspin.spin.state import LoadedParent, StateCache


def loaded(name: str, nbytes: int) -> LoadedParent:
    return LoadedParent(name, "metaflow", "s", {"x": 1}, {"x": ("mf", name)}, {}, nbytes=nbytes)


def test_lru_eviction_under_budget(tmp_path):
    cache = StateCache(budget_bytes=250, store=None)
    for name in ("a", "b", "c"):
        cache._items[f"metaflow:{name}"] = loaded(name, 100)
        cache._items.move_to_end(f"metaflow:{name}")
        cache._evict(keep=f"metaflow:{name}")
    assert list(cache._items) == ["metaflow:b", "metaflow:c"]
    cache._items.move_to_end("metaflow:b")  # b used again
    cache._items["metaflow:d"] = loaded("d", 100)
    cache._evict(keep="metaflow:d")
    assert list(cache._items) == ["metaflow:b", "metaflow:d"]
    # A single state larger than the budget is still kept: the spin needs it.
    cache._items["metaflow:huge"] = loaded("huge", 1000)
    cache._evict(keep="metaflow:huge")
    assert list(cache._items) == ["metaflow:huge"]
    assert cache.stats() == {"entries": 1, "bytes": 1000}
