"""AnswerSubmitted events in, LabelConsolidated events out (through the outbox), one transaction per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from quorum.events.v1 import events_pb2
from quorum_common.clock import to_ms
from quorum_common.events import LABELS_TOPIC, envelope, object_key, parse_envelope
from quorum_common.logging import get_logger
from quorum_common.outbox import Outbox
from quorum_consolidation.adapters import store
from quorum_consolidation.adapters.job_models import JobModels
from quorum_consolidation.core import Answers, ConsolidationInputError, consolidate, validate_categories
from quorum_consolidation.core.consolidate import ConsolidatedLabel
from quorum_consolidation.core.streaming import label_with_model

#: The streaming method that labels from the job-level worker model (any other name: a fit on the batch).
JOB_MODEL_METHOD = "ds"

log = get_logger(__name__)

CONSUMER_NAME = "consolidation-answers"


@dataclass(frozen=True, slots=True)
class IncomingAnswer:
    answer: dict[str, Any]  # an `answers` row
    object_row: dict[str, Any]  # an `object_state` row, used if the object is new


def decode_answer(record: ConsumerRecord) -> IncomingAnswer | None:
    """The rows an AnswerSubmitted record stands for, or None (logged) for anything we cannot use.

    Returning None rather than raising keeps one bad record from blocking its partition forever.
    """
    where = {"partition": record.partition, "offset": record.offset}
    try:
        env = parse_envelope(record.value or b"")
    except DecodeError as err:
        log.warning("answer_skipped", why="undecodable", error=str(err), **where)
        return None
    if env.WhichOneof("payload") != "answer_submitted":
        log.warning("answer_skipped", why="not_answer_submitted", payload=env.WhichOneof("payload"), **where)
        return None
    ev = env.answer_submitted
    a = ev.answer
    why = None
    if not (a.answer_id and a.job_id and a.worker_id):
        why = "missing answer_id, job_id or worker_id"
    elif ev.required_answers < 1:
        why = f"required_answers is {ev.required_answers}"
    else:
        try:
            validate_categories(ev.categories)
        except ConsolidationInputError as err:
            why = str(err)
        else:
            if a.label not in ev.categories:
                why = f"label {a.label!r} not in categories"
    if why is not None:
        log.warning(
            "answer_skipped", why=why, job_id=a.job_id, object_id=a.object_id, event_id=env.event_id, **where
        )
        return None
    return IncomingAnswer(
        answer={
            "answer_id": a.answer_id,
            "job_id": a.job_id,
            "object_id": a.object_id,
            "worker_id": a.worker_id,
            "label": a.label,
            "submitted_at_ms": a.submitted_at_ms,
        },
        object_row={
            "job_id": a.job_id,
            "object_id": a.object_id,
            "required_answers": ev.required_answers,
            "task_type": ev.task_type,
            "categories": list(ev.categories),
        },
    )


def label_event(label: store.StoredLabel) -> tuple[str, bytes, events_pb2.EventEnvelope]:
    """An outbox entry for a label; every call gets a fresh event id (a republish is a new event)."""
    payload = events_pb2.LabelConsolidated(
        job_id=label.job_id,
        object_id=label.object_id,
        label=label.label,
        class_index=label.class_index,
        confidence=label.confidence,
        method=label.method,
        answer_count=label.answer_count,
        worker_ids=label.worker_ids,
        consolidated_at_ms=to_ms(label.consolidated_at),
    )
    return LABELS_TOPIC, object_key(label.job_id, label.object_id), envelope(label_consolidated=payload)


@dataclass
class AnswerHandler:
    """The `DbOffsetConsumer` handler: runs inside the transaction that also stores the offsets.

    With `method` "ds" (the default), ready objects are labeled by their posterior under the job's Dawid-Skene
    worker model (`models`, refitted on all of the job's stored answers when stale), falling back to majority
    vote for jobs too small to fit it. Any other method is fitted on the batch's ready objects alone.
    """

    outbox: Outbox
    method: str = JOB_MODEL_METHOD
    models: JobModels = field(default_factory=JobModels)

    async def __call__(self, session: AsyncSession, records: list[ConsumerRecord]) -> None:
        incoming = [x for x in map(decode_answer, records) if x is not None]
        if not incoming:
            return
        answer_rows: dict[tuple[str, int, str], dict[str, Any]] = {}
        object_rows: dict[store.ObjectKey, dict[str, Any]] = {}
        for x in incoming:  # first one wins, as ON CONFLICT DO NOTHING would
            a = x.answer
            answer_rows.setdefault((a["job_id"], a["object_id"], a["worker_id"]), a)
            object_rows.setdefault((a["job_id"], a["object_id"]), x.object_row)
        await store.insert_objects(session, list(object_rows.values()))
        await store.insert_answers(session, list(answer_rows.values()))

        statuses = await store.object_statuses(session, list(object_rows))
        # An answer for an object labeled before this batch is most likely a replay (a broker that lost its
        # log): publish the stored label again so downstream consumers that lost it too get it back.
        republish = [s.label for s in statuses if s.label is not None]
        ready = [s for s in statuses if s.label is None and s.answer_count >= s.required_answers]
        new_labels = await self._consolidate(session, ready)
        events = [label_event(label) for label in (*new_labels, *republish)]
        await self.outbox.add_events(session, events)
        report = log.info if events else log.debug  # quiet while objects are still collecting answers
        report(
            "answers_handled",
            records=len(records),
            answers=len(incoming),
            objects=len(object_rows),
            labeled=len(new_labels),
            republished=len(republish),
        )

    async def _consolidate(
        self, session: AsyncSession, ready: Sequence[store.ObjectStatus]
    ) -> list[store.StoredLabel]:
        if not ready:
            return []
        categories = {(s.job_id, s.object_id): tuple(s.categories) for s in ready}
        stored = await store.answers_of(session, list(categories))
        # One fit per (job, categories): the method's parameters (MV's accuracy) are per job.
        groups: dict[tuple[str, tuple[str, ...]], list[store.ObjectAnswers]] = defaultdict(list)
        for obj in stored:
            groups[(obj.job_id, categories[(obj.job_id, obj.object_id)])].append(obj)
        counts: dict[str, int] = {}
        if self.method == JOB_MODEL_METHOD:
            counts = await store.job_answer_counts(session, sorted({job for job, _ in groups}))
        rows: list[dict[str, Any]] = []
        for (job_id, cats), objs in groups.items():
            workers_of = {o.object_id: o.worker_ids for o in objs}
            try:
                answers = Answers.from_arrays(
                    [o.object_id for o in objs for _ in o.worker_ids],
                    [w for o in objs for w in o.worker_ids],
                    [label for o in objs for label in o.labels],
                    cats,
                )
                if self.method == JOB_MODEL_METHOD:
                    n_job = counts.get(job_id, 0)
                    results = await self._with_job_model(session, job_id, cats, answers, n_job)
                else:
                    results = consolidate(answers, cats, self.method)
            except ConsolidationInputError as err:  # stored data an earlier event version let in
                log.error("consolidation_failed", job_id=job_id, objects=len(objs), error=str(err))
                continue
            rows.extend(
                {
                    "job_id": job_id,
                    "object_id": r.object_id,
                    "label": r.label,
                    "class_index": r.class_index,
                    "confidence": r.confidence,
                    "method": r.method,
                    "answer_count": r.answer_count,
                    "worker_ids": workers_of[r.object_id],
                }
                for r in results
            )
        return await store.record_labels(session, rows)

    async def _with_job_model(
        self, session: AsyncSession, job_id: str, cats: tuple[str, ...], answers: Answers, n_job_answers: int
    ) -> list[ConsolidatedLabel]:
        """Labels of the ready objects in `answers` from the job's worker model; majority vote (method "mv")
        while the job is too small for one."""
        model = await self.models.get(session, job_id, cats, n_job_answers)
        if model is None:
            return consolidate(answers, cats, "mv")
        labels, confidences, _ = label_with_model(model, answers)
        counts = answers.answer_counts().tolist()
        return [
            ConsolidatedLabel(
                object_id=oid,
                label=cats[c],
                class_index=c,
                confidence=conf,
                answer_count=n,
                method=JOB_MODEL_METHOD,
            )
            for oid, c, conf, n in zip(
                answers.object_ids.tolist(), labels.tolist(), confidences.tolist(), counts, strict=True
            )
        ]
