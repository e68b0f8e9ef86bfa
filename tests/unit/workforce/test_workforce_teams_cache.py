"""The in-process worker -> teams cache: one query per burst, stale values while refreshing."""

import asyncio
from collections.abc import Sequence

import pytest

from quorum_workforce.teams_cache import WorkerTeamsCache


class FakeLoader:
    def __init__(self, teams: dict[str, tuple[str, ...]]) -> None:
        self.teams = teams
        self.calls: list[list[str]] = []
        self.fail = False

    async def __call__(self, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        self.calls.append(list(ids))
        await asyncio.sleep(0.01)
        if self.fail:
            raise RuntimeError("database down")
        return {w: self.teams[w] for w in ids if w in self.teams}


async def test_a_burst_of_misses_is_one_query() -> None:
    loader = FakeLoader({f"w{i}": (f"t{i}",) for i in range(50)})
    cache = WorkerTeamsCache(loader, ttl_s=60)
    calls = [cache.get(f"w{i}") for i in range(50)]
    results = await asyncio.gather(*calls, cache.get("w1"), cache.get("nobody"))
    assert results[:50] == [(f"t{i}",) for i in range(50)]
    assert results[50] == ("t1",) and results[51] is None
    assert len(loader.calls) == 1
    assert sorted(loader.calls[0]) == sorted({*(f"w{i}" for i in range(50)), "nobody"})
    assert await cache.get("w3") == ("t3",)
    assert len(loader.calls) == 1  # cached


async def test_expired_entries_are_served_while_refreshing() -> None:
    loader = FakeLoader({"w": ("t1",)})
    cache = WorkerTeamsCache(loader, ttl_s=0)
    assert await cache.get("w") == ("t1",)
    loader.teams["w"] = ("t2",)
    assert await cache.get("w") == ("t1",)  # stale, refresh started
    assert await cache.get("w") == ("t1",)  # one refresh at a time
    await asyncio.sleep(0.05)
    assert await cache.get("w") == ("t2",)
    assert len(loader.calls) == 2


async def test_unknown_workers_are_not_cached_and_errors_reach_the_caller() -> None:
    loader = FakeLoader({})
    cache = WorkerTeamsCache(loader, ttl_s=60)
    assert await cache.get("w") is None
    loader.teams["w"] = ("t",)
    assert await cache.get("w") == ("t",)
    loader.fail = True
    with pytest.raises(RuntimeError):
        await cache.get("other")
    assert await cache.get("w") == ("t",)
