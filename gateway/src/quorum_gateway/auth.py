"""Token -> identity, with a small in-memory cache so a worker's next/submit loop costs one RPC, not two.

Only successful lookups are cached, keyed by the SHA-256 of the token (the raw token is never kept), for
`auth_cache_ttl_s`: a revoked token keeps working at most that long on this gateway.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RequesterIdentity:
    requester_id: str
    name: str


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    worker_id: str
    owner_id: str
    name: str
    team_ids: tuple[str, ...]


class TtlCache(Generic[T]):
    """A bounded LRU whose entries expire `ttl_s` after they were stored."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, key: str) -> T | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> None:
        if self.ttl_s <= 0:
            return
        self._data[key] = (time.monotonic() + self.ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def discard(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)


def token_key(kind: str, token: str) -> str:
    return kind + ":" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class AuthCache:
    """One bounded cache per identity kind."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.requesters: TtlCache[RequesterIdentity] = TtlCache(ttl_s, max_entries)
        self.workers: TtlCache[WorkerIdentity] = TtlCache(ttl_s, max_entries)
