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
from quorum_consolidation.adapters.job_models import AdaptiveModels, JobModels
from quorum_consolidation.core import Answers, ConsolidationInputError, consolidate, validate_categories
from quorum_consolidation.core.adaptive import AdaptivePolicy, decide
from quorum_consolidation.core.consolidate import ConsolidatedLabel
from quorum_consolidation.core.streaming import label_with_model

#: The streaming method that labels from the job-level worker model (any other name: a fit on the batch).
JOB_MODEL_METHOD = "ds"
#: The method of labels of adaptive jobs (posterior under the job's adaptive worker model reached the target,
#: or the object has its maximum number of answers).
ADAPTIVE_METHOD = "adaptive-ds"

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
    adaptive = 0.5 < ev.target_confidence < 1
    if why is None and ev.target_confidence and not adaptive:
        why = f"target_confidence is {ev.target_confidence}"
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
            "min_answers": min(max(ev.min_answers, 1), ev.required_answers) if adaptive else 0,
            "target_confidence": ev.target_confidence if adaptive else 0.0,
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
    adaptive_models: AdaptiveModels = field(default_factory=AdaptiveModels)

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
        pending = [s for s in statuses if s.label is None]
        ready = [s for s in pending if not s.adaptive and s.answer_count >= s.required_answers]
        new_labels = await self._consolidate(session, ready)
        # Adaptive jobs: an object with its minimum answers is labeled as soon as its posterior under the
        # job's worker model reaches the target (always at the maximum); otherwise it waits for more.
        candidates = [s for s in pending if s.adaptive and s.answer_count >= s.min_answers]
        new_labels += await self._decide_adaptive(session, candidates)
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

    async def _decide_adaptive(
        self, session: AsyncSession, candidates: Sequence[store.ObjectStatus]
    ) -> list[store.StoredLabel]:
        if not candidates:
            return []
        status_of = {(s.job_id, s.object_id): s for s in candidates}
        stored = await store.answers_of(session, list(status_of))
        groups: dict[tuple[str, tuple[str, ...]], list[store.ObjectAnswers]] = defaultdict(list)
        for obj in stored:
            status = status_of[(obj.job_id, obj.object_id)]
            groups[(obj.job_id, tuple(status.categories))].append(obj)
        counts = await store.job_answer_counts(session, sorted({job for job, _ in groups}))
        rows: list[dict[str, Any]] = []
        for (job_id, cats), objs in groups.items():
            first = status_of[(job_id, objs[0].object_id)]
            try:
                policy = AdaptivePolicy(
                    target_confidence=first.target_confidence,
                    min_answers=max(1, min(first.min_answers, first.required_answers)),
                    max_answers=first.required_answers,
                )
                answers = Answers.from_arrays(
                    [o.object_id for o in objs for _ in o.worker_ids],
                    [w for o in objs for w in o.worker_ids],
                    [label for o in objs for label in o.labels],
                    cats,
                )
                model = await self.adaptive_models.get(session, job_id, cats, counts.get(job_id, 0))
                decision = decide(policy, model, answers)
            except (ConsolidationInputError, ValueError) as err:  # stored data an earlier event let in
                log.error("adaptive_decision_failed", job_id=job_id, objects=len(objs), error=str(err))
                continue
            workers_of = {o.object_id: o.worker_ids for o in objs}
            for oid, done, c, conf, n in zip(
                decision.object_ids.tolist(),
                decision.done.tolist(),
                decision.label.tolist(),
                decision.confidence.tolist(),
                decision.n_answers.tolist(),
                strict=True,
            ):
                if done:
                    rows.append(
                        {
                            "job_id": job_id,
                            "object_id": oid,
                            "label": cats[c],
                            "class_index": c,
                            "confidence": conf,
                            "method": ADAPTIVE_METHOD,
                            "answer_count": n,
                            "worker_ids": workers_of[oid],
                        }
                    )
            log.debug(
                "adaptive_decided",
                job_id=job_id,
                objects=decision.n_objects,
                done=int(decision.done.sum()),
                model=model.source,
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
