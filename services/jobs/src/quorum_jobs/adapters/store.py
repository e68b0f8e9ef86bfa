"""PostgreSQL storage of requesters, jobs, their objects and labels (SQLAlchemy Core, async).

Every job state change goes through `transition`, which locks the job row, checks the state machine and
queues a JobStatusChanged event in the same transaction (transactional outbox).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Row, any_, bindparam, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum.events.v1 import events_pb2
from quorum_common.db import transaction
from quorum_common.events import JOB_STATUS_TOPIC, envelope
from quorum_common.logging import get_logger
from quorum_common.outbox import Outbox
from quorum_jobs.adapters.tables import autolabel_iterations, job_objects, jobs, requesters
from quorum_jobs.core.autolabel import OFF, AutoLabelSpec, FirstBatch
from quorum_jobs.core.manifest import ManifestObject
from quorum_jobs.core.paging import Cursor
from quorum_jobs.core.spec import JobSpec
from quorum_jobs.core.states import ACCEPTS_LABELS, JobStatus, LabelCounters, check_transition
from quorum_jobs.errors import AlreadyExists

log = get_logger(__name__)

API_KEY_PREFIX = "qr_"
_INSERT_CHUNK = 2000


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class RequesterRecord:
    requester_id: str
    name: str


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    requester_id: str
    spec: JobSpec
    status: JobStatus
    counters: LabelCounters
    label_answers: int
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    failure_reason: str | None


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """One LabelConsolidated event, decoded; `label` empty means consolidation gave up on the object."""

    job_id: str
    object_id: int
    label: str
    confidence: float
    human_annotated: bool
    answer_count: int
    labeled_at: datetime
    # Structured task types: the label as JSON (stored in `label`; class_index stays NULL).
    label_json: str = ""
    # 0: the object's first label; n > 0 replaces revision n - 1 (a refitted worker model changed it).
    revision: int = 0


@dataclass(frozen=True, slots=True)
class OutputRow:
    object_id: int
    line: str
    label: str | None
    class_index: int | None
    confidence: float | None
    human_annotated: bool | None
    labeled_at: datetime | None
    failure_reason: str | None


@dataclass
class LabelBatchResult:
    applied: int = 0
    revised: int = 0
    duplicates: int = 0
    skipped: int = 0
    completed_jobs: list[str] = field(default_factory=list)


def _job_record(row: Row) -> JobRecord:
    m = row._mapping
    return JobRecord(
        job_id=m["job_id"],
        requester_id=m["requester_id"],
        spec=JobSpec(
            name=m["name"],
            task_type=m["task_type"],
            label_attribute_name=m["label_attribute_name"],
            categories=tuple(m["categories"]),
            workers_per_object=m["workers_per_object"],
            task_time_limit_s=m["task_time_limit_s"],
            price_per_task_usd=m["price_per_task_usd"],
            team_id=m["team_id"],
            instructions=m["instructions"],
            target_confidence=m["target_confidence"],
            min_workers_per_object=m["min_workers_per_object"],
            source_label_attribute=m["source_label_attribute"],
            template=m["template"],
            custom_consolidation=m["custom_consolidation"],
            auto_labeling=AutoLabelSpec(
                enabled=m["auto_labeling"],
                target_accuracy=m["auto_target_accuracy"],
                min_dataset_size=m["auto_min_dataset_size"],
                max_human_labeled=m["auto_max_human_labeled"],
                validation_workers=m["auto_validation_workers"],
            )
            if m["auto_labeling"]
            else OFF,
            known_answer_attribute=m["known_answer_attribute"],
        ),
        status=JobStatus(m["status"]),
        counters=LabelCounters(m["total"], m["human_labeled"], m["machine_labeled"], m["failed"]),
        label_answers=m["label_answers"],
        created_at=m["created_at"],
        completed_at=m["completed_at"],
        updated_at=m["updated_at"],
        failure_reason=m["failure_reason"],
    )


async def _mark_first_batch(
    session: AsyncSession, job_id: str, batch: FirstBatch, total: int, *, required_answers: int
) -> None:
    """`required_answers`: each object's own answer count (random draws: core/autolabel.draw_answers)."""
    t = job_objects
    for ids, validation in ((batch.validation, True), (batch.training, False)):
        if ids:
            await session.execute(
                t.update()
                .where(
                    t.c.job_id == job_id,
                    t.c.object_id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger))),
                )
                .values(auto_iteration=0, auto_validation=validation, required_answers=required_answers)
            )
    sent = len(batch.validation) + len(batch.training)
    await session.execute(
        autolabel_iterations.insert().values(
            job_id=job_id,
            iteration=0,
            machine_labeled=0,
            sent_to_humans=sent,
            human_labeled_total=0,
            machine_labeled_total=0,
            unlabeled=total,
            decision="continue",
            released=True,  # opening the job puts the batch into workforce (retried while initializing)
        )
    )


def status_event(job_id: str, status: JobStatus) -> tuple[str, bytes, events_pb2.EventEnvelope]:
    env = envelope(job_status_changed=events_pb2.JobStatusChanged(job_id=job_id, status=status.value))
    return JOB_STATUS_TOPIC, job_id.encode(), env


class JobStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox) -> None:
        self.sessions = sessions
        self.outbox = outbox

    # -- requesters ---------------------------------------------------------------------------------

    async def create_requester(self, name: str) -> tuple[RequesterRecord, str]:
        api_key = new_api_key()
        record = RequesterRecord(uuid.uuid4().hex, name)
        async with transaction(self.sessions) as s:
            await s.execute(
                requesters.insert().values(
                    requester_id=record.requester_id, name=name, api_key_sha256=hash_api_key(api_key)
                )
            )
        return record, api_key

    async def requester_by_key(self, api_key: str) -> RequesterRecord | None:
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(requesters.c.requester_id, requesters.c.name).where(
                        requesters.c.api_key_sha256 == hash_api_key(api_key)
                    )
                )
            ).first()
        return RequesterRecord(row.requester_id, row.name) if row else None

    async def requester_exists(self, requester_id: str) -> bool:
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(requesters.c.requester_id).where(requesters.c.requester_id == requester_id)
                )
            ).first()
        return row is not None

    # -- jobs ---------------------------------------------------------------------------------------

    async def job_name_taken(self, requester_id: str, name: str) -> bool:
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(jobs.c.job_id).where(
                        jobs.c.requester_id == requester_id, func.lower(jobs.c.name) == name.lower()
                    )
                )
            ).first()
        return row is not None

    async def insert_job(
        self,
        job_id: str,
        requester_id: str,
        spec: JobSpec,
        objects: Sequence[ManifestObject],
        *,
        retry_lease_s: float,
        first_batch: FirstBatch | None = None,
        draw_required: int = 0,
    ) -> None:
        """Store the job (initializing) and all its objects in one transaction; an automated-labeling job's
        `first_batch` is marked as sent to humans by iteration 0 (only those objects go to workforce), each
        with `draw_required` answers (core/autolabel.draw_answers; 0 = the job's rule)."""
        auto = spec.auto_labeling
        try:
            async with transaction(self.sessions) as s:
                await s.execute(
                    jobs.insert().values(
                        job_id=job_id,
                        requester_id=requester_id,
                        name=spec.name,
                        task_type=spec.task_type,
                        label_attribute_name=spec.label_attribute_name,
                        categories=list(spec.categories),
                        workers_per_object=spec.workers_per_object,
                        task_time_limit_s=spec.task_time_limit_s,
                        price_per_task_usd=spec.price_per_task_usd,
                        team_id=spec.team_id,
                        instructions=spec.instructions,
                        target_confidence=spec.target_confidence,
                        min_workers_per_object=spec.min_workers,
                        source_label_attribute=spec.source_label_attribute,
                        template=spec.template,
                        custom_consolidation=spec.custom_consolidation,
                        auto_labeling=auto.enabled,
                        auto_target_accuracy=auto.target_accuracy if auto.enabled else 0.0,
                        auto_min_dataset_size=auto.min_dataset_size if auto.enabled else 0,
                        auto_max_human_labeled=auto.max_human_labeled,
                        auto_validation_workers=auto.validation_workers,
                        known_answer_attribute=spec.known_answer_attribute,
                        status=JobStatus.INITIALIZING.value,
                        total=len(objects),
                        # The creating call opens the job itself; the reconciler steps in after this lease.
                        next_retry_at=func.now() + text(f"interval '{retry_lease_s:.3f} seconds'"),
                    )
                )
                for start in range(0, len(objects), _INSERT_CHUNK):
                    await s.execute(
                        job_objects.insert(),
                        [
                            {"job_id": job_id, "object_id": o.object_id, "line": o.canonical}
                            for o in objects[start : start + _INSERT_CHUNK]
                        ],
                    )
                if first_batch is not None:
                    await _mark_first_batch(
                        s,
                        job_id,
                        first_batch,
                        len(objects),
                        required_answers=draw_required,
                    )
                await self.outbox.add_events(s, [status_event(job_id, JobStatus.INITIALIZING)])
        except IntegrityError as err:
            if "uq_jobs_requester_name" in str(err.orig):
                raise AlreadyExists(
                    f"a job named {spec.name!r} already exists for this requester "
                    "(job names are unique per requester, ignoring case)",
                    reason="job_name_exists",
                ) from err
            raise

    async def get_job(self, job_id: str) -> JobRecord | None:
        async with self.sessions() as s:
            row = (await s.execute(select(jobs).where(jobs.c.job_id == job_id))).first()
        return _job_record(row) if row else None

    async def list_jobs(self, requester_id: str, after: Cursor | None, limit: int) -> list[JobRecord]:
        query = select(jobs).where(jobs.c.requester_id == requester_id)
        if after is not None:
            after_ts = datetime.fromtimestamp(after.created_at_us / 1_000_000, UTC)
            query = query.where(tuple_(jobs.c.created_at, jobs.c.job_id) < tuple_(after_ts, after.job_id))
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.job_id.desc()).limit(limit)
        async with self.sessions() as s:
            return [_job_record(row) for row in await s.execute(query)]

    async def transition(
        self,
        job_id: str,
        target: JobStatus,
        *,
        allowed_from: Iterable[JobStatus] | None = None,
        failure_reason: str | None = None,
        retry_lease_s: float | None = None,
    ) -> JobRecord | None:
        """Move the job to `target` if the state machine allows it.

        With `allowed_from`, a job in another state is left alone and None is returned (a benign race, e.g.
        the job was stopped while it was being opened); without it, an illegal move raises invalid_state.
        `retry_lease_s` keeps the reconciler away while the caller makes the follow-up remote call itself.
        """
        async with transaction(self.sessions) as s:
            row = (
                await s.execute(select(jobs.c.status).where(jobs.c.job_id == job_id).with_for_update())
            ).first()
            if row is None:
                return None
            current = JobStatus(row.status)
            if allowed_from is not None and current not in set(allowed_from):
                return None
            check_transition(current, target)
            values: dict[str, object] = {"status": target.value, "updated_at": func.now()}
            if target in (JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.FAILED):
                values["completed_at"] = func.now()
            if failure_reason is not None:
                values["failure_reason"] = failure_reason
            if retry_lease_s is not None:
                values["next_retry_at"] = func.now() + text(f"interval '{retry_lease_s:.3f} seconds'")
            updated = (
                await s.execute(
                    jobs.update().where(jobs.c.job_id == job_id).values(**values).returning(*jobs.c)
                )
            ).one()
            await self.outbox.add_events(s, [status_event(job_id, target)])
        log.info("job_status_changed", job_id=job_id, old=current.value, new=target.value)
        return _job_record(updated)

    async def claim_jobs(self, status: JobStatus, lease_s: float, limit: int = 50) -> list[JobRecord]:
        """Jobs in `status` whose retry time has come; their next retry moves `lease_s` ahead (so several
        replicas, or a slow attempt, never work on the same job at once)."""
        async with transaction(self.sessions) as s:
            ids = (
                select(jobs.c.job_id)
                .where(jobs.c.status == status.value, jobs.c.next_retry_at <= func.now())
                .order_by(jobs.c.next_retry_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = await s.execute(
                jobs.update()
                .where(jobs.c.job_id.in_(ids))
                .values(next_retry_at=func.now() + text(f"interval '{lease_s:.3f} seconds'"))
                .returning(*jobs.c)
            )
            return [_job_record(row) for row in rows]

    async def retry_later(self, job_id: str, delay_s: float) -> None:
        async with transaction(self.sessions) as s:
            await s.execute(
                jobs.update()
                .where(jobs.c.job_id == job_id)
                .values(next_retry_at=func.now() + text(f"interval '{delay_s:.3f} seconds'"))
            )

    async def active_job_ids(self, status: JobStatus) -> list[str]:
        async with self.sessions() as s:
            return list(
                (await s.execute(select(jobs.c.job_id).where(jobs.c.status == status.value))).scalars()
            )

    # -- objects and labels ------------------------------------------------------------------------

    async def object_lines(
        self, job_id: str, batch: int = 5000, *, sent_only: bool = False
    ) -> AsyncIterator[tuple[int, str, int]]:
        """(object_id, line, its own answer count or 0) in object order, read in keyset pages (no long-lived
        transaction); with `sent_only`, only the objects an automated-labeling loop has sent to humans."""
        after = -1
        t = job_objects
        while True:
            query = select(t.c.object_id, t.c.line, t.c.required_answers).where(
                t.c.job_id == job_id, t.c.object_id > after
            )
            if sent_only:
                query = query.where(
                    job_objects.c.auto_iteration.is_not(None),
                    job_objects.c.human_annotated.is_distinct_from(False),
                )
            async with self.sessions() as s:
                rows = (await s.execute(query.order_by(job_objects.c.object_id).limit(batch))).all()
            for row in rows:
                yield row.object_id, row.line, row.required_answers
            if len(rows) < batch:
                return
            after = rows[-1].object_id

    async def output_rows(
        self, job_id: str, *, labeled_only: bool, batch: int = 2000
    ) -> AsyncIterator[OutputRow]:
        t = job_objects
        after = -1
        while True:
            query = select(
                t.c.object_id,
                t.c.line,
                t.c.label,
                t.c.class_index,
                t.c.confidence,
                t.c.human_annotated,
                t.c.labeled_at,
                t.c.failure_reason,
            ).where(t.c.job_id == job_id, t.c.object_id > after)
            if labeled_only:
                query = query.where(t.c.label.is_not(None))
            async with self.sessions() as s:
                rows = (await s.execute(query.order_by(t.c.object_id).limit(batch))).all()
            for row in rows:
                yield OutputRow(**row._mapping)
            if len(rows) < batch:
                return
            after = rows[-1].object_id

    async def object_row(self, job_id: str, object_id: int) -> OutputRow | None:
        """One object's input line and label, or None for an unknown object."""
        t = job_objects
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(
                        t.c.object_id,
                        t.c.line,
                        t.c.label,
                        t.c.class_index,
                        t.c.confidence,
                        t.c.human_annotated,
                        t.c.labeled_at,
                        t.c.failure_reason,
                    ).where(t.c.job_id == job_id, t.c.object_id == object_id)
                )
            ).first()
        return OutputRow(**row._mapping) if row is not None else None

    async def unlabeled_among(self, job_id: str, object_ids: Sequence[int]) -> list[int]:
        if not object_ids:
            return []
        t = job_objects
        async with self.sessions() as s:
            rows = await s.execute(
                select(t.c.object_id)
                .where(
                    t.c.job_id == job_id,
                    t.c.label.is_(None),
                    t.c.failure_reason.is_(None),
                    t.c.object_id == any_(bindparam("ids", list(object_ids), type_=ARRAY(BigInteger))),
                )
                .order_by(t.c.object_id)
            )
            return list(rows.scalars())

    async def apply_labels(
        self, session: AsyncSession, events: Sequence[LabelEvent], failure_reason: str
    ) -> LabelBatchResult:
        """Record a batch of labels in the caller's transaction: first label wins (a newer revision replaces
        it), counters move, finished jobs complete. Three statements whatever the batch size (plus one per job
        touched)."""
        result = LabelBatchResult()
        job_ids = sorted({ev.job_id for ev in events})
        if not job_ids:
            return result
        # Lock the jobs (in id order: no deadlocks between replicas) so a concurrent stop sees the labels.
        job_rows = {
            row.job_id: row
            for row in await session.execute(
                select(jobs.c.job_id, jobs.c.status, jobs.c.categories, jobs.c.total)
                .where(jobs.c.job_id.in_(job_ids))
                .order_by(jobs.c.job_id)
                .with_for_update()
            )
        }
        # One valid event per object: the newest revision (consolidation can label an object and revise it in
        # one transaction, so both often arrive in one batch), else the first. Invalid events are dropped
        # before this, so that a bad record cannot shadow a good one for the same object in the same batch.
        unique: dict[tuple[str, int], tuple[LabelEvent, int | None]] = {}
        for ev in events:
            job = job_rows.get(ev.job_id)
            if job is None:
                log.warning("label_for_unknown_job", job_id=ev.job_id, object_id=ev.object_id)
                result.skipped += 1
                continue
            if not 0 <= ev.object_id < job.total:  # object ids are dense: 0 .. total-1
                log.warning(
                    "label_for_unknown_object", job_id=ev.job_id, object_id=ev.object_id, total=job.total
                )
                result.skipped += 1
                continue
            class_index: int | None = None
            if ev.label and not ev.label_json:
                try:
                    class_index = list(job.categories).index(ev.label)
                except ValueError:
                    log.warning(
                        "label_not_a_category", job_id=ev.job_id, object_id=ev.object_id, label=ev.label
                    )
                    result.skipped += 1
                    continue
            seen = unique.get((ev.job_id, ev.object_id))
            if seen is not None:
                result.duplicates += 1
            if seen is None or ev.revision > seen[0].revision:
                unique[(ev.job_id, ev.object_id)] = (ev, class_index)
        cols: dict[str, list[object]] = defaultdict(list)
        revisions: list[tuple[LabelEvent, list[str]]] = []
        for (job_id, object_id), (ev, class_index) in unique.items():
            job = job_rows[job_id]
            if JobStatus(job.status) not in ACCEPTS_LABELS:
                if ev.revision > 0 and ev.label and not ev.label_json:
                    # A better label for an object labeled before the job ended: counters do not move.
                    revisions.append((ev, list(job.categories)))
                    continue
                log.info("label_for_closed_job", job_id=job_id, object_id=object_id, status=job.status)
                result.skipped += 1
                continue
            stored_label = ev.label_json or ev.label
            cols["job_id"].append(job_id)
            cols["object_id"].append(object_id)
            cols["label"].append(stored_label or None)
            cols["class_index"].append(class_index)
            cols["confidence"].append(ev.confidence if stored_label else None)
            cols["human"].append(ev.human_annotated if stored_label else None)
            cols["labeled_at"].append(ev.labeled_at)
            cols["answer_count"].append(ev.answer_count)
            cols["failure_reason"].append(None if stored_label else failure_reason)
            cols["revision"].append(ev.revision)
            if ev.revision > 0 and class_index is not None:
                revisions.append((ev, list(job.categories)))
        result.revised = await self._apply_revisions(session, revisions)
        if not cols:
            return result
        updated = (
            await session.execute(
                text("""
            UPDATE job_objects AS o
               SET label = v.label, class_index = v.class_index, confidence = v.confidence,
                   human_annotated = v.human, labeled_at = v.labeled_at, answer_count = v.answer_count,
                   failure_reason = v.failure_reason, label_revision = v.revision
              FROM unnest(CAST(:job_id AS TEXT[]), CAST(:object_id AS BIGINT[]), CAST(:label AS TEXT[]),
                          CAST(:class_index AS INT[]), CAST(:confidence AS DOUBLE PRECISION[]),
                          CAST(:human AS BOOLEAN[]), CAST(:labeled_at AS TIMESTAMPTZ[]),
                          CAST(:answer_count AS INT[]), CAST(:failure_reason AS TEXT[]),
                          CAST(:revision AS INT[]))
                   AS v(job_id, object_id, label, class_index, confidence, human, labeled_at, answer_count,
                        failure_reason, revision)
             WHERE o.job_id = v.job_id AND o.object_id = v.object_id
               AND o.label IS NULL AND o.failure_reason IS NULL
         RETURNING o.job_id, o.human_annotated, o.failure_reason IS NOT NULL AS failed, o.answer_count
        """),
                dict(cols),
            )
        ).all()
        result.applied = len(updated)
        result.duplicates += len(cols["job_id"]) - len(updated)
        delta: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # human, machine, failed, answers
        for row in updated:
            d = delta[row.job_id]
            if row.failed:
                d[2] += 1
            elif row.human_annotated:
                d[0] += 1
            else:
                d[1] += 1
            d[3] += row.answer_count or 0
        for job_id in sorted(delta):
            human, machine, failed, answers = delta[job_id]
            row = (
                await session.execute(
                    jobs.update()
                    .where(jobs.c.job_id == job_id)
                    .values(
                        human_labeled=jobs.c.human_labeled + human,
                        machine_labeled=jobs.c.machine_labeled + machine,
                        failed=jobs.c.failed + failed,
                        label_answers=jobs.c.label_answers + answers,
                        updated_at=func.now(),
                    )
                    .returning(
                        jobs.c.status,
                        jobs.c.total,
                        jobs.c.human_labeled,
                        jobs.c.machine_labeled,
                        jobs.c.failed,
                    )
                )
            ).one()
            counters = LabelCounters(row.total, row.human_labeled, row.machine_labeled, row.failed)
            if row.status == JobStatus.IN_PROGRESS.value and counters.done:
                check_transition(JobStatus.IN_PROGRESS, JobStatus.COMPLETED)
                await session.execute(
                    jobs.update()
                    .where(jobs.c.job_id == job_id)
                    .values(status=JobStatus.COMPLETED.value, completed_at=func.now(), updated_at=func.now())
                )
                await self.outbox.add_events(session, [status_event(job_id, JobStatus.COMPLETED)])
                result.completed_jobs.append(job_id)
                log.info("job_status_changed", job_id=job_id, old="in_progress", new="completed")
        return result

    async def _apply_revisions(
        self, session: AsyncSession, revisions: Sequence[tuple[LabelEvent, list[str]]]
    ) -> int:
        """Replace classification labels by newer revisions (an object's first label is set by the caller's
        UPDATE; this one only touches labeled objects with an older revision). Counters do not move."""
        cols: dict[str, list[object]] = defaultdict(list)
        for ev, categories in revisions:
            if ev.label not in categories:
                continue
            cols["job_id"].append(ev.job_id)
            cols["object_id"].append(ev.object_id)
            cols["label"].append(ev.label)
            cols["class_index"].append(categories.index(ev.label))
            cols["confidence"].append(ev.confidence)
            cols["revision"].append(ev.revision)
        if not cols:
            return 0
        revised = await session.execute(
            text("""
            UPDATE job_objects AS o
               SET label = v.label, class_index = v.class_index, confidence = v.confidence,
                   label_revision = v.revision
              FROM unnest(CAST(:job_id AS TEXT[]), CAST(:object_id AS BIGINT[]), CAST(:label AS TEXT[]),
                          CAST(:class_index AS INT[]), CAST(:confidence AS DOUBLE PRECISION[]),
                          CAST(:revision AS INT[]))
                   AS v(job_id, object_id, label, class_index, confidence, revision)
             WHERE o.job_id = v.job_id AND o.object_id = v.object_id
               AND o.label IS NOT NULL AND o.class_index IS NOT NULL AND o.label_revision < v.revision
         RETURNING o.object_id
        """),
            dict(cols),
        )
        return len(revised.all())

    async def complete_if_done(self, job_id: str) -> JobRecord | None:
        """Complete an in-progress job whose objects all have an outcome (labels that arrived while it was
        still initializing are counted but could not complete it then)."""
        async with transaction(self.sessions) as s:
            row = (await s.execute(select(jobs).where(jobs.c.job_id == job_id).with_for_update())).first()
            if row is None:
                return None
            job = _job_record(row)
            if job.status != JobStatus.IN_PROGRESS or not job.counters.done:
                return None
            updated = (
                await s.execute(
                    jobs.update()
                    .where(jobs.c.job_id == job_id)
                    .values(status=JobStatus.COMPLETED.value, completed_at=func.now(), updated_at=func.now())
                    .returning(*jobs.c)
                )
            ).one()
            await self.outbox.add_events(s, [status_event(job_id, JobStatus.COMPLETED)])
        log.info("job_status_changed", job_id=job_id, old="in_progress", new="completed")
        return _job_record(updated)
