"""Worker -> team ids, cached in process so that NextTask is Redis only.

Under many workers a plain TTL cache makes every worker miss at about the same moment (they all started
together), and the misses queue on the database pool: seconds of NextTask tail latency. So an expired entry
is served while one background refresh runs, and concurrent misses are loaded with one query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from quorum_common.logging import get_logger

log = get_logger(__name__)

Loader = Callable[[Sequence[str]], Awaitable[dict[str, tuple[str, ...]]]]
_MAX_ENTRIES = 200_000


class WorkerTeamsCache:
    def __init__(self, load_many: Loader, ttl_s: float) -> None:
        self._load_many = load_many
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._pending: dict[str, asyncio.Future[tuple[str, ...] | None]] = {}
        self._queued: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, worker_id: str) -> tuple[str, ...] | None:
        """The worker's teams, or None when there is no such worker."""
        entry = self._entries.get(worker_id)
        if entry is not None:
            if entry[0] <= time.monotonic() and worker_id not in self._pending:
                self._request(worker_id)  # refresh in the background; the stale value is good meanwhile
            return entry[1]
        future = self._pending.get(worker_id) or self._request(worker_id)
        return await asyncio.shield(future)

    def _request(self, worker_id: str) -> asyncio.Future[tuple[str, ...] | None]:
        future: asyncio.Future[tuple[str, ...] | None] = asyncio.get_running_loop().create_future()
        self._pending[worker_id] = future
        self._queued.append(worker_id)
        if len(self._queued) == 1:
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _flush(self) -> None:
        await asyncio.sleep(0.002)  # let the rest of a burst join this query
        ids, self._queued = self._queued, []
        try:
            found = await self._load_many(ids)
        except Exception as err:
            log.warning("worker_teams_load_failed", workers=len(ids), error=str(err))
            for worker_id in ids:
                future = self._pending.pop(worker_id)
                if not future.done():
                    future.set_exception(err)
                future.exception()  # retrieved: a stale entry's refresh has no waiter
            return
        if len(self._entries) > _MAX_ENTRIES:
            self._entries.clear()
        expires = time.monotonic() + self._ttl_s
        for worker_id in ids:
            teams = found.get(worker_id)
            if teams is not None:
                self._entries[worker_id] = (expires, teams)
            else:
                self._entries.pop(worker_id, None)
            future = self._pending.pop(worker_id)
            if not future.done():
                future.set_result(teams)
