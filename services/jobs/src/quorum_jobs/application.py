"""Use cases of the jobs service: create/stop jobs, read progress and output, and the reconciler.

The servicer translates protos into calls here; this layer combines the pure core, the store and the
workforce client, and owns the retry rules for remote calls (a job whose workforce call failed stays in
initializing/stopping, and the reconciler tries again).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from quorum_common.content import ImageFile, open_image
from quorum_common.logging import get_logger
from quorum_common.task_types import CUSTOM
from quorum_jobs.adapters.store import JobRecord, JobStore, RequesterRecord
from quorum_jobs.adapters.workforce import OpenSpec, WorkforceClient, WorkforceError
from quorum_jobs.autolabeling import AutoLabeler, AutoLabelReport
from quorum_jobs.core.autolabel import DrawAnswers, draw_answers, plan_first_batch, plan_loop
from quorum_jobs.core.batching import DataObject
from quorum_jobs.core.content import image_ref, mask_ref
from quorum_jobs.core.known import known_label
from quorum_jobs.core.manifest import ManifestObject, canonical_json, parse_manifest
from quorum_jobs.core.output import LineFormatter, ObjectLabel, OutputJob, unlabeled_reason
from quorum_jobs.core.paging import Cursor, decode_cursor, encode_cursor, page_size
from quorum_jobs.core.spec import JobSpecInput, check_manifest_fits, previous_labels, validate_spec
from quorum_jobs.core.states import FINAL_OUTPUT, JobStatus
from quorum_jobs.core.task_types import Previous, previous_label
from quorum_jobs.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from quorum_jobs.settings import JobsSettings

log = get_logger(__name__)

OUTPUT_CHUNK_BYTES = 256 * 1024
MAX_REQUESTER_NAME = 200
REPLAY_BATCH = 10_000
_PROGRESS_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class JobView:
    """A job with the answer count read from workforce (or, if it cannot answer, from our labels)."""

    job: JobRecord
    answers: int

    @property
    def cost_usd(self) -> float:
        return round(self.answers * self.job.spec.price_per_task_usd, 6)


@dataclass(frozen=True, slots=True)
class ManifestSource:
    data: bytes | None = None
    path: str | None = None


class JobsApp:
    def __init__(
        self,
        settings: JobsSettings,
        store: JobStore,
        workforce: WorkforceClient,
        autolabeler: AutoLabeler | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.workforce = workforce
        self.autolabeler = autolabeler
        # job_id -> object_id -> monotonic time we first saw it complete in workforce but unlabeled here.
        self._unlabeled_since: dict[str, dict[int, float]] = {}

    # -- requesters ---------------------------------------------------------------------------------

    async def create_requester(self, name: str) -> tuple[RequesterRecord, str]:
        name = name.strip()
        if not 1 <= len(name) <= MAX_REQUESTER_NAME:
            raise InvalidArgument(f"name must be 1 to {MAX_REQUESTER_NAME} characters", reason="invalid_name")
        record, api_key = await self.store.create_requester(name)
        log.info("requester_created", requester_id=record.requester_id)
        return record, api_key

    async def authenticate(self, api_key: str) -> RequesterRecord:
        record = await self.store.requester_by_key(api_key) if api_key else None
        if record is None:
            raise Unauthenticated("the API key is not valid", reason="invalid_api_key")
        return record

    # -- jobs ---------------------------------------------------------------------------------------

    async def create_job(self, requester_id: str, spec_in: JobSpecInput, source: ManifestSource) -> JobView:
        """Validate everything (nothing is stored if anything is wrong), store, then open in workforce."""
        spec = validate_spec(spec_in)
        if not requester_id or not await self.store.requester_exists(requester_id):
            raise NotFound(f"requester {requester_id!r} not found", reason="requester_not_found")
        data = await self._manifest_bytes(source)
        manifest = await asyncio.to_thread(parse_manifest, data)
        del data
        await asyncio.to_thread(check_manifest_fits, spec, manifest)
        if await self.store.job_name_taken(requester_id, spec.name):
            raise AlreadyExists(
                f"a job named {spec.name!r} already exists for this requester "
                "(job names are unique per requester, ignoring case)",
                reason="job_name_exists",
            )
        # The team's size caps the automated-labeling draws' answers (draw_answers); no other job needs it.
        auto = spec.auto_labeling.enabled
        team_size = await self._check_team(requester_id, spec.team_id, count_workers=auto)
        draws = draw_answers(spec.auto_labeling, spec.workers_per_object, spec.adaptive, team_size)
        job_id = uuid.uuid4().hex
        first_batch = None
        if spec.auto_labeling.enabled:
            # Only the random first batch goes to humans; the loop decides about the rest.
            plan = plan_loop(len(manifest), len(spec.categories), spec.auto_labeling.max_human_labeled)
            first_batch = plan_first_batch(
                [o.object_id for o in manifest.objects], plan, seed=int(job_id[:8], 16)
            )
        await self.store.insert_job(
            job_id,
            requester_id,
            spec,
            manifest.objects,
            retry_lease_s=self._open_lease_s,
            first_batch=first_batch,
            draw_required=draws.required,
        )
        log.info(
            "job_created",
            job_id=job_id,
            requester_id=requester_id,
            objects=len(manifest),
            task_type=spec.task_type,
        )
        job = await self.store.get_job(job_id)
        assert job is not None
        previous = previous_labels(spec, manifest)
        custom = spec.task_type == CUSTOM
        sent = None if first_batch is None else set(first_batch.validation) | set(first_batch.training)
        known = spec.known_answer_attribute
        await self._open(
            job,
            [
                # The random first batch certifies the loop's models (core/autolabel.draw_answers).
                draws.apply(
                    _data_object(o, previous.get(o.object_id), custom=custom, known=known),
                    draws.required if sent is not None else 0,
                )
                for o in manifest.objects
                if sent is None or o.object_id in sent
            ],
        )
        return await self._view(await self.store.get_job(job_id) or job)

    async def get_job(self, job_id: str, requester_id: str) -> JobView:
        return await self._view(await self._owned_job(job_id, requester_id))

    async def list_jobs(self, requester_id: str, size: int, token: str) -> tuple[list[JobView], str]:
        limit = page_size(size)
        rows = await self.store.list_jobs(requester_id, decode_cursor(token), limit + 1)
        page = rows[:limit]
        next_token = ""
        if len(rows) > limit:
            last = page[-1]
            next_token = encode_cursor(Cursor(_epoch_us(last.created_at), last.job_id))
        semaphore = asyncio.Semaphore(_PROGRESS_CONCURRENCY)

        async def view(job: JobRecord) -> JobView:
            async with semaphore:
                return await self._view(job)

        return list(await asyncio.gather(*(view(job) for job in page))), next_token

    async def stop_job(self, job_id: str, requester_id: str) -> JobView:
        job = await self._owned_job(job_id, requester_id)
        if job.status in (JobStatus.STOPPING, JobStatus.STOPPED):
            return await self._view(job)  # stopping twice is harmless; the first call is still in effect
        # Raises invalid_state for a final job; the lease leaves the first CloseJob attempt to this call.
        stopping = await self.store.transition(job_id, JobStatus.STOPPING, retry_lease_s=self._open_lease_s)
        assert stopping is not None
        await self._close(stopping)
        return await self._view(await self.store.get_job(job_id) or stopping)

    async def auto_labeling(self, job_id: str, requester_id: str) -> AutoLabelReport:
        job = await self._owned_job(job_id, requester_id)
        if self.autolabeler is None:
            raise FailedPrecondition("automated labeling is not configured", reason="auto_labeling_off")
        return await self.autolabeler.report(job, (await self._view(job)).answers)

    async def output_chunks(
        self, job_id: str, requester_id: str, *, include_unlabeled: bool = False
    ) -> AsyncIterator[bytes]:
        """The output manifest as JSON-lines chunks of about 256 KB (lines are never split across chunks).

        While the job runs only its labeled objects are written (Ground Truth's partial output), unless
        `include_unlabeled`: then every object is a line, in object order (a line's index is its object id),
        an unlabeled object as its input line alone. A final job's output has every object either way."""
        job = await self._owned_job(job_id, requester_id)
        final = job.status in FINAL_OUTPUT
        fmt = LineFormatter(
            OutputJob(
                job.spec.name,
                job.spec.task_type,
                job.spec.label_attribute_name,
                job.spec.custom_consolidation,
            )
        )
        ended_at = job.completed_at or job.updated_at
        reason = unlabeled_reason(job.status.value)
        buffer: list[bytes] = []
        size = 0
        async for row in self.store.output_rows(job_id, labeled_only=not (final or include_unlabeled)):
            if row.label is not None and row.class_index is not None and row.labeled_at is not None:
                label = ObjectLabel(
                    row.class_index,
                    row.label,
                    row.confidence or 0.0,
                    bool(row.human_annotated),
                    row.labeled_at,
                )
                line = fmt.labeled(row.line, label)
            elif row.label is not None and row.labeled_at is not None:  # a structured label (JSON)
                line = fmt.structured(row.line, row.label, bool(row.human_annotated), row.labeled_at)
            elif not final and row.failure_reason is None:  # include_unlabeled: not labeled yet
                line = row.line
            else:
                line = fmt.failed(row.line, row.failure_reason or reason, row.labeled_at or ended_at)
            encoded = (line + "\n").encode()
            buffer.append(encoded)
            size += len(encoded)
            if size >= OUTPUT_CHUNK_BYTES:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    async def object_content(
        self, job_id: str, requester_id: str, object_id: int, *, mask: bool = False
    ) -> ImageFile:
        """The image of one of the requester's objects, or with `mask` its consolidated segmentation mask;
        NotFound (job_not_found, object_not_found, no_image, content_*) / FailedPrecondition otherwise."""
        job = await self._owned_job(job_id, requester_id)
        row = await self.store.object_row(job_id, object_id) if object_id >= 0 else None
        if row is None:
            raise NotFound(f"object {object_id} not found in job {job_id!r}", reason="object_not_found")
        if mask:
            ref = mask_ref(job.spec.task_type, row.label)
            if ref is None:
                raise NotFound(
                    f"object {object_id} has no segmentation mask (a {job.spec.task_type} job's object, "
                    "or not labeled yet)",
                    reason="no_image",
                )
            roots: Sequence[str | Path] = [self.settings.label_files_dir]
            prefixes: Sequence[str] = ()  # masks are local files of consolidation's
        else:
            ref = image_ref(json.loads(row.line))
            if ref is None:
                raise NotFound(f"object {object_id} is text; it has no image", reason="no_image")
            roots = self.settings.content_roots
            prefixes = self.settings.content_url_prefixes
        return await asyncio.to_thread(open_image, ref, roots, self.settings.content_max_bytes, prefixes)

    # -- background: reconciler ---------------------------------------------------------------------

    async def run_reconciler(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except Exception:
                log.exception("reconcile_failed")
            await asyncio.sleep(self.settings.reconcile_interval_s)

    async def reconcile_once(self) -> None:
        for job in await self.store.claim_jobs(JobStatus.INITIALIZING, self._open_lease_s):
            log.info("reconcile_open_job", job_id=job.job_id)
            spec = job.spec
            objects = [
                obj
                async for obj in self._stored_objects(
                    job.job_id,
                    spec.source_label_attribute,
                    custom=spec.task_type == CUSTOM,
                    sent_only=spec.auto_labeling.enabled,
                    known=spec.known_answer_attribute,
                    draws=draw_answers(spec.auto_labeling, spec.workers_per_object, spec.adaptive),
                )
            ]
            await self._open(job, objects)
        for job in await self.store.claim_jobs(JobStatus.STOPPING, self._open_lease_s):
            log.info("reconcile_close_job", job_id=job.job_id)
            await self._close(job)
        await self._replay_lost_labels()

    async def _replay_lost_labels(self) -> None:
        """Objects complete in workforce but unlabeled here for `replay_after_s`: their consolidated label
        was lost (e.g. a broker that keeps its log in memory restarted); ask workforce to publish the
        answers again so consolidation labels them."""
        job_ids = await self.store.active_job_ids(JobStatus.IN_PROGRESS)
        for gone in set(self._unlabeled_since) - set(job_ids):
            del self._unlabeled_since[gone]
        now = time.monotonic()
        for job_id in job_ids:
            try:
                progress = await self.workforce.progress(job_id)
            except WorkforceError as err:
                log.warning("reconcile_progress_failed", job_id=job_id, error=str(err))
                continue
            missing = await self.store.unlabeled_among(job_id, progress.complete_object_ids)
            seen = self._unlabeled_since.setdefault(job_id, {})
            current = set(missing)
            for object_id in list(seen):
                if object_id not in current:
                    del seen[object_id]
            due = []
            for object_id in missing:
                first = seen.setdefault(object_id, now)
                if now - first >= self.settings.replay_after_s:
                    due.append(object_id)
            if not due:
                continue
            try:
                republished = 0
                for start in range(0, len(due), REPLAY_BATCH):
                    republished += await self.workforce.replay_answers(
                        job_id, due[start : start + REPLAY_BATCH]
                    )
            except WorkforceError as err:
                log.warning("replay_failed", job_id=job_id, objects=len(due), error=str(err))
                continue
            log.warning(
                "replay_requested",
                job_id=job_id,
                objects=len(due),
                republished=republished,
                first_object_ids=due[:10],
            )
            for object_id in due:  # wait another replay_after_s before asking again
                seen[object_id] = now

    # -- helpers ------------------------------------------------------------------------------------

    @property
    def _open_lease_s(self) -> float:
        return max(60.0, 4 * self.settings.reconcile_interval_s)

    async def _owned_job(self, job_id: str, requester_id: str) -> JobRecord:
        # PostgreSQL refuses text with a NUL byte: such an id names no job (rather than an internal error).
        job = await self.store.get_job(job_id) if job_id and "\x00" not in job_id else None
        if job is None or job.requester_id != requester_id:  # never reveal another requester's job
            raise NotFound(f"job {job_id!r} not found", reason="job_not_found")
        return job

    async def _view(self, job: JobRecord) -> JobView:
        if job.status == JobStatus.INITIALIZING:
            return JobView(job, job.label_answers)
        try:
            progress = await self.workforce.progress(job.job_id, timeout_s=self.settings.progress_timeout_s)
        except WorkforceError as err:
            log.debug("progress_unavailable", job_id=job.job_id, error=str(err))
            return JobView(job, job.label_answers)
        return JobView(job, max(progress.answers, 0))

    async def _check_team(self, requester_id: str, team_id: str, *, count_workers: bool) -> int:
        """Check the team is the requester's; returns its workers now if `count_workers`, else 0."""
        try:
            teams = await self.workforce.team_ids(requester_id)
            if team_id not in teams:
                raise NotFound(
                    f"team {team_id!r} not found among this requester's teams", reason="team_not_found"
                )
            return await self.workforce.team_size(requester_id, team_id) if count_workers else 0
        except WorkforceError as err:
            if err.retryable:
                raise Unavailable(
                    "the workforce service is unavailable, so the team cannot be checked; try again shortly",
                    reason="workforce_unavailable",
                ) from err
            raise

    async def _manifest_bytes(self, source: ManifestSource) -> bytes:
        limit = self.settings.max_manifest_bytes
        if source.data is not None:
            if len(source.data) > limit:
                raise InvalidArgument(
                    f"manifest is {len(source.data)} bytes, the limit is {limit} bytes",
                    reason="manifest_too_large",
                )
            return source.data
        if not source.path:
            raise InvalidArgument(
                "a manifest is required: send manifest_data or manifest_path", reason="manifest_missing"
            )
        path = resolve_manifest_path(source.path, self.settings.manifest_root)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise InvalidArgument(
                    f"manifest_path {source.path!r} is not a file", reason="manifest_unreadable"
                )
            if size > limit:
                raise InvalidArgument(
                    f"manifest {source.path!r} is {size} bytes, the limit is {limit} bytes",
                    reason="manifest_too_large",
                )
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as err:
            raise InvalidArgument(
                f"manifest_path {source.path!r} does not exist on the jobs service",
                reason="manifest_unreadable",
            ) from err
        except PermissionError as err:
            raise InvalidArgument(
                f"manifest_path {source.path!r} cannot be read by the jobs service",
                reason="manifest_unreadable",
            ) from err
        except OSError as err:
            raise InvalidArgument(
                f"manifest_path {source.path!r} cannot be read: {err.strerror}", reason="manifest_unreadable"
            ) from err

    async def _stored_objects(
        self,
        job_id: str,
        source_label_attribute: str = "",
        *,
        custom: bool = False,
        sent_only: bool = False,
        known: str = "",
        draws: DrawAnswers = DrawAnswers(),
    ) -> AsyncIterator[DataObject]:
        """`draws`: what the objects stored with their own answer count (the random draws) get."""
        async for object_id, line, required in self.store.object_lines(job_id, sent_only=sent_only):
            data = json.loads(line)
            prev = previous_label(data, source_label_attribute)[0] if source_label_attribute else None
            obj = DataObject(
                object_id,
                data.get("source") or "",
                data.get("source-ref") or "",
                canonical_json(prev.as_dict()) if prev is not None else "",
                canonical_json(data) if custom else "",
                known_label(data, known),
            )
            yield draws.apply(obj, required)

    async def _open(self, job: JobRecord, objects: Sequence[DataObject]) -> None:
        """Load the objects into workforce and open the job; on success the job is in progress."""
        spec = job.spec
        try:
            calls = await self.workforce.put_objects(job.job_id, objects)
            await self.workforce.open_job(
                OpenSpec(
                    job_id=job.job_id,
                    owner_id=job.requester_id,
                    team_id=spec.team_id,
                    name=spec.name,
                    task_type=spec.task_type,
                    categories=spec.categories,
                    workers_per_object=spec.workers_per_object,
                    task_time_limit_s=spec.task_time_limit_s,
                    price_per_task_usd=spec.price_per_task_usd,
                    instructions=spec.instructions,
                    object_count=job.counters.total,
                    target_confidence=spec.target_confidence,
                    min_workers_per_object=spec.min_workers,
                    template=spec.template,
                )
            )
        except WorkforceError as err:
            if err.retryable:
                log.warning(
                    "open_job_deferred",
                    job_id=job.job_id,
                    error=str(err),
                    retry_in_s=self.settings.reconcile_interval_s,
                )
                await self.store.retry_later(job.job_id, self.settings.reconcile_interval_s)
                return
            log.error("open_job_refused", job_id=job.job_id, error=str(err))
            await self.store.transition(
                job.job_id,
                JobStatus.FAILED,
                allowed_from=[JobStatus.INITIALIZING],
                failure_reason=f"workforce refused the job: {err.code.name}: {err.details}",
            )
            return
        log.info("job_opened", job_id=job.job_id, objects=len(objects), put_calls=calls)
        moved = await self.store.transition(
            job.job_id, JobStatus.IN_PROGRESS, allowed_from=[JobStatus.INITIALIZING]
        )
        if moved is None:
            current = await self.store.get_job(job.job_id)
            if current is not None and current.status in (JobStatus.STOPPING, JobStatus.STOPPED):
                # Stopped while we were opening it: make sure workforce does not keep handing out tasks.
                await self._close(current)
            return
        await self.store.complete_if_done(job.job_id)

    async def _close(self, job: JobRecord) -> None:
        try:
            await self.workforce.close_job(job.job_id)
        except WorkforceError as err:
            if err.retryable:
                log.warning(
                    "close_job_deferred",
                    job_id=job.job_id,
                    error=str(err),
                    retry_in_s=self.settings.reconcile_interval_s,
                )
                await self.store.retry_later(job.job_id, self.settings.reconcile_interval_s)
                return
            # NOT_FOUND etc.: workforce has nothing to close (e.g. stopped before it was ever opened).
            log.warning("close_job_refused", job_id=job.job_id, error=str(err))
        await self.store.transition(job.job_id, JobStatus.STOPPED, allowed_from=[JobStatus.STOPPING])


def resolve_manifest_path(raw: str, root: Path | None) -> Path:
    """A manifest path or file:// URI as a local path, confined to `root` when one is configured."""
    value = raw
    if raw.startswith("file:"):
        parts = urlsplit(raw)
        if parts.netloc not in ("", "localhost"):
            raise InvalidArgument(
                f"manifest_path {raw!r} names another host; use a local file",
                reason="manifest_unreadable",
            )
        value = unquote(parts.path)
    elif "://" in raw:
        raise InvalidArgument(
            f"manifest_path {raw!r} must be a local path or a file:// URI", reason="manifest_unreadable"
        )
    path = Path(value)
    if root is not None:
        root = root.resolve()
        path = (root / path).resolve()
        if not path.is_relative_to(root):
            raise PermissionDenied(
                f"manifest_path {raw!r} is outside the directory the jobs service reads manifests from",
                reason="manifest_path_forbidden",
            )
    return path


def _data_object(
    obj: ManifestObject,
    previous: Previous | None = None,
    *,
    custom: bool = False,
    known: str = "",
) -> DataObject:
    """The object as workforce stores it; a custom task's input is the whole manifest line; `known`: the
    job's known-answer attribute (the object's known class goes along, for consolidation only)."""
    prev = canonical_json(previous.as_dict()) if previous is not None else ""
    line = canonical_json(obj.data) if custom else ""
    return DataObject(
        obj.object_id,
        obj.source or "",
        obj.source_ref or "",
        prev,
        line,
        known_label(obj.data, known),
    )


def _epoch_us(at: datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
