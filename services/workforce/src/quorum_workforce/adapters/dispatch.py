"""Dispatch state in Redis: a cache of PostgreSQL that makes NextTask one round trip.

Every change that must be atomic (claim, submit, release, finalize) is a Lua script in `lua/`, the mirror of
`core.dispatch`. Redis may lose everything (FLUSHDB, a restart without persistence): the `ready` sentinel then
disappears and the workforce service rebuilds each open job from PostgreSQL (answers and declines count;
leases in flight are lost and their objects go back to the pool).

Key layout (prefix P, default "qw:"; single Redis, not Cluster: scripts touch keys of many slots):
  P ready                       STRING  epoch token: gone when Redis lost its data (then every job is rebuilt)
  P t:<team>:jobs               ZSET    open jobs of a team, scored by open time (oldest served first)
  P j:<job>:m                   HASH    status, built, ep, n, ttl, team, name, type, cats (JSON), instr, ...
  P j:<job>:open                ZSET    objects with fewer takers than n, scored by object id (manifest order)
  P j:<job>:reopen              ZSET    objects that came back into `open` (below some workers' cursors)
  P j:<job>:cur                 HASH    worker -> highest object id its forward scan passed
  P j:<job>:src                 HASH    object id -> JSON [source, source_ref] (no DB read per task)
  P j:<job>:leases              SET     the job's live lease ids (active_leases, CloseJob)
  P j:<job>:o:<object>:w        SET     takers: workers that answered the object or hold a lease on it
  P j:<job>:o:<object>:d        SET     workers that declined the object
  P j:<job>:lock                STRING  rebuild lock (one rebuilder per job)
  Adaptive jobs only (meta ad=1, min = takers at once before dispatch waits, vw = verdict wait in ms; dw = the
  wait of objects with their own early stop, `rmin`, in any job):
  P j:<job>:closed              SET     labeled objects, never dispatched again (mirror of closed_objects)
  P j:<job>:fly                 HASH    object -> gated leases out (takers beyond min: one at a time)
  P j:<job>:hold                HASH    object -> epoch ms before which no further taker (set on answer;
                                        ended early by consolidation's AnswersWanted)
  P j:<job>:req                 HASH    object -> its own number of takers, all at once and never closed early
                                        (DataObject.required_answers: the automated-labeling loop's draws)
  P j:<job>:rmin                HASH    object -> its takers at once (DataObject.min_answers, with `req`):
                                        beyond them gated as an adaptive job's objects (fly, hold, closed),
                                        in any job
  P leases                      ZSET    lease id -> when the sweeper looks at it (expiry; later if submitting)
  P l:<lease>                   HASH    j, o, w, exp, acc, st (a|s|x|d|c, see core.dispatch.LeaseState), subs,
                                        g (1 while the lease counts in `fly`)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from quorum_workforce.core.dispatch import SubmitCheck
from quorum_workforce.core.jobs import JobSpec
from quorum_workforce.core.models import DataObject

_LUA = Path(__file__).parent / "lua"
_PIPELINE_CHUNK = 2000


@dataclass(frozen=True)
class Claim:
    """An object leased to a worker by next_task.lua."""

    lease_id: str
    job_id: str
    object_id: int
    expires_at_ms: int
    accepted_at_ms: int
    time_limit_s: int
    source: str
    source_ref: str
    has_source: bool
    job_name: str
    task_type: str
    categories: tuple[str, ...]
    instructions: str


@dataclass(frozen=True)
class SubmitTicket:
    """What begin_submit.lua found; job fields are empty when the job's meta is gone."""

    check: SubmitCheck
    job_id: str = ""
    object_id: int = 0
    accepted_at_ms: int = 0
    expires_at_ms: int = 0
    task_type: str = ""
    categories: tuple[str, ...] | None = None
    required: int = 0
    min_answers: int = 0
    target_confidence: float = 0.0
    team_id: str = ""


@dataclass(frozen=True)
class Release:
    status: str
    job_id: str = ""
    object_id: int = 0


@dataclass(frozen=True)
class JobMeta:
    status: str
    built: bool
    required: int
    team_id: str
    # The `ready` epoch the state was built in: a state built before Redis lost data may be partial.
    epoch: str


NOT_IN_TEAM = "not_in_team"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class DispatchStore:
    def __init__(
        self,
        redis: Redis,
        prefix: str = "qw:",
        *,
        verdict_wait_ms: int = 2000,
        draw_verdict_wait_ms: int = 5000,
    ) -> None:
        self.redis = redis
        self.p = prefix
        self.verdict_wait_ms = verdict_wait_ms
        self.draw_verdict_wait_ms = draw_verdict_wait_ms
        self._next = redis.register_script((_LUA / "next_task.lua").read_text())
        self._begin = redis.register_script((_LUA / "begin_submit.lua").read_text())
        self._abort = redis.register_script((_LUA / "abort_submit.lua").read_text())
        self._finalize = redis.register_script((_LUA / "finalize.lua").read_text())
        self._release = redis.register_script((_LUA / "release.lua").read_text())
        self._rescan = redis.register_script((_LUA / "rescan.lua").read_text())
        self._close_objects = redis.register_script((_LUA / "close_objects.lua").read_text())
        self._end_holds = redis.register_script((_LUA / "end_holds.lua").read_text())

    # ---- keys --------------------------------------------------------------------------------------------

    def job_key(self, job_id: str, suffix: str) -> str:
        return f"{self.p}j:{job_id}:{suffix}"

    def object_key(self, job_id: str, object_id: int, suffix: str) -> str:
        return f"{self.p}j:{job_id}:o:{object_id}:{suffix}"

    def team_key(self, team_id: str) -> str:
        return f"{self.p}t:{team_id}:jobs"

    @property
    def ready_key(self) -> str:
        return f"{self.p}ready"

    @property
    def leases_key(self) -> str:
        return f"{self.p}leases"

    # ---- hot path ----------------------------------------------------------------------------------------

    async def next_task(
        self,
        worker_id: str,
        team_ids: Sequence[str],
        lease_id: str,
        now_ms: int,
        *,
        job_id: str = "",
        max_scan: int = 2000,
        max_reopen: int = 500,
    ) -> Claim | str | None:
        """A Claim, None when nothing is available, or NOT_IN_TEAM for a job outside the worker's teams."""
        res = await self._next(
            args=[self.p, worker_id, now_ms, lease_id, max_scan, max_reopen, job_id, *team_ids]
        )
        if not res:
            return None
        res = [_s(v) for v in res]
        if res[0] == NOT_IN_TEAM:
            return NOT_IN_TEAM
        _, job, oid, exp, acc, ttl, src, name, task_type, cats, instr = res
        source, source_ref = json.loads(src) if src else ("", "")
        return Claim(
            lease_id=lease_id,
            job_id=job,
            object_id=int(oid),
            expires_at_ms=int(exp),
            accepted_at_ms=int(acc),
            time_limit_s=int(ttl),
            source=source,
            source_ref=source_ref,
            has_source=bool(src),
            job_name=name,
            task_type=task_type,
            categories=tuple(json.loads(cats)),
            instructions=instr,
        )

    async def begin_submit(self, lease_id: str, worker_id: str, now_ms: int, grace_ms: int) -> SubmitTicket:
        res = [_s(v) for v in await self._begin(args=[self.p, lease_id, worker_id, now_ms, grace_ms])]
        check = SubmitCheck(res[0])
        if len(res) == 1:
            return SubmitTicket(check)
        _, job, oid, acc, exp, task_type, cats, n, min_answers, tc = res[:10]
        return SubmitTicket(
            check=check,
            job_id=job,
            object_id=int(oid),
            accepted_at_ms=int(acc or 0),
            expires_at_ms=int(exp or 0),
            task_type=task_type,
            categories=tuple(json.loads(cats)) if cats else None,
            required=int(n or 0),
            min_answers=int(min_answers or 0),
            target_confidence=float(tc or 0),
            team_id=res[10] if len(res) > 10 else "",
        )

    async def abort_submit(self, lease_id: str) -> None:
        await self._abort(args=[self.p, lease_id])

    async def finalize(self, lease_id: str) -> None:
        await self._finalize(args=[self.p, lease_id])

    async def release(
        self, lease_id: str, kind: str, worker_id: str, now_ms: int, tombstone_ms: int
    ) -> Release:
        res = [
            _s(v) for v in await self._release(args=[self.p, lease_id, kind, worker_id, now_ms, tombstone_ms])
        ]
        if len(res) == 1:
            return Release(res[0])
        return Release(res[0], res[1], int(res[2]))

    # ---- sweeper -----------------------------------------------------------------------------------------

    async def due_leases(self, now_ms: int, limit: int) -> list[str]:
        return [
            _s(v) for v in await self.redis.zrangebyscore(self.leases_key, "-inf", now_ms, start=0, num=limit)
        ]

    async def forget_lease(self, lease_id: str) -> None:
        await self.redis.zrem(self.leases_key, lease_id)

    async def epoch(self) -> str | None:
        value = await self.redis.get(self.ready_key)
        return _s(value) if value is not None else None

    async def start_epoch(self, token: str) -> str:
        """Begin a rebuild pass after Redis lost its data; concurrent replicas agree on one epoch."""
        await self.redis.set(self.ready_key, token, nx=True)
        return await self.epoch() or token

    # ---- jobs --------------------------------------------------------------------------------------------

    async def job_meta(self, job_id: str) -> JobMeta | None:
        m = await self.redis.hmget(self.job_key(job_id, "m"), ["status", "built", "n", "team", "ep"])
        if all(v is None for v in m):
            return None
        status, built, n, team, epoch = (_s(v) if v is not None else "" for v in m)
        return JobMeta(status=status, built=built == "1", required=int(n or 0), team_id=team, epoch=epoch)

    def _meta_fields(self, spec: JobSpec) -> dict[str, str | int]:
        return {
            "status": spec.status,
            "n": spec.workers_per_object,
            "ttl": spec.task_time_limit_s,
            "team": spec.team_id,
            "name": spec.name,
            "type": spec.task_type,
            "cats": json.dumps(list(spec.categories)),
            "instr": spec.instructions,
            "opened": spec.opened_at_ms,
            "ad": 1 if spec.adaptive else 0,
            "min": spec.min_workers,
            "tc": spec.target_confidence,
            "vw": self.verdict_wait_ms,
            "dw": self.draw_verdict_wait_ms,
        }

    async def update_meta(self, spec: JobSpec, previous_team: str) -> None:
        """Refresh a built job's meta (OpenJob again) and its place in its team's job set."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.job_key(spec.job_id, "m"), mapping=self._meta_fields(spec))
            if previous_team and previous_team != spec.team_id:
                pipe.zrem(self.team_key(previous_team), spec.job_id)
            if spec.status == "open":
                pipe.zadd(self.team_key(spec.team_id), {spec.job_id: spec.opened_at_ms})
            await pipe.execute()

    async def rescan(self, job_id: str, required: int, object_ids: Sequence[int]) -> None:
        await self._rescan(args=[self.p, job_id, required, *object_ids])

    async def close_objects(self, job_id: str, object_ids: Sequence[int]) -> int:
        """Adaptive jobs: labeled objects leave the pool for good; returns how many were newly closed."""
        closed = 0
        for start in range(0, len(object_ids), _PIPELINE_CHUNK):
            chunk = object_ids[start : start + _PIPELINE_CHUNK]
            closed += int(await self._close_objects(args=[self.p, job_id, *chunk]))
        return closed

    async def end_holds(self, job_id: str, answer_counts: Mapping[int, int]) -> int:
        """Objects that consolidation wants another answer for (object -> the answer count it decided on) may
        get their next worker now; returns how many verdict holds ended."""
        items = sorted(answer_counts.items())
        ended = 0
        for start in range(0, len(items), _PIPELINE_CHUNK):
            flat = [x for pair in items[start : start + _PIPELINE_CHUNK] for x in pair]
            ended += int(await self._end_holds(args=[self.p, job_id, *flat]))
        return ended

    async def try_lock(self, job_id: str, token: str, ttl_ms: int) -> bool:
        return bool(await self.redis.set(self.job_key(job_id, "lock"), token, nx=True, px=ttl_ms))

    async def unlock(self, job_id: str, token: str) -> None:
        key = self.job_key(job_id, "lock")
        if _s(await self.redis.get(key) or b"") == token:
            await self.redis.delete(key)

    async def begin_rebuild(self, spec: JobSpec, object_ids: Sequence[int]) -> list[tuple[str, int, str]]:
        """Rebuild step 1: stop dispatching the job, note its live leases, forget the rest of its state.

        Live leases (made since Redis lost data, or simply in flight) keep counting, so a rebuild is safe at
        any time. `n` stays in the meta so a finalize meanwhile still counts. Returns (lease, object, worker).
        """
        job_id = spec.job_id
        meta = self.job_key(job_id, "m")
        await self.redis.hset(meta, mapping={"n": spec.workers_per_object, "built": "0"})
        leases_key = self.job_key(job_id, "leases")
        lease_ids = sorted(_s(v) for v in await self.redis.smembers(leases_key))
        live = [(lid, *f) for lid, f in zip(lease_ids, await self._lease_fields(lease_ids), strict=True)]
        live_leases = [(lid, int(o), w) for lid, o, w, st in live if st in ("a", "s")]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(self.job_key(job_id, s) for s in ("open", "reopen", "cur", "src", "leases")))
            if live_leases:
                pipe.sadd(leases_key, *(lid for lid, _, _ in live_leases))
            await pipe.execute()
        await self.delete_object_keys(job_id, object_ids)
        return live_leases

    async def lease_holder(self, lease_id: str) -> tuple[str, int, str, int, str] | None:
        """(job, object, worker, expires_at_ms, state) of a lease, or None when it is gone. Read-only."""
        job, obj, worker, exp, st = (
            _s(v) if v is not None else ""
            for v in await self.redis.hmget(f"{self.p}l:{lease_id}", ["j", "o", "w", "exp", "st"])
        )
        if not job or not obj:
            return None
        return job, int(obj), worker, int(exp or 0), st

    async def _lease_fields(self, lease_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(object, worker, state) of each lease; empty strings for a lease that is gone."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for lid in lease_ids:
                pipe.hmget(f"{self.p}l:{lid}", ["o", "w", "st"])
            rows = await pipe.execute() if lease_ids else []
        return [tuple(_s(v) if v is not None else "" for v in row) for row in rows]  # type: ignore[misc]

    async def settle_rebuilt_leases(self, job_id: str, leases: Sequence[tuple[str, int, str]]) -> None:
        """Rebuild step 3: leases released during the rebuild no longer count (and their declines stay)."""
        if not leases:
            return
        fields = await self._lease_fields([lid for lid, _, _ in leases])
        async with self.redis.pipeline(transaction=False) as pipe:
            for (lid, oid, worker), (_, _, st) in zip(leases, fields, strict=True):
                if st in ("x", "d", "c"):
                    pipe.srem(self.object_key(job_id, oid, "w"), worker)
                    pipe.srem(self.job_key(job_id, "leases"), lid)
                    pipe.zadd(self.job_key(job_id, "open"), {str(oid): oid})  # next_task checks the count
                    if st == "d":
                        pipe.sadd(self.object_key(job_id, oid, "d"), worker)
            await pipe.execute()

    async def delete_object_keys(self, job_id: str, object_ids: Sequence[int]) -> None:
        for start in range(0, len(object_ids), _PIPELINE_CHUNK):
            chunk = object_ids[start : start + _PIPELINE_CHUNK]
            keys = [self.object_key(job_id, o, s) for o in chunk for s in ("w", "d")]
            if keys:
                await self.redis.unlink(*keys)

    async def load_objects(
        self,
        job_id: str,
        required: int,
        objects: Sequence[DataObject],
        takers: Mapping[int, Sequence[str]],
        declined: Mapping[int, Sequence[str]],
        *,
        reopened: bool = False,
        closed: frozenset[int] | set[int] = frozenset(),
    ) -> None:
        """Write objects' content, takers (answers, live leases) and declines; open those needing more.

        `reopened`: the objects arrive after the job opened, so they may lie below workers' cursors.
        """
        for start in range(0, len(objects), _PIPELINE_CHUNK // 4):
            chunk = objects[start : start + _PIPELINE_CHUNK // 4]
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(
                    self.job_key(job_id, "src"),
                    mapping={str(o.object_id): json.dumps([o.source, o.source_ref]) for o in chunk},
                )
                open_scores: dict[str, int] = {}
                for o in chunk:
                    took = takers.get(o.object_id, ())
                    if took:
                        pipe.sadd(self.object_key(job_id, o.object_id, "w"), *took)
                    refused = declined.get(o.object_id, ())
                    if refused:
                        pipe.sadd(self.object_key(job_id, o.object_id, "d"), *refused)
                    if len(set(took)) < (o.required_answers or required) and o.object_id not in closed:
                        open_scores[str(o.object_id)] = o.object_id
                own = {str(o.object_id): o.required_answers for o in chunk if o.required_answers > 0}
                if own:
                    pipe.hset(self.job_key(job_id, "req"), mapping=own)
                own_min = {
                    str(o.object_id): o.min_answers
                    for o in chunk
                    if o.required_answers > 0 and 0 < o.min_answers < o.required_answers
                }
                if own_min:
                    pipe.hset(self.job_key(job_id, "rmin"), mapping=own_min)
                if open_scores:
                    pipe.zadd(self.job_key(job_id, "open"), open_scores)
                    if reopened:
                        pipe.zadd(self.job_key(job_id, "reopen"), open_scores)
                await pipe.execute()

    async def publish_job(self, spec: JobSpec, epoch: str) -> None:
        """Last step of a rebuild: the job becomes dispatchable."""
        async with self.redis.pipeline(transaction=True) as pipe:
            fields = {**self._meta_fields(spec), "built": "1", "ep": epoch}
            pipe.hset(self.job_key(spec.job_id, "m"), mapping=fields)
            if spec.status == "open":
                pipe.zadd(self.team_key(spec.team_id), {spec.job_id: spec.opened_at_ms})
            await pipe.execute()

    async def mark_closed(self, job_id: str, team_id: str) -> list[str]:
        """No more dispatch for the job; returns its live lease ids (to cancel)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.job_key(job_id, "m"), "status", "closed")
            pipe.zrem(self.team_key(team_id), job_id)
            pipe.smembers(self.job_key(job_id, "leases"))
            res = await pipe.execute()
        return sorted(_s(v) for v in res[2])

    async def drop_job(self, job_id: str) -> None:
        """Free a closed job's memory (per-object keys are dropped separately, by id)."""
        keys = ("m", "open", "reopen", "cur", "src", "leases", "closed", "fly", "hold", "req", "rmin")
        await self.redis.unlink(*(self.job_key(job_id, s) for s in keys))

    async def active_leases(self, job_id: str) -> int:
        return int(await self.redis.scard(self.job_key(job_id, "leases")))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())
