"""PostgreSQL access of the workforce service: the truth that Redis dispatch state is rebuilt from."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import exists, func, select, tuple_
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from quorum.events.v1 import events_pb2
from quorum_common.clock import to_ms
from quorum_common.db import transaction
from quorum_common.outbox import Outbox
from quorum_workforce import SCHEMA
from quorum_workforce.adapters.pgpool import RawPool
from quorum_workforce.adapters.tables import (
    answers,
    closed_objects,
    declines,
    job_objects,
    jobs,
    outbox,
    teams,
    worker_teams,
    workers,
)
from quorum_workforce.core.jobs import JobSpec
from quorum_workforce.core.models import Answer, DataObject, ObjectExtras, Team, Worker
from quorum_workforce.errors import AlreadyExists, NotFound

Event = tuple[str, bytes | None, events_pb2.EventEnvelope]

# Rows per multi-VALUES insert: well under PostgreSQL's 65535 bind parameters.
_INSERT_CHUNK = 2000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _carries_extras(o: Any) -> Any:
    """Objects whose answer events carry more than the answer (ObjectExtras)."""
    return (o.c.known_label != "") | (o.c.model_label != "") | (o.c.required_answers > 0)


def _job_from_row(row: Any) -> JobSpec:
    return JobSpec(
        job_id=row.job_id,
        owner_id=row.owner_id,
        team_id=row.team_id,
        name=row.name,
        task_type=row.task_type,
        categories=tuple(row.categories or ()),
        workers_per_object=row.workers_per_object,
        task_time_limit_s=row.task_time_limit_s,
        price_per_task_usd=row.price_per_task_usd,
        instructions=row.instructions,
        object_count=row.object_count,
        target_confidence=row.target_confidence,
        min_workers_per_object=row.min_workers_per_object,
        template=row.template,
        status=row.status,
        opened_at_ms=to_ms(row.created_at),
    )


def _answer_from_row(row: Any) -> Answer:
    return Answer(
        answer_id=row.answer_id,
        task_id=row.task_id,
        job_id=row.job_id,
        object_id=row.object_id,
        worker_id=row.worker_id,
        label=row.label,
        payload_json=row.payload_json,
        accepted_at_ms=to_ms(row.accepted_at),
        submitted_at_ms=to_ms(row.submitted_at),
        time_spent_s=row.time_spent_s,
    )


def _worker_select() -> Any:
    team_ids = (
        select(func.array_agg(aggregate_order_by(worker_teams.c.team_id, worker_teams.c.team_id)))
        .where(worker_teams.c.worker_id == workers.c.worker_id)
        .scalar_subquery()
    )
    answer_count = (
        select(func.count())
        .select_from(answers)
        .where(answers.c.worker_id == workers.c.worker_id)
        .scalar_subquery()
    )
    return select(
        workers.c.worker_id,
        workers.c.owner_id,
        workers.c.name,
        workers.c.created_at,
        team_ids.label("team_ids"),
        answer_count.label("answers"),
    )


def _worker_from_row(row: Any) -> Worker:
    return Worker(
        worker_id=row.worker_id,
        owner_id=row.owner_id,
        name=row.name,
        team_ids=tuple(row.team_ids or ()),
        created_at_ms=to_ms(row.created_at),
        answers=int(row.answers),
    )


# The submit path's one statement: the answer and, only if it is new, its outbox event, atomically (a single
# statement is its own transaction), so a submit costs one database round trip (see pgpool.py).
_INSERT_ANSWER_AND_EVENT = f"""
    WITH ins AS (
        INSERT INTO "{SCHEMA}".answers (answer_id, task_id, job_id, object_id, worker_id, label, payload_json,
                                        accepted_at, submitted_at, time_spent_s)
        VALUES (%(answer_id)s, %(task_id)s, %(job_id)s, %(object_id)s, %(worker_id)s, %(label)s,
                %(payload_json)s, %(accepted_at)s, %(submitted_at)s, %(time_spent_s)s)
        ON CONFLICT DO NOTHING
        RETURNING answer_id
    ), event AS (
        INSERT INTO "{SCHEMA}".outbox (event_id, topic, key, payload)
        SELECT %(event_id)s, %(topic)s, %(key)s, %(payload)s FROM ins
        RETURNING id
    )
    SELECT answer_id FROM ins
"""


class Repository:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], raw: RawPool, outbox_: Outbox | None = None
    ) -> None:
        self._sessions = sessions
        self._raw = raw
        self.outbox = outbox_ or Outbox(outbox)

    # ---- teams and workers -------------------------------------------------------------------------------

    async def create_team(self, team_id: str, owner_id: str, name: str) -> Team:
        async with transaction(self._sessions) as s:
            row = (
                await s.execute(
                    insert(teams)
                    .values(team_id=team_id, owner_id=owner_id, name=name)
                    .on_conflict_do_nothing(constraint="uq_teams_owner_name")
                    .returning(teams.c.created_at)
                )
            ).first()
        if row is None:
            raise AlreadyExists(f"you already have a team named {name!r}", reason="team_exists")
        return Team(team_id, owner_id, name, to_ms(row.created_at))

    async def list_teams(self, owner_id: str) -> list[Team]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(teams)
                .where(teams.c.owner_id == owner_id)
                .order_by(teams.c.created_at, teams.c.team_id)
            )
            return [Team(r.team_id, r.owner_id, r.name, to_ms(r.created_at)) for r in rows]

    @staticmethod
    async def _require_teams(s: AsyncSession, owner_id: str, team_ids: Sequence[str]) -> None:
        if not team_ids:
            return
        found = set(
            (
                await s.execute(
                    select(teams.c.team_id).where(teams.c.team_id.in_(team_ids), teams.c.owner_id == owner_id)
                )
            ).scalars()
        )
        missing = [t for t in team_ids if t not in found]
        if missing:
            raise NotFound(f"no team {missing[0]!r} among your teams", reason="team_not_found")

    async def create_worker(
        self, worker_id: str, owner_id: str, name: str, team_ids: Sequence[str], token_hash: str
    ) -> Worker:
        async with transaction(self._sessions) as s:
            await self._require_teams(s, owner_id, team_ids)
            row = (
                await s.execute(
                    workers.insert()
                    .values(worker_id=worker_id, owner_id=owner_id, name=name, token_hash=token_hash)
                    .returning(workers.c.created_at)
                )
            ).one()
            if team_ids:
                await s.execute(
                    worker_teams.insert(), [{"worker_id": worker_id, "team_id": t} for t in team_ids]
                )
        return Worker(worker_id, owner_id, name, tuple(sorted(team_ids)), to_ms(row.created_at), 0)

    async def list_workers(self, owner_id: str, team_id: str = "") -> list[Worker]:
        async with self._sessions() as s:
            if team_id:
                await self._require_teams(s, owner_id, [team_id])
            query = _worker_select().where(workers.c.owner_id == owner_id)
            if team_id:
                query = query.where(
                    exists().where(
                        worker_teams.c.worker_id == workers.c.worker_id, worker_teams.c.team_id == team_id
                    )
                )
            rows = await s.execute(query.order_by(workers.c.created_at, workers.c.worker_id))
            return [_worker_from_row(r) for r in rows]

    async def worker_by_token_hash(self, token_hash: str) -> Worker | None:
        async with self._sessions() as s:
            row = (await s.execute(_worker_select().where(workers.c.token_hash == token_hash))).first()
            return _worker_from_row(row) if row is not None else None

    async def workers_team_ids(self, worker_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Each existing worker's teams (workers that don't exist are left out)."""
        async with self._sessions() as s:
            rows = await s.execute(
                select(
                    workers.c.worker_id,
                    select(func.array_agg(worker_teams.c.team_id))
                    .where(worker_teams.c.worker_id == workers.c.worker_id)
                    .scalar_subquery()
                    .label("team_ids"),
                ).where(workers.c.worker_id.in_(worker_ids))
            )
            return {row.worker_id: tuple(sorted(row.team_ids or ())) for row in rows}

    # ---- jobs and objects --------------------------------------------------------------------------------

    async def put_objects(self, job_id: str, objects: Sequence[DataObject]) -> list[int]:
        """Store objects idempotently (first write wins); returns the ids that were new."""
        new_ids: list[int] = []
        async with transaction(self._sessions) as s:
            for start in range(0, len(objects), _INSERT_CHUNK):
                chunk = objects[start : start + _INSERT_CHUNK]
                result = await s.execute(
                    insert(job_objects)
                    .values(
                        [
                            {
                                "job_id": job_id,
                                "object_id": o.object_id,
                                "source": o.source,
                                "source_ref": o.source_ref,
                                "previous_json": o.previous_json,
                                "input_json": o.input_json,
                                "known_label": o.known_label,
                                "model_label": o.model_label,
                                "required_answers": o.required_answers,
                                "min_answers": o.min_answers,
                                "target_confidence": o.target_confidence,
                            }
                            for o in chunk
                        ]
                    )
                    .on_conflict_do_nothing(index_elements=["job_id", "object_id"])
                    .returning(job_objects.c.object_id)
                )
                new_ids.extend(result.scalars())
        return new_ids

    async def upsert_job(self, spec: JobSpec) -> tuple[JobSpec, JobSpec | None]:
        """Store the spec with status open; returns (stored spec, previous spec or None)."""
        async with transaction(self._sessions) as s:
            await self._require_teams(s, spec.owner_id, [spec.team_id])
            previous_row = (
                await s.execute(select(jobs).where(jobs.c.job_id == spec.job_id).with_for_update())
            ).first()
            previous = _job_from_row(previous_row) if previous_row is not None else None
            if previous is not None and previous.owner_id != spec.owner_id:
                raise AlreadyExists(f"job {spec.job_id!r} belongs to another requester", reason="job_exists")
            values = {
                "owner_id": spec.owner_id,
                "team_id": spec.team_id,
                "name": spec.name,
                "task_type": spec.task_type,
                "categories": list(spec.categories),
                "workers_per_object": spec.workers_per_object,
                "task_time_limit_s": spec.task_time_limit_s,
                "price_per_task_usd": spec.price_per_task_usd,
                "instructions": spec.instructions,
                "object_count": spec.object_count,
                "target_confidence": spec.target_confidence,
                "min_workers_per_object": spec.min_workers_per_object,
                "template": spec.template,
                "status": "open",
            }
            stmt = insert(jobs).values(job_id=spec.job_id, **values)
            row = (
                await s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["job_id"], set_={**values, "updated_at": func.now()}
                    ).returning(*jobs.c)
                )
            ).one()
            return _job_from_row(row), previous

    async def get_job(self, job_id: str) -> JobSpec | None:
        async with self._sessions() as s:
            row = (await s.execute(select(jobs).where(jobs.c.job_id == job_id))).first()
            return _job_from_row(row) if row is not None else None

    async def open_jobs(self) -> list[JobSpec]:
        async with self._sessions() as s:
            rows = await s.execute(select(jobs).where(jobs.c.status == "open").order_by(jobs.c.created_at))
            return [_job_from_row(r) for r in rows]

    async def close_job(self, job_id: str) -> JobSpec | None:
        async with transaction(self._sessions) as s:
            row = (
                await s.execute(
                    jobs.update()
                    .where(jobs.c.job_id == job_id)
                    .values(status="closed", updated_at=func.now())
                    .returning(*jobs.c)
                )
            ).first()
            return _job_from_row(row) if row is not None else None

    async def iter_objects(self, job_id: str, batch: int = 5000) -> AsyncIterator[list[DataObject]]:
        """All of a job's objects in id order, in batches (keyset pagination: no long transaction)."""
        after = -1
        while True:
            async with self._sessions() as s:
                rows = (
                    await s.execute(
                        select(
                            job_objects.c.object_id,
                            job_objects.c.source,
                            job_objects.c.source_ref,
                            job_objects.c.required_answers,
                            job_objects.c.min_answers,
                        )
                        .where(job_objects.c.job_id == job_id, job_objects.c.object_id > after)
                        .order_by(job_objects.c.object_id)
                        .limit(batch)
                    )
                ).all()
            if not rows:
                return
            batch_objects = []
            for r in rows:
                batch_objects.append(
                    DataObject(
                        r.object_id,
                        r.source,
                        r.source_ref,
                        required_answers=r.required_answers,
                        min_answers=r.min_answers,
                    )
                )
            yield batch_objects
            after = rows[-1].object_id

    async def object_ids(self, job_id: str) -> list[int]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(job_objects.c.object_id)
                .where(job_objects.c.job_id == job_id)
                .order_by(job_objects.c.object_id)
            )
            return list(rows.scalars())

    async def objects_by_id(self, job_id: str, object_ids: Sequence[int]) -> list[DataObject]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(
                    job_objects.c.object_id,
                    job_objects.c.source,
                    job_objects.c.source_ref,
                    job_objects.c.previous_json,
                    job_objects.c.input_json,
                    job_objects.c.known_label,
                    job_objects.c.model_label,
                    job_objects.c.required_answers,
                    job_objects.c.min_answers,
                    job_objects.c.target_confidence,
                ).where(job_objects.c.job_id == job_id, job_objects.c.object_id.in_(object_ids))
            )
            return [
                DataObject(
                    r.object_id,
                    r.source,
                    r.source_ref,
                    r.previous_json,
                    r.input_json,
                    r.known_label,
                    r.model_label,
                    r.required_answers,
                    r.min_answers,
                    r.target_confidence,
                )
                for r in rows
            ]

    async def has_object_labels(self, job_id: str) -> bool:
        """Whether any object of the job carries a known class, a model label or its own answer count."""
        o = job_objects
        async with self._sessions() as s:
            found = await s.execute(
                select(o.c.object_id).where(o.c.job_id == job_id, _carries_extras(o)).limit(1)
            )
            return found.first() is not None

    async def object_labels(self, job_id: str, object_ids: Sequence[int]) -> dict[int, ObjectExtras]:
        """The known class, model label and answer count of those of these objects that carry any."""
        if not object_ids:
            return {}
        o = job_objects
        async with self._sessions() as s:
            rows = await s.execute(
                select(
                    o.c.object_id,
                    o.c.known_label,
                    o.c.model_label,
                    o.c.required_answers,
                    o.c.min_answers,
                    o.c.target_confidence,
                ).where(
                    o.c.job_id == job_id,
                    o.c.object_id.in_(list(object_ids)),
                    _carries_extras(o),
                )
            )
            return {
                int(r.object_id): ObjectExtras(
                    r.known_label, r.model_label, r.required_answers, r.min_answers, r.target_confidence
                )
                for r in rows
            }

    async def answered_workers(self, job_id: str) -> dict[int, list[str]]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(answers.c.object_id, answers.c.worker_id).where(answers.c.job_id == job_id)
            )
            found: dict[int, list[str]] = defaultdict(list)
            for r in rows:
                found[r.object_id].append(r.worker_id)
            return dict(found)

    async def closed_object_ids(self, job_id: str) -> list[int]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(closed_objects.c.object_id).where(closed_objects.c.job_id == job_id)
            )
            return [r.object_id for r in rows]

    @staticmethod
    async def adaptive_jobs(s: AsyncSession, job_ids: Sequence[str]) -> set[str]:
        """Those of `job_ids` that have a target confidence (their labeled objects close)."""
        if not job_ids:
            return set()
        rows = await s.execute(
            select(jobs.c.job_id).where(jobs.c.job_id.in_(list(job_ids)), jobs.c.target_confidence > 0)
        )
        return {r.job_id for r in rows}

    @staticmethod
    async def early_stop_objects(s: AsyncSession, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Those of the (job, object) `keys` with their own early stop (min_answers: they close when labeled,
        in any job)."""
        if not keys:
            return set()
        o = job_objects
        rows = await s.execute(
            select(o.c.job_id, o.c.object_id).where(
                tuple_(o.c.job_id, o.c.object_id).in_([tuple(k) for k in keys]), o.c.min_answers > 0
            )
        )
        return {(r.job_id, int(r.object_id)) for r in rows}

    @staticmethod
    async def close_objects(s: AsyncSession, keys: Sequence[tuple[str, int]]) -> None:
        """Record labeled objects of adaptive jobs as closed (idempotent), in the caller's transaction."""
        if keys:
            await s.execute(
                insert(closed_objects).on_conflict_do_nothing(),
                [{"job_id": j, "object_id": o} for j, o in keys],
            )

    async def declined_workers(self, job_id: str) -> dict[int, list[str]]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(declines.c.object_id, declines.c.worker_id).where(declines.c.job_id == job_id)
            )
            found: dict[int, list[str]] = defaultdict(list)
            for r in rows:
                found[r.object_id].append(r.worker_id)
            return dict(found)

    async def record_decline(self, job_id: str, object_id: int, worker_id: str) -> None:
        async with transaction(self._sessions) as s:
            await s.execute(
                insert(declines)
                .values(job_id=job_id, object_id=object_id, worker_id=worker_id)
                .on_conflict_do_nothing()
            )

    # ---- answers -----------------------------------------------------------------------------------------

    async def answer_for_task(self, task_id: str) -> Answer | None:
        async with self._sessions() as s:
            row = (await s.execute(select(answers).where(answers.c.task_id == task_id))).first()
            return _answer_from_row(row) if row is not None else None

    async def answered_task_ids(self, task_ids: Sequence[str]) -> set[str]:
        if not task_ids:
            return set()
        async with self._sessions() as s:
            return set(
                (await s.execute(select(answers.c.task_id).where(answers.c.task_id.in_(task_ids)))).scalars()
            )

    async def insert_answer(self, answer: Answer, event: Event) -> bool:
        """Answer and its outbox event in one transaction, committed on return. False: already stored."""
        topic, key, envelope = event
        params = {
            "answer_id": answer.answer_id,
            "task_id": answer.task_id,
            "job_id": answer.job_id,
            "object_id": answer.object_id,
            "worker_id": answer.worker_id,
            "label": answer.label,
            "payload_json": answer.payload_json,
            "accepted_at": from_ms(answer.accepted_at_ms),
            "submitted_at": from_ms(answer.submitted_at_ms),
            "time_spent_s": answer.time_spent_s,
            "event_id": envelope.event_id,
            "topic": topic,
            "key": key,
            "payload": envelope.SerializeToString(),
        }
        row = await self._raw.fetchone(_INSERT_ANSWER_AND_EVENT, params)
        if row is None:
            return False
        self.outbox.wakeup.set()  # as Outbox.add_events does
        return True

    async def answered_by(self, job_id: str, object_id: int, worker_id: str) -> Answer | None:
        async with self._sessions() as s:
            row = (
                await s.execute(
                    select(answers).where(
                        answers.c.job_id == job_id,
                        answers.c.object_id == object_id,
                        answers.c.worker_id == worker_id,
                    )
                )
            ).first()
            return _answer_from_row(row) if row is not None else None

    async def progress(self, job_id: str, required: int) -> tuple[int, list[int]]:
        """(answers, ids of objects with at least `required` answers (or their own count))."""
        o = job_objects
        async with self._sessions() as s:
            total = (
                await s.execute(select(func.count()).select_from(answers).where(answers.c.job_id == job_id))
            ).scalar_one()
            own = func.coalesce(func.max(func.nullif(o.c.required_answers, 0)), required)
            complete = (
                await s.execute(
                    select(answers.c.object_id)
                    .select_from(
                        answers.outerjoin(
                            o, (o.c.job_id == answers.c.job_id) & (o.c.object_id == answers.c.object_id)
                        )
                    )
                    .where(answers.c.job_id == job_id)
                    .group_by(answers.c.object_id)
                    .having(func.count() >= own)
                    .order_by(answers.c.object_id)
                )
            ).scalars()
            return int(total), list(complete)

    async def stream_answers(
        self, job_id: str, object_ids: Sequence[int] = (), batch: int = 1000
    ) -> AsyncIterator[list[Answer]]:
        """A job's answers ordered by object then submission, in keyset-paginated batches."""
        after: tuple[int, datetime, str] | None = None
        while True:
            query = select(answers).where(answers.c.job_id == job_id)
            if object_ids:
                query = query.where(answers.c.object_id.in_(object_ids))
            if after is not None:
                key = tuple_(answers.c.object_id, answers.c.submitted_at, answers.c.answer_id)
                query = query.where(key > tuple_(*after))
            query = query.order_by(answers.c.object_id, answers.c.submitted_at, answers.c.answer_id).limit(
                batch
            )
            async with self._sessions() as s:
                rows = (await s.execute(query)).all()
            if not rows:
                return
            yield [_answer_from_row(r) for r in rows]
            last = rows[-1]
            after = (last.object_id, last.submitted_at, last.answer_id)

    async def add_events(self, events: Sequence[Event]) -> None:
        async with transaction(self._sessions) as s:
            for start in range(0, len(events), _INSERT_CHUNK):
                await self.outbox.add_events(s, list(events[start : start + _INSERT_CHUNK]))
