"""The workforce use cases: each RPC is one method here, combining the core rules, PostgreSQL and Redis.

PostgreSQL is the truth (teams, workers, jobs, objects, answers, declines, outbox); Redis holds the dispatch
state (adapters/dispatch.py) and is rebuilt from PostgreSQL whenever it lost it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence

from quorum_common.clock import now_ms
from quorum_common.logging import get_logger
from quorum_common.task_types import ADJUSTMENT, CHAINED_TYPES, CLASSIFICATION_TYPES, CUSTOM, color_map
from quorum_workforce.adapters.content import ImageFile, local_image_size, open_image
from quorum_workforce.adapters.dispatch import NOT_IN_TEAM, Claim, DispatchStore
from quorum_workforce.adapters.events import answer_submitted
from quorum_workforce.adapters.repository import Repository
from quorum_workforce.core.answers import normalize_answer
from quorum_workforce.core.dispatch import SubmitCheck
from quorum_workforce.core.jobs import MAX_WORKERS_PER_OBJECT, JobSpec, validate_job_spec
from quorum_workforce.core.models import (
    Answer,
    DataObject,
    JobProgress,
    ObjectExtras,
    SubmitResult,
    Task,
    Team,
    Worker,
)
from quorum_workforce.core.task_answers import (
    MASK_TYPES,
    NEEDS_OBJECT,
    SIZED_TYPES,
    AnswerContext,
    previous_mask_ref,
    previous_type,
    with_image_size,
)
from quorum_workforce.core.tokens import hash_token, is_well_formed, new_token
from quorum_workforce.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from quorum_workforce.settings import WorkforceSettings
from quorum_workforce.teams_cache import WorkerTeamsCache

log = get_logger(__name__)

MAX_NAME_CHARS = 200
_REBUILD_LOCK_MS = 120_000
_SWEEP_BATCH = 500
#: Jobs whose "has objects with a known class or a model label" flag is cached.
_KNOWN_JOBS_CACHED = 4096
#: A job cached as having no such object is looked up again after this long: an automated-labeling job's
#: later batches (with model labels) may have been put through another replica.
_NO_OBJECT_LABELS_RECHECK_S = 2.0


def _new_id() -> str:
    return uuid.uuid4().hex


def raise_if_cancelling() -> None:
    """Honour a cancel that a client library swallowed (seen with redis-py): else stop() waits forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _require(value: str, name: str) -> None:
    if not value:
        raise InvalidArgument(f"{name} is required", reason=f"{name}_required")


class Workforce:
    def __init__(self, settings: WorkforceSettings, repo: Repository, dispatch: DispatchStore) -> None:
        self.settings = settings
        self.repo = repo
        self.dispatch = dispatch
        self._teams = WorkerTeamsCache(repo.workers_team_ids, settings.worker_cache_ttl_s)
        self._grace_ms = int(settings.submit_grace_s * 1000)
        self._tombstone_ms = int(settings.lease_tombstone_s * 1000)
        # job id -> (whether it has objects with a known class or a model label, when that was read), so
        # answers of jobs without any read nothing more.
        self._known_jobs: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    # ---- teams and workers -------------------------------------------------------------------------------

    async def create_team(self, owner_id: str, name: str) -> Team:
        _require(owner_id, "owner_id")
        name = name.strip()
        _require(name, "name")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidArgument(
                f"a team name has at most {MAX_NAME_CHARS} characters", reason="name_too_long"
            )
        return await self.repo.create_team(_new_id(), owner_id, name)

    async def list_teams(self, owner_id: str) -> list[Team]:
        _require(owner_id, "owner_id")
        return await self.repo.list_teams(owner_id)

    async def create_worker(self, owner_id: str, name: str, team_ids: Sequence[str]) -> tuple[Worker, str]:
        """The worker and its API token; only the token's hash is stored: this is the one chance to see it."""
        _require(owner_id, "owner_id")
        name = name.strip()
        _require(name, "name")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidArgument(
                f"a worker name has at most {MAX_NAME_CHARS} characters", reason="name_too_long"
            )
        token = new_token()
        unique_teams = list(dict.fromkeys(t for t in team_ids if t))
        worker = await self.repo.create_worker(_new_id(), owner_id, name, unique_teams, hash_token(token))
        return worker, token

    async def list_workers(self, owner_id: str, team_id: str = "") -> list[Worker]:
        _require(owner_id, "owner_id")
        return await self.repo.list_workers(owner_id, team_id)

    async def authenticate(self, token: str) -> Worker:
        worker = await self.repo.worker_by_token_hash(hash_token(token)) if is_well_formed(token) else None
        if worker is None:
            raise Unauthenticated("the worker token is not valid", reason="invalid_token")
        return worker

    async def _teams_of(self, worker_id: str) -> tuple[str, ...]:
        teams = await self._teams.get(worker_id)
        if teams is None:
            raise NotFound(f"no worker {worker_id!r}", reason="worker_not_found")
        return teams

    # ---- jobs --------------------------------------------------------------------------------------------

    async def put_objects(self, job_id: str, objects: Sequence[DataObject]) -> int:
        """Store objects (idempotent, in any number of batches); returns how many of them are stored."""
        _require(job_id, "job_id")
        for o in objects:
            if o.object_id < 0:
                raise InvalidArgument(f"object_id {o.object_id} is negative", reason="object_id_invalid")
            if not 0 <= o.required_answers <= MAX_WORKERS_PER_OBJECT:
                raise InvalidArgument(
                    f"object {o.object_id}: required_answers must be 0 (the job's rule) or between 1 and "
                    f"{MAX_WORKERS_PER_OBJECT}, not {o.required_answers}",
                    reason="required_answers_invalid",
                )
            if o.min_answers or o.target_confidence:
                if not (o.required_answers and 1 <= o.min_answers <= o.required_answers):
                    raise InvalidArgument(
                        f"object {o.object_id}: min_answers must be between 1 and its required_answers "
                        f"({o.required_answers}), not {o.min_answers}",
                        reason="min_answers_invalid",
                    )
                if not 0.5 < o.target_confidence < 1:
                    raise InvalidArgument(
                        f"object {o.object_id}: target_confidence must be in (0.5, 1) with min_answers, "
                        f"not {o.target_confidence}",
                        reason="target_confidence_invalid",
                    )
        unique = list({o.object_id: o for o in objects}.values())
        new_ids = set(await self.repo.put_objects(job_id, unique))
        carries = any(o.known_label or o.model_label or o.required_answers for o in unique)
        if carries and job_id in self._known_jobs:
            self._known_jobs[job_id] = (True, time.monotonic())
        meta = await self.dispatch.job_meta(job_id)
        if new_ids and meta is not None and meta.built:
            # Objects added to a job that is already dispatching: they join the pool at once.
            fresh = [o for o in unique if o.object_id in new_ids]
            await self.dispatch.load_objects(job_id, meta.required, fresh, {}, {}, reopened=True)
        return len(unique)

    async def open_job(self, spec: JobSpec) -> JobSpec:
        validate_job_spec(spec)
        stored, previous = await self.repo.upsert_job(spec)
        await self.ensure_job(stored)
        log.info(
            "job_opened",
            job_id=stored.job_id,
            team_id=stored.team_id,
            n=stored.workers_per_object,
            reopened=previous is not None,
        )
        return stored

    async def ensure_job(self, spec: JobSpec, epoch: str | None = None) -> None:
        """Make the job's Redis state match PostgreSQL: refresh it, or rebuild it when it is missing.

        A state built in another epoch (before Redis last lost its data) may be partial: rebuilt as well.
        """
        if epoch is None:
            epoch = await self.dispatch.epoch() or ""
        meta = await self.dispatch.job_meta(spec.job_id)
        if meta is not None and meta.built and epoch and meta.epoch == epoch:
            await self.dispatch.update_meta(spec, previous_team=meta.team_id)
            if meta.required != spec.workers_per_object:
                object_ids = await self.repo.object_ids(spec.job_id)
                for start in range(0, len(object_ids), 1000):
                    chunk = object_ids[start : start + 1000]
                    await self.dispatch.rescan(spec.job_id, spec.workers_per_object, chunk)
            return
        await self.rebuild_job(spec, epoch)

    async def rebuild_job(self, spec: JobSpec, epoch: str) -> None:
        """Rebuild a job's dispatch state from PostgreSQL (answers, declines) and its live leases in Redis."""
        token = _new_id()
        if not await self.dispatch.try_lock(spec.job_id, token, _REBUILD_LOCK_MS):
            await self._wait_built(spec.job_id)
            return
        started = time.perf_counter()
        try:
            object_ids = await self.repo.object_ids(spec.job_id)
            leases = await self.dispatch.begin_rebuild(spec, object_ids)
            # Read after the reset: an answer committed meanwhile is either read here or counted by finalize.
            takers = await self.repo.answered_workers(spec.job_id)
            for _, oid, worker in leases:
                takers.setdefault(oid, []).append(worker)
            declined = await self.repo.declined_workers(spec.job_id)
            # Adaptive jobs' labeled objects, and any job's objects with their own early stop, stay closed.
            closed = set(await self.repo.closed_object_ids(spec.job_id))
            async for batch in self.repo.iter_objects(spec.job_id):
                n = spec.workers_per_object
                await self.dispatch.load_objects(spec.job_id, n, batch, takers, declined, closed=closed)
            if closed:
                await self.dispatch.close_objects(spec.job_id, sorted(closed))
            await self.dispatch.settle_rebuilt_leases(spec.job_id, leases)
            await self.dispatch.publish_job(spec, epoch)
        finally:
            await self.dispatch.unlock(spec.job_id, token)
        log.info(
            "dispatch_rebuilt",
            job_id=spec.job_id,
            objects=len(object_ids),
            live_leases=len(leases),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _wait_built(self, job_id: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            meta = await self.dispatch.job_meta(job_id)
            if meta is not None and meta.built:
                return
            await asyncio.sleep(0.05)
        log.warning("rebuild_wait_timeout", job_id=job_id)

    async def ensure_all_jobs(self) -> int:
        """Startup, and whenever Redis lost its data: every open job gets its dispatch state back.

        The epoch is set first: if Redis loses data again during this pass, the next pass starts anew.
        """
        epoch = await self.dispatch.epoch() or await self.dispatch.start_epoch(_new_id())
        jobs = await self.repo.open_jobs()
        for spec in jobs:
            await self.ensure_job(spec, epoch)
        return len(jobs)

    async def close_job(self, job_id: str) -> None:
        _require(job_id, "job_id")
        spec = await self.repo.close_job(job_id)
        if spec is None:
            raise NotFound(f"no job {job_id!r}", reason="job_not_found")
        lease_ids = await self.dispatch.mark_closed(job_id, spec.team_id)
        now = now_ms()
        for lease_id in lease_ids:
            await self.dispatch.release(lease_id, "cancelled", "", now, self._tombstone_ms)
        # Free the job's memory; cancelled leases stay as tombstones so late submits learn why.
        await self.dispatch.delete_object_keys(job_id, await self.repo.object_ids(job_id))
        await self.dispatch.drop_job(job_id)
        log.info("job_closed", job_id=job_id, cancelled_leases=len(lease_ids))

    async def progress(self, job_id: str) -> JobProgress:
        _require(job_id, "job_id")
        spec = await self.repo.get_job(job_id)
        if spec is None:
            raise NotFound(f"no job {job_id!r}", reason="job_not_found")
        answers, complete = await self.repo.progress(job_id, spec.workers_per_object)
        active = await self.dispatch.active_leases(job_id) if spec.status == "open" else 0
        return JobProgress(job_id, answers, len(complete), active, tuple(complete))

    # ---- dispatch ----------------------------------------------------------------------------------------

    async def next_task(self, worker_id: str, job_id: str = "") -> Task | None:
        _require(worker_id, "worker_id")
        teams = await self._teams_of(worker_id)
        if not teams:
            return None
        claim = await self.dispatch.next_task(
            worker_id, teams, _new_id(), now_ms(), job_id=job_id, max_scan=self.settings.dispatch_max_scan
        )
        if claim is None:
            return None
        if claim == NOT_IN_TEAM:
            raise PermissionDenied(f"job {job_id!r} is not for a team of this worker", reason="not_in_team")
        assert isinstance(claim, Claim)
        source, source_ref, previous_json, template, input_json = claim.source, claim.source_ref, "", "", ""
        # The previous label (verification / adjustment) and a custom task's input and template are not in
        # the dispatch cache: read them here.
        if not claim.has_source or claim.task_type in CHAINED_TYPES or claim.task_type == CUSTOM:
            found = await self.repo.objects_by_id(claim.job_id, [claim.object_id])
            if found:
                source, source_ref = found[0].source, found[0].source_ref
                previous_json, input_json = found[0].previous_json, found[0].input_json
        if claim.task_type == CUSTOM:
            spec = await self.repo.get_job(claim.job_id)
            template = spec.template if spec is not None else ""
        return Task(
            task_id=claim.lease_id,
            job_id=claim.job_id,
            object_id=claim.object_id,
            task_type=claim.task_type,
            source=source,
            source_ref=source_ref,
            categories=claim.categories,
            instructions=claim.instructions,
            job_name=claim.job_name,
            lease_expires_at_ms=claim.expires_at_ms,
            time_limit_s=claim.time_limit_s,
            accepted_at_ms=claim.accepted_at_ms,
            color_map=tuple(color_map(len(claim.categories))) if claim.task_type in MASK_TYPES else (),
            previous_json=previous_json,
            template=template,
            input_json=input_json,
        )

    async def submit(self, worker_id: str, task_id: str, label: str, payload_json: str) -> SubmitResult:
        """Store the answer and its event durably (committed before we answer), exactly once per task."""
        _require(worker_id, "worker_id")
        _require(task_id, "task_id")
        now = now_ms()
        ticket = await self.dispatch.begin_submit(task_id, worker_id, now, self._grace_ms)
        if ticket.check != SubmitCheck.OK:
            return await self._submit_refused(worker_id, task_id, ticket.check)
        try:
            task_type, categories, required = ticket.task_type, ticket.categories, ticket.required
            min_answers, target, team = ticket.min_answers, ticket.target_confidence, ticket.team_id
            if not task_type or categories is None or not required or not team:  # job meta gone (closed)
                spec = await self.repo.get_job(ticket.job_id)
                if spec is None:
                    raise NotFound("no such task for this worker", reason="task_not_found")
                task_type, categories, required = spec.task_type, spec.categories, spec.workers_per_object
                min_answers, target, team = spec.min_workers, spec.target_confidence, spec.team_id
            context = await self._answer_context(ticket.job_id, ticket.object_id, task_type)
            payload = normalize_answer(
                task_type,
                categories,
                label,
                payload_json,
                base_type=context.base_type,
                text=context.text,
                image_size=context.image_size,
            )
            payload = with_image_size(payload, task_type, context)
            answer = Answer(
                answer_id=_new_id(),
                task_id=task_id,
                job_id=ticket.job_id,
                object_id=ticket.object_id,
                worker_id=worker_id,
                # A custom answer's label is part of its payload (the object the template returned).
                label="" if task_type == CUSTOM else label,
                payload_json=payload,
                accepted_at_ms=ticket.accepted_at_ms,
                submitted_at_ms=now,
                time_spent_s=max(0.0, (now - ticket.accepted_at_ms) / 1000),
            )
            extras = ObjectExtras()
            if task_type in CLASSIFICATION_TYPES and await self._has_object_labels(ticket.job_id):
                found = await self.repo.object_labels(ticket.job_id, [ticket.object_id])
                extras = found.get(ticket.object_id, extras)
            inserted = await self.repo.insert_answer(
                answer,
                answer_submitted(
                    answer,
                    task_type,
                    categories,
                    required,
                    min_answers,
                    target,
                    context.previous_json,
                    team,
                    extras,
                ),
            )
        except BaseException:
            # Not stored (or unknown, e.g. cancelled mid-commit): the lease is active again; if it was in
            # fact committed, a retry is answered as a duplicate and the sweeper finalizes from PostgreSQL.
            await asyncio.shield(self._abort_quietly(task_id))
            raise
        if inserted:
            await self._finalize_quietly(task_id)
            return SubmitResult(answer.answer_id, duplicate=False)
        existing = await self.repo.answer_for_task(task_id)
        await self._finalize_quietly(task_id)
        if existing is None:
            # This worker already answered the object through another task (possible only after Redis lost
            # the dispatch state): the first answer stands.
            raise FailedPrecondition("you already answered this object", reason="already_answered")
        return SubmitResult(existing.answer_id, duplicate=True)

    async def task_content(self, worker_id: str, task_id: str, previous_mask: bool = False) -> ImageFile:
        """The image of the object of a task the worker holds (active lease), or with `previous_mask` the
        mask file of its previous segmentation label; NotFound / PermissionDenied / FailedPrecondition
        otherwise."""
        _require(worker_id, "worker_id")
        _require(task_id, "task_id")
        lease = await self.dispatch.lease_holder(task_id)
        if lease is None:
            raise NotFound("no such task for this worker", reason="task_not_found")
        job_id, object_id, holder, expires_at_ms, state = lease
        if holder != worker_id:
            raise PermissionDenied("this task is leased to another worker", reason="task_not_yours")
        if state not in ("a", "s") or expires_at_ms <= now_ms():
            raise FailedPrecondition("the task's lease has expired", reason="lease_expired")
        found = await self.repo.objects_by_id(job_id, [object_id])
        ref = found[0].source_ref if found else ""
        if previous_mask:
            ref = previous_mask_ref(found[0].previous_json) if found else ""
        if not ref:
            what = "previous mask" if previous_mask else "image"
            raise NotFound(f"the task's object has no {what}", reason="content_not_found")
        return await asyncio.to_thread(
            open_image,
            ref,
            self.settings.content_roots,
            self.settings.content_max_bytes,
            self.settings.content_url_prefixes,
        )

    async def _has_object_labels(self, job_id: str) -> bool:
        """Whether the job has objects with a known class, a model label or an answer count (ObjectExtras).
        Cached: a job's known-answer objects are all stored before it is opened; an automated-labeling job's
        model-labeled objects and random draws come later, through put_objects (which sets the flag here) or
        another replica (a "no" is read again after _NO_OBJECT_LABELS_RECHECK_S)."""
        cached = self._known_jobs.get(job_id)
        now = time.monotonic()
        if cached is None or (not cached[0] and now - cached[1] > _NO_OBJECT_LABELS_RECHECK_S):
            cached = self._known_jobs[job_id] = (await self.repo.has_object_labels(job_id), now)
            while len(self._known_jobs) > _KNOWN_JOBS_CACHED:
                self._known_jobs.popitem(last=False)
        else:
            self._known_jobs.move_to_end(job_id)
        return cached[0]

    async def _answer_context(self, job_id: str, object_id: int, task_type: str) -> AnswerContext:
        """What checking a structured answer needs beyond the payload: the object's text, its image's size,
        the adjusted label's type. Classification answers need none of it (no read on the hot path)."""
        if task_type not in NEEDS_OBJECT:
            return AnswerContext()
        found = await self.repo.objects_by_id(job_id, [object_id])
        if not found:
            return AnswerContext()
        obj = found[0]
        base = previous_type(obj.previous_json)
        size = None
        if (task_type in SIZED_TYPES or base in SIZED_TYPES) and obj.source_ref:
            size = await asyncio.to_thread(local_image_size, obj.source_ref, self.settings.content_roots)
        return AnswerContext(obj.source, size, base, obj.previous_json if task_type == ADJUSTMENT else "")

    async def _submit_refused(self, worker_id: str, task_id: str, check: SubmitCheck) -> SubmitResult:
        # A retry of a submit that was stored: same answer, counted once.
        existing = await self.repo.answer_for_task(task_id)
        if existing is not None and existing.worker_id == worker_id:
            if check != SubmitCheck.MISSING:
                await self._finalize_quietly(task_id)  # repairs a lease released although answered
            return SubmitResult(existing.answer_id, duplicate=True)
        if check == SubmitCheck.EXPIRED:
            raise FailedPrecondition(
                "the task's time limit passed and it went back to the pool; ask for a new task",
                reason="lease_expired",
            )
        if check == SubmitCheck.CANCELLED:
            raise FailedPrecondition(
                "the job was closed; this task no longer takes answers", reason="job_closed"
            )
        if check == SubmitCheck.DECLINED:
            raise FailedPrecondition("you declined this task", reason="task_declined")
        # Missing or another worker's: say the same thing, so task ids of others are not revealed.
        raise NotFound("no such task for this worker", reason="task_not_found")

    async def _abort_quietly(self, task_id: str) -> None:
        try:
            await self.dispatch.abort_submit(task_id)
        except Exception:
            log.exception("abort_submit_failed", task_id=task_id)

    async def _finalize_quietly(self, task_id: str) -> None:
        # The answer is committed: a Redis failure here must not fail the call (the sweeper repairs it).
        try:
            await self.dispatch.finalize(task_id)
        except Exception:
            log.exception("finalize_failed", task_id=task_id)

    async def decline(self, worker_id: str, task_id: str) -> None:
        _require(worker_id, "worker_id")
        _require(task_id, "task_id")
        res = await self.dispatch.release(task_id, "declined", worker_id, now_ms(), self._tombstone_ms)
        if res.status in ("missing", "foreign"):
            raise NotFound("no such task for this worker", reason="task_not_found")
        if res.status == "submitting":
            raise FailedPrecondition("this task's answer is being submitted", reason="task_submitted")
        if res.status in ("released", "d"):
            await self.repo.record_decline(res.job_id, res.object_id, worker_id)
        # "c": the job was closed, nothing left to decline.

    # ---- answers -----------------------------------------------------------------------------------------

    async def list_answers(self, job_id: str, object_ids: Sequence[int] = ()) -> AsyncIterator[Answer]:
        _require(job_id, "job_id")
        async for batch in self.repo.stream_answers(job_id, object_ids):
            for answer in batch:
                yield answer

    async def replay(self, job_id: str, object_ids: Sequence[int] = ()) -> int:
        """Fresh outbox events (new ids) for the stored answers of these objects (all when none named)."""
        _require(job_id, "job_id")
        spec = await self.repo.get_job(job_id)
        if spec is None:
            raise NotFound(f"no job {job_id!r}", reason="job_not_found")
        count = 0
        async for batch in self.repo.stream_answers(job_id, object_ids):
            previous: dict[int, str] = {}
            extras: dict[int, ObjectExtras] = {}
            if spec.task_type == ADJUSTMENT:  # consolidation compares the adjusted labels with these
                found = await self.repo.objects_by_id(job_id, sorted({a.object_id for a in batch}))
                previous = {o.object_id: o.previous_json for o in found}
            elif spec.task_type in CLASSIFICATION_TYPES:  # not the hot path: read, whatever the cache says
                extras = await self.repo.object_labels(job_id, sorted({a.object_id for a in batch}))
            await self.repo.add_events(
                [
                    answer_submitted(
                        a,
                        spec.task_type,
                        spec.categories,
                        spec.workers_per_object,
                        spec.min_workers,
                        spec.target_confidence,
                        previous.get(a.object_id, ""),
                        spec.team_id,
                        extras.get(a.object_id, ObjectExtras()),
                    )
                    for a in batch
                ]
            )
            count += len(batch)
        log.info("answers_replayed", job_id=job_id, answers=count)
        return count

    # ---- background --------------------------------------------------------------------------------------

    async def sweep_once(self) -> int:
        """Expired leases back to the pool; those PostgreSQL says were answered are finalized instead."""
        released = 0
        while True:
            now = now_ms()
            due = await self.dispatch.due_leases(now, _SWEEP_BATCH)
            if not due:
                return released
            answered = await self.repo.answered_task_ids(due)
            for lease_id in due:
                if lease_id in answered:
                    await self.dispatch.finalize(lease_id)
                    continue
                res = await self.dispatch.release(lease_id, "expired", "", now, self._tombstone_ms)
                if res.status == "released":
                    released += 1
                elif res.status not in ("not_due", "submitting"):
                    await self.dispatch.forget_lease(lease_id)  # a stale index entry
            if len(due) < _SWEEP_BATCH:
                return released

    async def run_sweeper(self) -> None:
        """Background task: (re)build dispatch state when Redis lost it, then sweep expired leases."""
        first = True
        while True:
            raise_if_cancelling()
            try:
                if first or await self.dispatch.epoch() is None:
                    jobs = await self.ensure_all_jobs()
                    log.info("dispatch_state_checked", open_jobs=jobs)
                    first = False
                released = await self.sweep_once()
                if released:
                    log.info("leases_expired", released=released)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep_failed")
            await asyncio.sleep(self.settings.sweep_interval_s)
