"""AnswerSubmitted events in, LabelConsolidated events out (through the outbox), one transaction per batch."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from quorum.events.v1 import events_pb2
from quorum_common.clock import to_ms
from quorum_common.events import LABELS_TOPIC, envelope, object_key, parse_envelope
from quorum_common.logging import get_logger
from quorum_common.outbox import Outbox
from quorum_common.settings import DEFAULT_LABEL_FILES_DIR
from quorum_common.task_types import CLASSIFICATION_TYPES, color_map
from quorum_consolidation.adapters import store
from quorum_consolidation.adapters.job_models import JobModels, known_labels_in
from quorum_consolidation.adapters.task_labels import (
    LABELED_TYPES,
    NO_CATEGORY_TYPES,
    ReadyObject,
    StructuredLabel,
    WorkerAnswer,
    consolidate_objects,
    encode_mask,
    is_structured,
    parse_payload,
    parse_previous,
)
from quorum_consolidation.core import Answers, ConsolidationInputError, consolidate, validate_categories
from quorum_consolidation.core.adaptive import AdaptivePolicy, decide
from quorum_consolidation.core.consolidate import ConsolidatedLabel
from quorum_consolidation.core.model_annotator import (
    MODEL_WORKER_ID,
    human_answer_counts,
    human_workers,
    is_model,
    model_answer_id,
)
from quorum_consolidation.core.side_info import KnownLabels
from quorum_consolidation.core.streaming import label_with_model

#: Streaming methods that label from the job-level worker model (`JobModels`, refitted on all of the job's
#: answers, with label revisions); any other registry name is fitted on each batch's ready objects alone.
JOB_MODEL_METHODS = ("auto", "ds")
#: A revised label is published when the label changes or its confidence moves by at least this much.
REVISION_MIN_CONFIDENCE_CHANGE = 0.01

#: The `method` recorded with the label of a known-answer object (its known class, confidence 1).
KNOWN_METHOD = "known-answer"

#: The `method` recorded with a label from a job model, by the model's source (a one-coin model, used while
#: the job has few overlapping answers, labels as majority vote does).
_METHOD_BY_SOURCE = {"auto": "auto", "dawid_skene": "ds", "one_coin": "mv"}

log = get_logger(__name__)

CONSUMER_NAME = "consolidation-answers"


@dataclass(frozen=True, slots=True)
class IncomingAnswer:
    answer: dict[str, Any]  # an `answers` row
    object_row: dict[str, Any]  # an `object_state` row, used if the object is new
    team_id: str = ""  # the job's team ("" from events of older workforce versions)
    # Automated-labeling jobs: the `answers` row of the model's answer for the object (its model_label), once
    # per object whatever the number of events carrying it (a deterministic answer id), or None.
    model_answer: dict[str, Any] | None = None


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
    elif is_model(a.worker_id):
        why = f"worker id {MODEL_WORKER_ID!r} is reserved for the automated-labeling model"
    elif ev.required_answers < 1:
        why = f"required_answers is {ev.required_answers}"
    else:
        try:
            if ev.task_type not in NO_CATEGORY_TYPES:
                validate_categories(ev.categories)
        except ConsolidationInputError as err:
            why = str(err)
        else:
            structured = is_structured(ev.task_type)
            if (not structured or ev.task_type in LABELED_TYPES) and a.label not in ev.categories:
                why = f"label {a.label!r} not in categories"
            elif structured and len(a.label) > 256:
                why = "label longer than 256 characters"
    # Structured types are consolidated once all their answers are in (no adaptive stopping for them).
    adaptive = 0.5 < ev.target_confidence < 1 and not is_structured(ev.task_type)
    if why is None and ev.target_confidence and not adaptive:
        why = f"target_confidence is {ev.target_confidence}"
    if why is not None:
        log.warning(
            "answer_skipped", why=why, job_id=a.job_id, object_id=a.object_id, event_id=env.event_id, **where
        )
        return None
    structured = is_structured(ev.task_type)
    incoming = IncomingAnswer(
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
        team_id=ev.team_id[:64],
    )
    # Only structured answers need their payload (classification payloads are {"label": ...}); the
    # columns default to "" (rows get them before the multi-row insert, which needs uniform keys).
    if structured:
        incoming.answer["payload_json"] = a.payload_json
    if ev.previous_json:
        incoming.object_row["previous_json"] = ev.previous_json
    if ev.known_label:
        if structured or ev.known_label not in ev.categories:  # the answer still counts, without it
            log.warning(
                "known_label_ignored",
                why="structured task type" if structured else "not in categories",
                job_id=a.job_id,
                object_id=a.object_id,
                event_id=env.event_id,
            )
        else:
            incoming.object_row["known_label"] = ev.known_label
    if ev.model_label:
        if ev.task_type not in CLASSIFICATION_TYPES:
            ignored = "not a classification task type"
        elif ev.model_label not in ev.categories:
            ignored = "not in categories"
        elif incoming.object_row.get("known_label"):
            ignored = "known-answer object"
        else:
            ignored = ""
        if ignored:  # the human answer still counts
            log.warning(
                "model_label_ignored",
                why=ignored,
                job_id=a.job_id,
                object_id=a.object_id,
                event_id=env.event_id,
            )
        else:
            incoming.object_row["model_label"] = ev.model_label
            model_answer = {
                "answer_id": model_answer_id(a.job_id, a.object_id),
                "job_id": a.job_id,
                "object_id": a.object_id,
                "worker_id": MODEL_WORKER_ID,
                "label": ev.model_label,
                "submitted_at_ms": 0,  # made before any human answer
                "payload_json": "",
            }
            incoming = dataclasses.replace(incoming, model_answer=model_answer)
    return incoming


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
        label_json=label.label_json,
        revision=label.revision,
    )
    return LABELS_TOPIC, object_key(label.job_id, label.object_id), envelope(label_consolidated=payload)


def wanted_event(
    job_id: str, object_id: int, answer_count: int
) -> tuple[str, bytes, events_pb2.EventEnvelope]:
    """An outbox entry telling dispatch that an early-stop object wants its next answer now (on the labels
    topic, keyed like the object's labels, so it cannot overtake a label of the same object)."""
    payload = events_pb2.AnswersWanted(job_id=job_id, object_id=object_id, answer_count=answer_count)
    return LABELS_TOPIC, object_key(job_id, object_id), envelope(answers_wanted=payload)


@dataclass
class AnswerHandler:
    """The `DbOffsetConsumer` handler: runs inside the transaction that also stores the offsets.

    With `method` "auto" (the default) or "ds", ready objects are labeled by their posterior under the job's
    worker model (`models`: `AutoDawidSkene` or plain Dawid-Skene, refitted on all of the job's stored answers
    when stale; one-coin, i.e. majority vote, while the job is small). When a refit changes the label or the
    confidence of objects labeled earlier, they are revised (a new revision of the label is stored and
    published), so a job's final labels are those of a batch fit on all its answers once the model has been
    refitted after the last one (`refresh_stale`, run periodically). Any other method is fitted on the batch's
    ready objects alone. Adaptive jobs always use the job model (`models`).
    """

    outbox: Outbox
    method: str = "auto"
    models: JobModels = field(default_factory=JobModels)
    # Where consolidated segmentation masks are written (<dir>/<job_id>/<object_id>.png).
    label_files_dir: Path = field(default_factory=lambda: DEFAULT_LABEL_FILES_DIR)

    async def __call__(self, session: AsyncSession, records: list[ConsumerRecord]) -> None:
        incoming = [x for x in map(decode_answer, records) if x is not None]
        if not incoming:
            return
        answer_rows: dict[tuple[str, int, str], dict[str, Any]] = {}
        object_rows: dict[store.ObjectKey, dict[str, Any]] = {}
        model_rows: dict[store.ObjectKey, dict[str, Any]] = {}
        for x in incoming:  # first one wins, as ON CONFLICT DO NOTHING would
            a = {"payload_json": "", **x.answer}
            answer_rows.setdefault((a["job_id"], a["object_id"], a["worker_id"]), a)
            object_rows.setdefault(
                (a["job_id"], a["object_id"]),
                {"previous_json": "", "known_label": "", "model_label": "", **x.object_row},
            )
            if x.model_answer is not None:
                model_rows.setdefault((a["job_id"], a["object_id"]), x.model_answer)
        await store.insert_objects(session, list(object_rows.values()))
        await store.insert_answers(session, list(answer_rows.values()))
        # Each job's team (one row per job, kept from its first event), before any fit below needs it.
        await store.record_job_teams(session, {x.answer["job_id"]: x.team_id for x in incoming if x.team_id})

        statuses = await store.object_statuses(session, list(object_rows))
        # The model's answer of an object (once: insert-if-absent), as the object was stored: a classification
        # object, not a known-answer one. It informs every fit and label below but is not a human answer.
        await store.add_model_answers(
            session,
            [
                model_rows[(s.job_id, s.object_id)]
                for s in statuses
                if (s.job_id, s.object_id) in model_rows
                and not s.known_label
                and s.task_type in CLASSIFICATION_TYPES
                and model_rows[(s.job_id, s.object_id)]["label"] in s.categories
            ],
        )
        # An answer for an object labeled before this batch is most likely a replay (a broker that lost its
        # log): publish the stored label again so downstream consumers that lost it too get it back.
        republish = [s.label for s in statuses if s.label is not None]
        pending = [s for s in statuses if s.label is None]
        ready = [s for s in pending if not s.adaptive and s.answer_count >= s.required_answers]
        structured = [s for s in ready if is_structured(s.task_type)]
        ready = [s for s in ready if not is_structured(s.task_type)]
        new_labels = await self._consolidate(session, ready)
        new_labels += await self._consolidate_structured(session, structured)
        # Adaptive jobs: an object with its minimum answers is labeled as soon as its posterior under the
        # job's worker model reaches the target (always at the maximum); otherwise it waits for more.
        candidates = [s for s in pending if s.adaptive and s.answer_count >= s.min_answers]
        decided, wanted = await self._decide_adaptive(session, candidates)
        new_labels += decided
        revised = await self._revise_refitted(session)
        events = [label_event(label) for label in (*new_labels, *republish, *revised)]
        events += [wanted_event(*w) for w in wanted]
        await self.outbox.add_events(session, events)
        report = log.info if events else log.debug  # quiet while objects are still collecting answers
        report(
            "answers_handled",
            records=len(records),
            answers=len(incoming),
            objects=len(object_rows),
            labeled=len(new_labels),
            wanted=len(wanted),
            republished=len(republish),
            revised=len(revised),
        )

    async def refresh_stale(self, session: AsyncSession) -> int:
        """Refit the cached job models whose jobs got answers since their fit and that the refit policy calls
        stale (answers arriving refit them anyway; this catches a job's last answers), then revise the labels
        they change. Returns how many labels were revised."""
        keys = self.models.cached_jobs()
        if not keys:
            return 0
        counts = await store.job_answer_counts(session, sorted({job for job, _ in keys}))
        for job_id, cats in keys:
            n = counts.get(job_id, 0)
            fitted_on = self.models.fitted_on(job_id, cats)
            if fitted_on is not None and n != fitted_on:
                await self.models.get(session, job_id, cats, n)  # refits only if stale
        revised = await self._revise_refitted(session)
        await self.outbox.add_events(session, [label_event(label) for label in revised])
        if revised:
            log.info("labels_revised", labels=len(revised))
        return len(revised)

    async def _revise_refitted(self, session: AsyncSession) -> list[store.StoredLabel]:
        """Re-label, under their refitted model, the objects of the jobs refitted since the last call; store
        and return the labels that changed (label, or confidence by >= REVISION_MIN_CONFIDENCE_CHANGE)."""
        refitted = self.models.take_refitted()
        if not refitted:
            return []
        rows: list[dict[str, Any]] = []
        for job_id, cats in sorted(refitted):
            model = self.models.peek(job_id, cats)
            if model is None:
                continue
            labeled = [lab for lab in await store.classification_labels(session, job_id) if lab.label in cats]
            if not labeled:
                continue
            stored = await store.answers_of(session, [(job_id, lab.object_id) for lab in labeled])
            try:
                answers = Answers.from_arrays(
                    [o.object_id for o in stored for _ in o.worker_ids],
                    [w for o in stored for w in o.worker_ids],
                    [label for o in stored for label in o.labels],
                    cats,
                )
                known = known_labels_in(answers, await store.known_labels(session, job_id))
                classes, confidences, _ = label_with_model(model, answers, known=known)
            except (ConsolidationInputError, ValueError) as err:  # stored data an earlier event let in
                log.error("revision_failed", job_id=job_id, error=str(err))
                continue
            now = dict(
                zip(
                    answers.object_ids.tolist(),
                    zip(classes.tolist(), confidences.tolist(), strict=True),
                    strict=True,
                )
            )
            method = _METHOD_BY_SOURCE.get(model.source, model.source)
            for lab in labeled:
                if lab.object_id not in now:
                    continue
                c, conf = now[lab.object_id]
                if c == lab.class_index and abs(conf - lab.confidence) < REVISION_MIN_CONFIDENCE_CHANGE:
                    continue
                rows.append(
                    {
                        "job_id": job_id,
                        "object_id": lab.object_id,
                        "label": cats[c],
                        "class_index": c,
                        "confidence": conf,
                        "method": f"adaptive-{method}" if lab.method.startswith("adaptive-") else method,
                        "revision": lab.revision + 1,
                    }
                )
        return await store.revise_labels(session, rows)

    async def _consolidate(
        self, session: AsyncSession, ready: Sequence[store.ObjectStatus]
    ) -> list[store.StoredLabel]:
        if not ready:
            return []
        categories = {(s.job_id, s.object_id): tuple(s.categories) for s in ready}
        known_of = {(s.job_id, s.object_id): s.known_label for s in ready if s.known_label}
        stored = await store.answers_of(session, list(categories))
        # One fit per (job, categories): the method's parameters (MV's accuracy) are per job.
        groups: dict[tuple[str, tuple[str, ...]], list[store.ObjectAnswers]] = defaultdict(list)
        for obj in stored:
            groups[(obj.job_id, categories[(obj.job_id, obj.object_id)])].append(obj)
        counts: dict[str, int] = {}
        if self.method in JOB_MODEL_METHODS:
            counts = await store.job_answer_counts(session, sorted({job for job, _ in groups}))
        rows: list[dict[str, Any]] = []
        for (job_id, cats), objs in groups.items():
            # The people who answered (the model's answer, if any, counts in the fit, not here).
            workers_of = {o.object_id: human_workers(o.worker_ids) for o in objs}
            try:
                answers = Answers.from_arrays(
                    [o.object_id for o in objs for _ in o.worker_ids],
                    [w for o in objs for w in o.worker_ids],
                    [label for o in objs for label in o.labels],
                    cats,
                )
                known = known_labels_in(
                    answers,
                    {
                        o.object_id: known_of[(job_id, o.object_id)]
                        for o in objs
                        if (job_id, o.object_id) in known_of
                    },
                )
                if self.method in JOB_MODEL_METHODS:
                    n_job = counts.get(job_id, 0)
                    results = await self._with_job_model(session, job_id, cats, answers, n_job, known)
                else:
                    results = with_known(consolidate(answers, cats, self.method), answers, known)
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
                    "answer_count": len(workers_of[r.object_id]),
                    "worker_ids": workers_of[r.object_id],
                }
                for r in results
            )
        return await store.record_labels(session, rows)

    async def _consolidate_structured(
        self, session: AsyncSession, ready: Sequence[store.ObjectStatus]
    ) -> list[store.StoredLabel]:
        """Boxes, spans, masks, multi-label sets, verdicts, adjustments: the matching core, one fit per
        job and batch."""
        if not ready:
            return []
        status_of = {(s.job_id, s.object_id): s for s in ready}
        stored = await store.answers_of(session, list(status_of))
        groups: dict[tuple[str, str, tuple[str, ...]], list[store.ObjectAnswers]] = defaultdict(list)
        for obj in stored:
            s = status_of[(obj.job_id, obj.object_id)]
            groups[(obj.job_id, s.task_type, tuple(s.categories))].append(obj)
        rows: list[dict[str, Any]] = []
        for (job_id, task_type, cats), objs in groups.items():
            workers_of = {o.object_id: o.worker_ids for o in objs}
            try:
                ready_objects = [
                    ReadyObject(
                        o.object_id,
                        [
                            WorkerAnswer(w, label, parse_payload(p))
                            for w, label, p in zip(o.worker_ids, o.labels, o.payloads, strict=True)
                        ],
                        parse_previous(status_of[(job_id, o.object_id)].previous_json),
                    )
                    for o in objs
                ]
                labels = await asyncio.to_thread(consolidate_objects, task_type, cats, ready_objects)
                for lab in labels:
                    if lab.mask is not None:
                        lab.label = await asyncio.to_thread(self._write_mask, job_id, lab, cats)
            except (ConsolidationInputError, ValueError, KeyError, TypeError, OSError) as err:
                # Stored data the workforce checks should have kept out: log, leave the objects unlabeled.
                log.error(
                    "consolidation_failed",
                    job_id=job_id,
                    task_type=task_type,
                    objects=len(objs),
                    error=str(err),
                )
                continue
            rows.extend(
                {
                    "job_id": job_id,
                    "object_id": lab.object_id,
                    "label": lab.summary,
                    "class_index": lab.class_index,
                    "confidence": lab.confidence,
                    "method": task_type,
                    "answer_count": len(workers_of[lab.object_id]),
                    "worker_ids": workers_of[lab.object_id],
                    "label_json": lab.label_json(),
                }
                for lab in labels
            )
        return await store.record_labels(session, rows)

    def _write_mask(self, job_id: str, lab: StructuredLabel, cats: Sequence[str]) -> str:
        """Write the consolidated mask (GT's colours) and return its path, which the label references."""
        assert lab.mask is not None
        folder = self.label_files_dir / job_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{lab.object_id}.png"
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(encode_mask(lab.mask, color_map(len(cats))))
        tmp.replace(path)  # atomic: a reader never sees half a PNG
        return str(path.resolve())

    async def _decide_adaptive(
        self, session: AsyncSession, candidates: Sequence[store.ObjectStatus]
    ) -> tuple[list[store.StoredLabel], list[tuple[str, int, int]]]:
        """The labels of the candidates whose posterior reached their target (or that have their maximum), and
        (job, object, human answers) of the others: those want another answer."""
        if not candidates:
            return [], []
        status_of = {(s.job_id, s.object_id): s for s in candidates}
        stored = await store.answers_of(session, list(status_of))
        # One policy per group: an object may have its own answer count (an automated-labeling job's random
        # draws: required = min), so the job's objects do not all share one maximum.
        groups: dict[tuple[str, tuple[str, ...], int, int], list[store.ObjectAnswers]] = defaultdict(list)
        for obj in stored:
            status = status_of[(obj.job_id, obj.object_id)]
            key = (obj.job_id, tuple(status.categories), status.required_answers, status.min_answers)
            groups[key].append(obj)
        counts = await store.job_answer_counts(session, sorted({key[0] for key in groups}))
        rows: list[dict[str, Any]] = []
        wanted: list[tuple[str, int, int]] = []
        for (job_id, cats, required, minimum), objs in groups.items():
            first = status_of[(job_id, objs[0].object_id)]
            try:
                policy = AdaptivePolicy(
                    target_confidence=first.target_confidence,
                    min_answers=max(1, min(minimum, required)),
                    max_answers=required,
                )
                answers = Answers.from_arrays(
                    [o.object_id for o in objs for _ in o.worker_ids],
                    [w for o in objs for w in o.worker_ids],
                    [label for o in objs for label in o.labels],
                    cats,
                )
                known = known_labels_in(
                    answers,
                    {o.object_id: status_of[(job_id, o.object_id)].known_label for o in objs},
                )
                model = await self.models.get(session, job_id, cats, counts.get(job_id, 0))
                # The model's answer moves the posterior; only human answers count towards min / max.
                decision = decide(policy, model, answers, known, human_answer_counts(answers))
            except (ConsolidationInputError, ValueError) as err:  # stored data an earlier event let in
                log.error("adaptive_decision_failed", job_id=job_id, objects=len(objs), error=str(err))
                continue
            workers_of = {o.object_id: human_workers(o.worker_ids) for o in objs}
            known_ids = set() if known is None else set(answers.object_ids[known.objects].tolist())
            method = f"adaptive-{_METHOD_BY_SOURCE.get(model.source, model.source)}"
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
                            "method": KNOWN_METHOD if oid in known_ids else method,
                            "answer_count": n,
                            "worker_ids": workers_of[oid],
                        }
                    )
                else:
                    wanted.append((job_id, oid, n))
            log.debug(
                "adaptive_decided",
                job_id=job_id,
                objects=decision.n_objects,
                done=int(decision.done.sum()),
                model=model.source,
            )
        return await store.record_labels(session, rows), wanted

    async def _with_job_model(
        self,
        session: AsyncSession,
        job_id: str,
        cats: tuple[str, ...],
        answers: Answers,
        n_job_answers: int,
        known: KnownLabels | None = None,
    ) -> list[ConsolidatedLabel]:
        """Labels of the ready objects in `answers` from the job's worker model (one-coin, i.e. majority vote,
        while the job has few overlapping answers); known-answer objects get their known class."""
        model = await self.models.get(session, job_id, cats, n_job_answers)
        method = _METHOD_BY_SOURCE.get(model.source, model.source)
        labels, confidences, _ = label_with_model(model, answers, known=known)
        counts = human_answer_counts(answers).tolist()
        known_ids = set() if known is None else set(answers.object_ids[known.objects].tolist())
        return [
            ConsolidatedLabel(
                object_id=oid,
                label=cats[c],
                class_index=c,
                confidence=conf,
                answer_count=n,
                method=KNOWN_METHOD if oid in known_ids else method,
            )
            for oid, c, conf, n in zip(
                answers.object_ids.tolist(), labels.tolist(), confidences.tolist(), counts, strict=True
            )
        ]


def with_known(
    results: list[ConsolidatedLabel], answers: Answers, known: KnownLabels | None
) -> list[ConsolidatedLabel]:
    """`results` (of any batch method) with the known-answer objects' labels replaced by their known class,
    confidence 1."""
    if known is None:
        return results
    cats = answers.categories
    truth = dict(zip(answers.object_ids[known.objects].tolist(), known.classes.tolist(), strict=True))
    return [
        ConsolidatedLabel(
            r.object_id, cats[truth[r.object_id]], truth[r.object_id], 1.0, r.answer_count, KNOWN_METHOD
        )
        if r.object_id in truth
        else r
        for r in results
    ]
