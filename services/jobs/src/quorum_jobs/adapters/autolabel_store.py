"""PostgreSQL side of the automated-labeling loop: which objects humans have, which are left, and one
transaction per iteration (machine labels, objects sent to humans, budget failures, the iteration row)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Text, any_, bindparam, column, func, select, values
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from quorum_common.db import transaction
from quorum_jobs.adapters.store import JobStore, LabelEvent
from quorum_jobs.adapters.tables import autolabel_iterations, job_objects, jobs
from quorum_jobs.core.states import JobStatus

BUDGET_SPENT_REASON = "the human-label budget (auto_labeling.max_human_labeled) was spent"


@dataclass(frozen=True, slots=True)
class LoopCounts:
    pending: int  # sent to humans, not labeled yet
    remaining: int  # neither labeled nor sent to humans
    sent: int  # ever sent to humans


@dataclass(frozen=True, slots=True)
class HumanLabel:
    object_id: int
    line: str
    label: str
    validation: bool
    confidence: float  # of the consolidated label


@dataclass(frozen=True, slots=True)
class IterationRow:
    iteration: int
    model_version: int
    model_id: str
    metrics: dict[str, Any]
    machine_labeled: int
    sent_to_humans: int
    human_labeled_total: int
    machine_labeled_total: int
    unlabeled: int
    decision: str
    released: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IterationOutcome:
    iteration: int
    model_version: int
    model_id: str
    metrics: dict[str, Any]
    machine_labels: Sequence[tuple[int, str, float]]  # (object_id, label, confidence)
    to_humans: Sequence[int]
    to_fail: Sequence[int]
    decision: str
    # Objects of `to_humans` -> the model's predicted class, stored with them and sent with them to workforce
    # (core/model_annotator.py).
    model_labels: Mapping[int, str] = field(default_factory=dict)
    # The random draws among `to_humans` and the answers each gets (0 = the job's rule: core/autolabel.py,
    # draw_answers), stored with them and sent with them to workforce.
    draws: Sequence[int] = ()
    draw_answers: int = 0


def _ids(ids: Sequence[int]) -> Any:
    return any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))


class AutoLabelStore:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.sessions = store.sessions

    async def running_job_ids(self) -> list[str]:
        async with self.sessions() as s:
            rows = await s.execute(
                select(jobs.c.job_id).where(
                    jobs.c.auto_labeling.is_(True), jobs.c.status == JobStatus.IN_PROGRESS.value
                )
            )
            return list(rows.scalars())

    async def counts(self, job_id: str) -> LoopCounts:
        t = job_objects
        open_ = t.c.label.is_(None) & t.c.failure_reason.is_(None)
        sent = t.c.auto_iteration.is_not(None) & t.c.human_annotated.is_distinct_from(False)
        async with self.sessions() as s:
            row = (
                await s.execute(
                    select(
                        func.count().filter(open_ & t.c.auto_iteration.is_not(None)).label("pending"),
                        func.count().filter(open_ & t.c.auto_iteration.is_(None)).label("remaining"),
                        func.count().filter(sent).label("sent"),
                    ).where(t.c.job_id == job_id)
                )
            ).one()
        return LoopCounts(row.pending, row.remaining, row.sent)

    async def human_labels(self, job_id: str) -> list[HumanLabel]:
        """Objects humans labeled with a class (objects without consensus are left out)."""
        t = job_objects
        async with self.sessions() as s:
            rows = await s.execute(
                select(t.c.object_id, t.c.line, t.c.label, t.c.auto_validation, t.c.confidence)
                .where(t.c.job_id == job_id, t.c.human_annotated.is_(True), t.c.class_index.is_not(None))
                .order_by(t.c.object_id)
            )
            return [
                HumanLabel(r.object_id, r.line, r.label, r.auto_validation, float(r.confidence or 0.0))
                for r in rows
            ]

    async def unsent_lines(self, job_id: str) -> list[tuple[int, str]]:
        t = job_objects
        async with self.sessions() as s:
            rows = await s.execute(
                select(t.c.object_id, t.c.line)
                .where(
                    t.c.job_id == job_id,
                    t.c.auto_iteration.is_(None),
                    t.c.label.is_(None),
                    t.c.failure_reason.is_(None),
                )
                .order_by(t.c.object_id)
            )
            return [(r.object_id, r.line) for r in rows]

    async def sent_objects(self, job_id: str, iteration: int) -> list[tuple[int, str, str, int]]:
        """(object id, line, model label, own answer count or 0) of the objects the iteration sent to humans,
        by object id."""
        t = job_objects
        async with self.sessions() as s:
            rows = await s.execute(
                select(t.c.object_id, t.c.line, t.c.model_label, t.c.required_answers)
                .where(
                    t.c.job_id == job_id,
                    t.c.auto_iteration == iteration,
                    t.c.human_annotated.is_distinct_from(False),
                )
                .order_by(t.c.object_id)
            )
            return [(r.object_id, r.line, r.model_label, r.required_answers) for r in rows]

    async def last_iteration(self, job_id: str) -> IterationRow | None:
        rows = await self.iterations(job_id, last_only=True)
        return rows[0] if rows else None

    async def iterations(self, job_id: str, *, last_only: bool = False) -> list[IterationRow]:
        t = autolabel_iterations
        query = select(t).where(t.c.job_id == job_id)
        query = query.order_by(t.c.iteration.desc()).limit(1) if last_only else query.order_by(t.c.iteration)
        async with self.sessions() as s:
            rows = await s.execute(query)
            return [
                IterationRow(**{k: v for k, v in r._mapping.items() if k != "job_id"})  # type: ignore[arg-type]
                for r in rows
            ]

    async def machine_labeled_versions(self, job_id: str) -> list[int]:
        """The model versions whose committed iterations machine-labeled objects (inference pools only their
        certified sets with a new version's bound)."""
        t = autolabel_iterations
        query = select(t.c.model_version).where(
            t.c.job_id == job_id, t.c.machine_labeled > 0, t.c.model_version > 0
        )
        async with self.sessions() as s:
            return sorted({int(v) for v in (await s.execute(query)).scalars()})

    async def mark_released(self, job_id: str, iteration: int) -> None:
        t = autolabel_iterations
        async with transaction(self.sessions) as s:
            await s.execute(
                t.update().where(t.c.job_id == job_id, t.c.iteration == iteration).values(released=True)
            )

    async def commit_iteration(self, job_id: str, outcome: IterationOutcome) -> bool:
        """Apply one iteration atomically; False if this iteration was committed already (another replica,
        or a retry after a crash that happened after the commit)."""
        now = datetime.now(UTC)
        t = job_objects
        try:
            async with transaction(self.sessions) as s:
                await s.execute(
                    autolabel_iterations.insert().values(
                        job_id=job_id,
                        iteration=outcome.iteration,
                        model_version=outcome.model_version,
                        model_id=outcome.model_id,
                        metrics=outcome.metrics,
                        machine_labeled=0,
                        sent_to_humans=len(outcome.to_humans),
                        human_labeled_total=0,
                        machine_labeled_total=0,
                        unlabeled=0,
                        decision=outcome.decision,
                        released=not outcome.to_humans,
                    )
                )
                events = [
                    LabelEvent(job_id, oid, label, confidence, False, 0, now)
                    for oid, label, confidence in outcome.machine_labels
                ]
                failures = [LabelEvent(job_id, oid, "", 0.0, False, 0, now) for oid in outcome.to_fail]
                # Machine labels and budget failures take only objects that are still open (never a label
                # humans gave meanwhile); counters move and the job completes there when nothing is left.
                applied = await self.store.apply_labels(s, events, BUDGET_SPENT_REASON)
                await self.store.apply_labels(s, failures, BUDGET_SPENT_REASON)
                marked = [oid for oid, _, _ in outcome.machine_labels]
                if marked:
                    await s.execute(
                        t.update()
                        .where(
                            t.c.job_id == job_id,
                            t.c.object_id == _ids(marked),
                            t.c.human_annotated.is_(False),
                        )
                        .values(auto_iteration=outcome.iteration)
                    )
                if outcome.to_humans:
                    await s.execute(
                        t.update()
                        .where(
                            t.c.job_id == job_id,
                            t.c.object_id == _ids(outcome.to_humans),
                            t.c.label.is_(None),
                            t.c.auto_iteration.is_(None),
                        )
                        .values(auto_iteration=outcome.iteration)
                    )
                draws = sorted(set(outcome.draws) & set(outcome.to_humans)) if outcome.draw_answers else []
                if draws:
                    await s.execute(
                        t.update()
                        .where(
                            t.c.job_id == job_id,
                            t.c.object_id == _ids(draws),
                            t.c.auto_iteration == outcome.iteration,
                            t.c.label.is_(None),
                        )
                        .values(required_answers=outcome.draw_answers)
                    )
                predicted = [(oid, label) for oid, label in outcome.model_labels.items() if label]
                if outcome.to_humans and predicted:
                    v = values(
                        column("object_id", BigInteger), column("model_label", Text), name="model_labels"
                    ).data(predicted)
                    await s.execute(
                        t.update()
                        .where(
                            t.c.job_id == job_id,
                            t.c.object_id == v.c.object_id,
                            t.c.auto_iteration == outcome.iteration,
                            t.c.label.is_(None),
                        )
                        .values(model_label=v.c.model_label)
                    )
                totals = (
                    await s.execute(
                        select(
                            jobs.c.total, jobs.c.human_labeled, jobs.c.machine_labeled, jobs.c.failed
                        ).where(jobs.c.job_id == job_id)
                    )
                ).one()
                await s.execute(
                    autolabel_iterations.update()
                    .where(
                        autolabel_iterations.c.job_id == job_id,
                        autolabel_iterations.c.iteration == outcome.iteration,
                    )
                    .values(
                        machine_labeled=applied.applied,
                        human_labeled_total=totals.human_labeled,
                        machine_labeled_total=totals.machine_labeled,
                        unlabeled=totals.total
                        - totals.human_labeled
                        - totals.machine_labeled
                        - totals.failed,
                    )
                )
        except IntegrityError:
            return False
        return True
