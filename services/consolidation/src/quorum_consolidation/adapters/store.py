"""Set-based SQL over the consolidation schema (one statement per step, whatever the batch size)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession

from quorum_consolidation.adapters.tables import answers, job_teams, object_state, worker_skills
from quorum_consolidation.core.model_annotator import MODEL_WORKER_ID
from quorum_consolidation.core.team_priors import WorkerSkill

ObjectKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class StoredLabel:
    job_id: str
    object_id: int
    label: str
    class_index: int
    confidence: float
    method: str
    answer_count: int
    worker_ids: list[str]
    consolidated_at: datetime
    label_json: str = ""
    revision: int = 0


@dataclass(frozen=True, slots=True)
class ObjectStatus:
    job_id: str
    object_id: int
    required_answers: int
    categories: list[str]
    answer_count: int  # distinct human workers stored so far (the unique key makes rows = workers)
    label: StoredLabel | None
    min_answers: int = 0
    target_confidence: float = 0.0
    task_type: str = ""
    previous_json: str = ""
    known_label: str = ""  # known-answer objects: the known class
    model_label: str = ""  # automated labeling: the model's predicted class (stored as its answer too)

    @property
    def adaptive(self) -> bool:
        return self.target_confidence > 0


@dataclass(frozen=True, slots=True)
class ObjectAnswers:
    """One object's stored answers, in submission order."""

    job_id: str
    object_id: int
    worker_ids: list[str]
    labels: list[str]
    payloads: list[str] = field(default_factory=list)


async def insert_objects(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """First answer event of an object fixes what the object needs; later ones change nothing."""
    if rows:
        await session.execute(insert(object_state).on_conflict_do_nothing(), list(rows))


async def insert_answers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Redelivered answers (same answer id, or same worker on the same object) are no-ops."""
    if rows:
        await session.execute(insert(answers).on_conflict_do_nothing(), list(rows))


async def add_model_answers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store the automated-labeling model's answers (`answers` rows of core.model_annotator.MODEL_WORKER_ID,
    at most one per object: the unique key makes later copies no-ops) and each object's model label."""
    if not rows:
        return
    await insert_answers(session, rows)
    s = object_state
    v = values(
        column("job_id", String),
        column("object_id", BigInteger),
        column("label", String),
        name="model_labels",
    ).data([(r["job_id"], r["object_id"], r["label"]) for r in rows])
    await session.execute(
        update(s)
        .where(s.c.job_id == v.c.job_id, s.c.object_id == v.c.object_id, s.c.model_label == "")
        .values(model_label=v.c.label)
    )


def _stored_label(row: Any) -> StoredLabel | None:
    if row.label is None:
        return None
    return StoredLabel(
        job_id=row.job_id,
        object_id=row.object_id,
        label=row.label,
        class_index=row.class_index,
        confidence=row.confidence,
        method=row.method,
        answer_count=row.answer_count,
        worker_ids=list(row.worker_ids or []),
        consolidated_at=row.consolidated_at,
        label_json=row.label_json or "",
        revision=row.revision,
    )


async def object_statuses(session: AsyncSession, keys: Sequence[ObjectKey]) -> list[ObjectStatus]:
    """The objects' state; `answer_count` counts human answers only (not the model's)."""
    s, a = object_state, answers
    n_answers = (
        select(func.count())
        .where(a.c.job_id == s.c.job_id, a.c.object_id == s.c.object_id, a.c.worker_id != MODEL_WORKER_ID)
        .scalar_subquery()
        .label("n_answers")
    )
    rows = await session.execute(
        select(s, n_answers).where(tuple_(s.c.job_id, s.c.object_id).in_(list(keys)))
    )
    return [
        ObjectStatus(
            job_id=row.job_id,
            object_id=row.object_id,
            required_answers=row.required_answers,
            categories=list(row.categories),
            answer_count=row.n_answers,
            label=_stored_label(row),
            min_answers=row.min_answers,
            target_confidence=row.target_confidence,
            task_type=row.task_type,
            previous_json=row.previous_json,
            known_label=row.known_label,
            model_label=row.model_label,
        )
        for row in rows
    ]


async def answers_of(session: AsyncSession, keys: Sequence[ObjectKey]) -> list[ObjectAnswers]:
    """The objects' stored answers, the model's included (core.model_annotator tells them apart)."""
    if not keys:
        return []
    a = answers
    order = (a.c.submitted_at_ms, a.c.answer_id)
    rows = await session.execute(
        select(
            a.c.job_id,
            a.c.object_id,
            func.array_agg(aggregate_order_by(a.c.worker_id, *order)).label("workers"),
            func.array_agg(aggregate_order_by(a.c.label, *order)).label("labels"),
            func.array_agg(aggregate_order_by(a.c.payload_json, *order)).label("payloads"),
        )
        .where(tuple_(a.c.job_id, a.c.object_id).in_(list(keys)))
        .group_by(a.c.job_id, a.c.object_id)
    )
    return [
        ObjectAnswers(r.job_id, r.object_id, list(r.workers), list(r.labels), list(r.payloads)) for r in rows
    ]


async def record_labels(session: AsyncSession, labels: Sequence[dict[str, Any]]) -> list[StoredLabel]:
    """Set the labels of still-unlabeled objects in one UPDATE; returns the ones this call set.

    An object labeled meanwhile (another replica on an overlapping partition) is left as it is and
    not returned, so its label is published once.
    """
    if not labels:
        return []
    s = object_state
    v = values(
        column("job_id", String),
        column("object_id", BigInteger),
        column("label", String),
        column("class_index", Integer),
        column("confidence", Float),
        column("method", String),
        column("answer_count", Integer),
        column("worker_ids", ARRAY(String)),
        column("label_json", Text),
        name="new_labels",
    ).data(
        [
            (
                r["job_id"],
                r["object_id"],
                r["label"],
                r["class_index"],
                r["confidence"],
                r["method"],
                r["answer_count"],
                r["worker_ids"],
                r.get("label_json"),
            )
            for r in labels
        ]
    )
    stmt = (
        update(s)
        .where(s.c.job_id == v.c.job_id, s.c.object_id == v.c.object_id, s.c.label.is_(None))
        .values(
            label=v.c.label,
            class_index=v.c.class_index,
            confidence=v.c.confidence,
            method=v.c.method,
            answer_count=v.c.answer_count,
            worker_ids=v.c.worker_ids,
            label_json=v.c.label_json,
            consolidated_at=func.now(),
        )
        .returning(*s.c)
    )
    rows = await session.execute(stmt)
    return [label for label in map(_stored_label, rows) if label is not None]


async def job_labels(session: AsyncSession, job_id: str) -> list[StoredLabel]:
    s = object_state
    rows = await session.execute(
        select(s).where(s.c.job_id == job_id, s.c.label.is_not(None)).order_by(s.c.object_id)
    )
    return [label for label in map(_stored_label, rows) if label is not None]


async def classification_labels(session: AsyncSession, job_id: str) -> list[StoredLabel]:
    """The job's labels that a worker model gave (not structured task types' labels)."""
    s = object_state
    rows = await session.execute(
        select(s).where(s.c.job_id == job_id, s.c.label.is_not(None), func.coalesce(s.c.label_json, "") == "")
    )
    return [label for label in map(_stored_label, rows) if label is not None]


_REVISION_KEYS = ("job_id", "object_id", "label", "class_index", "confidence", "method", "revision")


async def revise_labels(session: AsyncSession, revisions: Sequence[dict[str, Any]]) -> list[StoredLabel]:
    """Replace labels by revised ones (keys: job_id, object_id, label, class_index, confidence, method,
    revision) where the stored revision is older; returns the rows changed (each to be published again)."""
    if not revisions:
        return []
    s = object_state
    v = values(
        column("job_id", String),
        column("object_id", BigInteger),
        column("label", String),
        column("class_index", Integer),
        column("confidence", Float),
        column("method", String),
        column("revision", Integer),
        name="revised_labels",
    ).data([tuple(r[k] for k in _REVISION_KEYS) for r in revisions])
    stmt = (
        update(s)
        .where(s.c.job_id == v.c.job_id, s.c.object_id == v.c.object_id, s.c.revision < v.c.revision)
        .values(
            label=v.c.label,
            class_index=v.c.class_index,
            confidence=v.c.confidence,
            method=v.c.method,
            revision=v.c.revision,
            consolidated_at=func.now(),
        )
        .returning(*s.c)
    )
    rows = await session.execute(stmt)
    return [label for label in map(_stored_label, rows) if label is not None]


async def known_labels(session: AsyncSession, job_id: str) -> dict[int, str]:
    """The job's known-answer objects that have answers: object id -> known class."""
    s = object_state
    rows = await session.execute(
        select(s.c.object_id, s.c.known_label).where(s.c.job_id == job_id, s.c.known_label != "")
    )
    return {int(object_id): str(label) for object_id, label in rows}


@dataclass(frozen=True, slots=True)
class JobAnswers:
    """All stored answers of one job, as parallel columns."""

    object_ids: list[int]
    worker_ids: list[str]
    labels: list[str]


async def job_answer_counts(session: AsyncSession, job_ids: Sequence[str]) -> dict[str, int]:
    """Stored answers per job, the model's included, as the job model is fitted on them (served by the
    (job_id, object_id, worker_id) unique index)."""
    if not job_ids:
        return {}
    a = answers
    rows = await session.execute(
        select(a.c.job_id, func.count()).where(a.c.job_id.in_(list(job_ids))).group_by(a.c.job_id)
    )
    return {job_id: int(n) for job_id, n in rows}


async def job_answers(session: AsyncSession, job_id: str) -> JobAnswers:
    """Every stored answer of a job, in one query (the unique index leads with job_id)."""
    a = answers
    rows = await session.execute(select(a.c.object_id, a.c.worker_id, a.c.label).where(a.c.job_id == job_id))
    object_ids: list[int] = []
    worker_ids: list[str] = []
    labels: list[str] = []
    for object_id, worker_id, label in rows:
        object_ids.append(object_id)
        worker_ids.append(worker_id)
        labels.append(label)
    return JobAnswers(object_ids, worker_ids, labels)


@dataclass(frozen=True, slots=True)
class JobAnswerRows:
    """All stored answers of one job as parallel columns (in object, then submission order), with each
    answer's object's task type and categories, and the previous label of every object that has one."""

    object_ids: list[int] = field(default_factory=list)
    worker_ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)  # "" for classification answers
    task_types: list[str] = field(default_factory=list)
    categories: list[tuple[str, ...]] = field(default_factory=list)
    previous: dict[int, str] = field(default_factory=dict)  # object id -> previous_json (non-empty only)
    known: dict[int, str] = field(default_factory=dict)  # object id -> known class (known-answer objects)


async def job_answer_rows(session: AsyncSession, job_id: str) -> JobAnswerRows:
    """Every stored answer of a job with its payload and its object's task type, categories and previous
    label and known class, in one query (worker quality of any task type).

    The categories come as JSON text and are decoded once per distinct value (a job has one set, normally),
    not once per row."""
    a, s = answers, object_state
    rows = await session.execute(
        select(
            a.c.object_id,
            a.c.worker_id,
            a.c.label,
            a.c.payload_json,
            s.c.task_type,
            cast(s.c.categories, Text),
            s.c.previous_json,
            s.c.known_label,
        )
        .join(s, (s.c.job_id == a.c.job_id) & (s.c.object_id == a.c.object_id))
        .where(a.c.job_id == job_id)
        .order_by(a.c.object_id, a.c.submitted_at_ms, a.c.answer_id)
    )
    decoded: dict[str, tuple[str, ...]] = {}
    out = JobAnswerRows()
    for object_id, worker_id, label, payload, task_type, cats_json, previous, known in rows:
        cats = decoded.get(cats_json)
        if cats is None:
            cats = decoded[cats_json] = tuple(str(c) for c in json.loads(cats_json))
        out.object_ids.append(object_id)
        out.worker_ids.append(worker_id)
        out.labels.append(label)
        out.payloads.append(payload or "")
        out.task_types.append(task_type)
        out.categories.append(cats)
        if previous:
            out.previous[object_id] = previous
        if known:
            out.known[object_id] = known
    return out


async def record_job_teams(session: AsyncSession, teams: dict[str, str]) -> None:
    """Remember each job's team (job id -> team id, from its answer events); a job keeps its first team."""
    if teams:
        rows = [{"job_id": job, "team_id": team} for job, team in teams.items() if team]
        if rows:
            await session.execute(insert(job_teams).on_conflict_do_nothing(), rows)


async def job_team(session: AsyncSession, job_id: str) -> str:
    """The job's team ("" when its answer events never named one)."""
    team = await session.scalar(select(job_teams.c.team_id).where(job_teams.c.job_id == job_id))
    return str(team or "")


async def save_skills(session: AsyncSession, team_id: str, skills: Sequence[WorkerSkill]) -> None:
    """Store (replace) what a job's fit learned per worker (keyed by team, worker and the skill's job)."""
    if not team_id or not skills:
        return
    rows = [
        {
            "team_id": team_id,
            "worker_id": s.worker_id,
            "job_id": s.job_id,
            "categories": list(s.categories),
            "n_answers": s.n_answers,
            "correct": s.correct,
            "counts": np.round(np.asarray(s.counts, dtype=np.float64), 6).tolist(),
        }
        for s in skills
    ]
    stmt = insert(worker_skills)
    stmt = stmt.on_conflict_do_update(
        index_elements=[worker_skills.c.team_id, worker_skills.c.worker_id, worker_skills.c.job_id],
        set_={
            "categories": stmt.excluded.categories,
            "n_answers": stmt.excluded.n_answers,
            "correct": stmt.excluded.correct,
            "counts": stmt.excluded.counts,
            "updated_at": func.now(),
        },
    )
    await session.execute(stmt, rows)


async def team_skills(
    session: AsyncSession, team_id: str, worker_ids: Sequence[str], exclude_job: str
) -> list[WorkerSkill]:
    """The stored skills of these workers in the team's jobs other than `exclude_job`."""
    if not team_id or not worker_ids:
        return []
    w = worker_skills
    rows = await session.execute(
        select(w.c.worker_id, w.c.job_id, w.c.categories, w.c.n_answers, w.c.counts).where(
            w.c.team_id == team_id,
            w.c.job_id != exclude_job,
            w.c.worker_id == any_(bindparam("workers", list(worker_ids), type_=ARRAY(String))),
        )
    )
    out: list[WorkerSkill] = []
    for worker_id, job_id, cats, n_answers, counts in rows:
        try:
            out.append(WorkerSkill(worker_id, job_id, tuple(str(c) for c in cats), int(n_answers), counts))
        except ValueError:  # a row no fit could have written: skip it rather than fail the job
            continue
    return out
