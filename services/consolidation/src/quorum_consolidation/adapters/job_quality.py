"""Worker quality of a job of any task type, from its stored answers (pure: rows in, a report out).

Classification jobs go to ``core.worker_quality`` (labels are categories, the chosen worker model is fitted).
Structured task types are parsed as the consolidation consumer parses them (``task_labels``), their core is
fitted once over every object that has answers, and ``core.structured_quality`` reads each worker's
reliability off the fitted model (what the numbers mean is in the report's ``accuracy_measure`` and
``agreement_measure``). CPU-bound: call it off the event loop.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np

from quorum_common.task_types import (
    ADJUSTMENT,
    BOUNDING_BOX,
    CUSTOM,
    LABEL_VERIFICATION,
    MULTILABEL_TYPES,
    NAMED_ENTITY_RECOGNITION,
    SEMANTIC_SEGMENTATION,
)
from quorum_consolidation.adapters.store import JobAnswerRows
from quorum_consolidation.adapters.task_labels import (
    ReadyObject,
    WorkerAnswer,
    box_answers,
    fit_verification,
    is_structured,
    multilabel_answers,
    parse_payload,
    parse_previous,
    segmentation_images,
    span_answers,
)
from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.boxes import BoxConsolidator
from quorum_consolidation.core.multilabel import MultiLabelDawidSkene
from quorum_consolidation.core.segmentation import SegmentationConsolidator
from quorum_consolidation.core.spans import SpanConsolidator
from quorum_consolidation.core.structured_quality import (
    ACCURACY_MEASURES,
    AGREEMENT_MEASURES,
    box_worker_stats,
    custom_worker_stats,
    multilabel_worker_stats,
    segmentation_worker_stats,
    span_worker_stats,
    verification_worker_stats,
)
from quorum_consolidation.core.worker_quality import (
    JobWorkerQuality,
    WorkerStats,
    check_method,
    dominant_categories,
    job_worker_quality,
)

#: Mask pixels (over all answers) a segmentation job's worker quality decodes at most; beyond them it is
#: fitted on a fixed random sample of the job's images (the masks are held in memory as int64 for the fit).
MAX_SEGMENTATION_PIXELS = 20_000_000
#: Base types of an adjustment job (as the consolidation consumer accepts them).
ADJUSTABLE_TYPES = frozenset({BOUNDING_BOX, NAMED_ENTITY_RECOGNITION, SEMANTIC_SEGMENTATION})


def ready_objects(rows: JobAnswerRows, keep: Sequence[int]) -> list[ReadyObject]:
    """The answers at positions `keep` of `rows` (in object order) grouped into ReadyObjects, as the
    consolidation consumer builds them."""
    out: list[ReadyObject] = []
    current: list[WorkerAnswer] = []
    for n, i in enumerate(keep):
        oid = rows.object_ids[i]
        current.append(WorkerAnswer(rows.worker_ids[i], rows.labels[i], parse_payload(rows.payloads[i])))
        if n + 1 == len(keep) or rows.object_ids[keep[n + 1]] != oid:
            out.append(ReadyObject(oid, current, parse_previous(rows.previous.get(oid, ""))))
            current = []
    return out


def _segmentation(cats: list[str], objects: Sequence[ReadyObject]) -> tuple[list[WorkerStats], str]:
    """Masks decoded in a fixed random order of the objects until the pixel budget is spent."""
    order = np.random.default_rng(0).permutation(len(objects)).tolist()
    chosen: list[ReadyObject] = []
    images = []
    pixels = 0
    for j in order:
        [image] = segmentation_images(cats, [objects[j]])
        size = sum(int(m.size) for _, m in image)
        if chosen and pixels + size > MAX_SEGMENTATION_PIXELS:
            break
        chosen.append(objects[j])
        images.append(image)
        pixels += size
    model = SegmentationConsolidator(n_classes=len(cats) + 1).fit(images)
    note = "" if len(chosen) == len(objects) else f" (fitted on {len(chosen)} of {len(objects)} images)"
    return segmentation_worker_stats(model, images), note


def structured_quality(
    task_type: str, categories: Sequence[str], objects: Sequence[ReadyObject]
) -> JobWorkerQuality | None:
    """Fit the task type's consolidator once over `objects` and report each worker's quality; None without
    objects. Raises ConsolidationInputError for a type without a consolidator or malformed answers."""
    if not objects:
        return None
    cats = list(categories)
    kind = task_type
    if task_type == ADJUSTMENT:
        bases = {(o.previous or {}).get("task_type", "") for o in objects}
        if len(bases) != 1:
            raise ConsolidationInputError(
                f"adjustment objects mix base types {sorted(bases)!r}", reason="mixed_base"
            )
        kind = bases.pop()
        if kind not in ADJUSTABLE_TYPES:
            raise ConsolidationInputError(f"cannot adjust {kind!r} labels", reason="unknown_task_type")
    note = ""
    report_cats: Sequence[str] = cats
    if kind in MULTILABEL_TYPES:
        key = "multilabel"
        ml = multilabel_answers(cats, objects)
        workers = multilabel_worker_stats(MultiLabelDawidSkene().fit(ml), ml)
    elif kind == BOUNDING_BOX:
        # An adjustment job fuses its boxes with this same consolidator (BoxAdjustmentConsolidator.boxes).
        key = "boxes"
        boxes = box_answers(cats, objects)
        workers = box_worker_stats(BoxConsolidator().fit(boxes), boxes)
    elif kind == NAMED_ENTITY_RECOGNITION:
        key = "spans"
        spans = span_answers(cats, objects)
        workers = span_worker_stats(SpanConsolidator().fit(spans), spans)
    elif kind == SEMANTIC_SEGMENTATION:
        key = "segmentation"
        workers, note = _segmentation(cats, objects)
    elif kind == LABEL_VERIFICATION:
        key = "verification"
        workers = verification_worker_stats(fit_verification(cats, objects))
    elif kind == CUSTOM:
        key = "custom"
        report_cats = ()
        workers = custom_worker_stats(
            [
                [(a.worker_id, a.payload) for a in o.answers]
                for o in sorted(objects, key=lambda o: o.object_id)
            ]
        )
    else:
        raise ConsolidationInputError(
            f"no worker quality for task type {task_type!r}",
            reason="unknown_task_type",
        )
    return JobWorkerQuality(
        method=task_type,
        categories=tuple(report_cats),
        workers=workers,
        accuracy_measure=ACCURACY_MEASURES[key] + note,
        agreement_measure=AGREEMENT_MEASURES[key],
        task_type=task_type,
    )


def job_quality(rows: JobAnswerRows, method: str = "") -> JobWorkerQuality | None:
    """Worker quality of the job whose stored answers are `rows`, by its task type (the one most answers
    were given under, with its dominant category set); None when it has no answers.

    `method` picks the classification worker model and is checked for every type (structured types have
    one model each and report their task type as the method). Raises ConsolidationInputError."""
    check_method(method or "ds")
    if not rows.object_ids:
        return None
    task_type = max(Counter(rows.task_types).items(), key=lambda item: (item[1], item[0]))[0]
    if not is_structured(task_type):
        report = job_worker_quality(
            rows.object_ids, rows.worker_ids, rows.labels, rows.categories, method, rows.known
        )
        return None if report is None else dataclasses.replace(report, task_type=task_type)
    cats = dominant_categories(
        c for c, t in zip(rows.categories, rows.task_types, strict=True) if t == task_type
    )
    keep = [
        i
        for i, (c, t) in enumerate(zip(rows.categories, rows.task_types, strict=True))
        if t == task_type and c == cats
    ]
    return structured_quality(task_type, cats or (), ready_objects(rows, keep))
