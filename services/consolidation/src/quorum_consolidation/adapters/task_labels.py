"""Structured task types: the workers' payloads of ready objects -> the matching core -> GT label JSON.

Pure (no I/O): payload dicts in (the task-type contract of the worker portal), one consolidated label per
object out, as {"task_type", "label", "metadata"} -- the Ground Truth label value and the type-specific
`-metadata` keys; the jobs service adds `type`, `job-name`, `human-annotated` and `creation-date`.
Segmentation masks come back as arrays; the caller writes them and puts the file's path in the label.

One fit per job and batch: the cores estimate worker reliability across every object they are given.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from quorum_common.task_types import (
    ADJUSTMENT,
    BACKGROUND_COLOR,
    BACKGROUND_NAME,
    BOUNDING_BOX,
    CUSTOM,
    LABEL_VERIFICATION,
    MULTILABEL_TYPES,
    NAMED_ENTITY_RECOGNITION,
    SEMANTIC_SEGMENTATION,
    STRUCTURED_TYPES,
    color_map,
)
from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.boxes import BoxAnswers, BoxConsolidator
from quorum_consolidation.core.custom import consolidate_custom
from quorum_consolidation.core.multilabel import MultiLabelAnswers, MultiLabelDawidSkene
from quorum_consolidation.core.segmentation import SegmentationConsolidator
from quorum_consolidation.core.spans import SpanAnswers, SpanConsolidator
from quorum_consolidation.core.verification import BoxAdjustmentConsolidator, VerificationConsolidator

#: Types whose answer `label` is a category (checked when the event is decoded).
LABELED_TYPES = frozenset({LABEL_VERIFICATION})
#: Types whose jobs have no categories (their answers are free-form JSON objects).
NO_CATEGORY_TYPES = frozenset({CUSTOM})


def is_structured(task_type: str) -> bool:
    return task_type in STRUCTURED_TYPES


@dataclass(frozen=True, slots=True)
class WorkerAnswer:
    worker_id: str
    label: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReadyObject:
    object_id: int
    answers: Sequence[WorkerAnswer]
    # Verification / adjustment: {"task_type": base type, "label": GT value, "metadata": {...}}.
    previous: dict[str, Any] | None = None


@dataclass(slots=True)
class StructuredLabel:
    object_id: int
    task_type: str  # of the label (the base type for adjustment jobs)
    label: Any  # the GT label value (segmentation: replaced by the mask file's path by the caller)
    metadata: dict[str, Any]
    confidence: float
    summary: str  # short text for the `label` column / event field
    class_index: int = -1
    mask: np.ndarray | None = field(default=None, repr=False)  # segmentation: class indices, 0 = background

    def label_json(self) -> str:
        return json.dumps(
            {"task_type": self.task_type, "label": self.label, "metadata": self.metadata},
            separators=(",", ":"),
            ensure_ascii=False,
        )


def parse_payload(payload_json: str) -> dict[str, Any]:
    try:
        value = json.loads(payload_json) if payload_json else {}
    except ValueError as err:
        raise ConsolidationInputError(f"payload is not JSON: {err}", reason="malformed_answer") from err
    if not isinstance(value, dict):
        raise ConsolidationInputError("payload must be a JSON object", reason="malformed_answer")
    return value


def parse_previous(previous_json: str) -> dict[str, Any] | None:
    if not previous_json:
        return None
    value = json.loads(previous_json)
    return value if isinstance(value, dict) else None


def consolidate_objects(
    task_type: str, categories: Sequence[str], objects: Sequence[ReadyObject]
) -> list[StructuredLabel]:
    """One label per object (same order as the cores' sorted object ids); raises ConsolidationInputError."""
    if not objects:
        return []
    cats = list(categories)
    if task_type in MULTILABEL_TYPES:
        return _multilabel(cats, objects)
    if task_type == BOUNDING_BOX:
        return _boxes(cats, objects)
    if task_type == NAMED_ENTITY_RECOGNITION:
        return _spans(cats, objects)
    if task_type == SEMANTIC_SEGMENTATION:
        return _segmentation(cats, objects)
    if task_type == LABEL_VERIFICATION:
        return _verification(cats, objects)
    if task_type == ADJUSTMENT:
        return _adjustment(cats, objects)
    if task_type == CUSTOM:
        return _custom(objects)
    raise ConsolidationInputError(f"no consolidation for task type {task_type!r}", reason="unknown_task_type")


# -- multi-label ----------------------------------------------------------------------------------------


def multilabel_answers(cats: list[str], objects: Sequence[ReadyObject]) -> MultiLabelAnswers:
    return MultiLabelAnswers.from_triples(
        [(o.object_id, a.worker_id, list(a.payload.get("labels", []))) for o in objects for a in o.answers],
        cats,
    )


def _multilabel(cats: list[str], objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    answers = multilabel_answers(cats, objects)
    model = MultiLabelDawidSkene().fit(answers)
    out = []
    for i, oid in enumerate(answers.object_ids.tolist()):
        ids = [int(j) for j in model.labels_[i]]
        conf_map = {k: round(float(v), 2) for k, v in model.confidence_maps_[i].items()}
        out.append(
            StructuredLabel(
                object_id=int(oid),
                task_type="",
                label=ids,
                metadata={"class-map": model.class_maps_[i], "confidence-map": conf_map},
                confidence=float(np.mean(list(conf_map.values()))) if conf_map else 0.0,
                summary=",".join(cats[j] for j in ids)[:256],
            )
        )
    return out


# -- bounding boxes -------------------------------------------------------------------------------------


def _box_rows(payload: dict[str, Any], index: dict[str, int]) -> list[tuple[float, ...]]:
    rows = []
    for box in payload.get("boxes", []):
        label = box.get("label")
        if label not in index:
            raise ConsolidationInputError(f"box label {label!r} not in categories", reason="unknown_label")
        rows.append((index[label], box["left"], box["top"], box["width"], box["height"]))
    return rows


def _image_size(obj: ReadyObject) -> list[dict[str, int]]:
    for a in obj.answers:
        size = a.payload.get("image_size")
        if isinstance(size, dict) and "width" in size and "height" in size:
            return [{"width": int(size["width"]), "height": int(size["height"]), "depth": 3}]
    return []


def _box_labels(
    cats: list[str], objects: Sequence[ReadyObject], model: BoxConsolidator, answers: BoxAnswers
) -> list[StructuredLabel]:
    by_id = {o.object_id: o for o in objects}
    out = []
    for i, oid in enumerate(answers.image_ids.tolist()):
        ann, objs = model.annotations_[i], model.objects_[i]
        class_map = {str(k): cats[k] for k in sorted({b["class_id"] for b in ann})}
        confs = [o["confidence"] for o in objs]
        out.append(
            StructuredLabel(
                object_id=int(oid),
                task_type=BOUNDING_BOX,
                label={"image_size": _image_size(by_id[oid]), "annotations": ann},
                metadata={"objects": objs, "class-map": class_map},
                confidence=float(np.mean(confs)) if confs else 0.0,
                summary=f"{len(ann)} box(es)",
            )
        )
    return out


def box_answers(cats: list[str], objects: Sequence[ReadyObject]) -> BoxAnswers:
    index = {c: i for i, c in enumerate(cats)}
    return BoxAnswers.from_submissions(
        [(o.object_id, a.worker_id, _box_rows(a.payload, index)) for o in objects for a in o.answers]
    )


def _boxes(cats: list[str], objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    answers = box_answers(cats, objects)
    model = BoxConsolidator().fit(answers)
    return _box_labels(cats, objects, model, answers)


# -- named entities -------------------------------------------------------------------------------------


def span_answers(cats: list[str], objects: Sequence[ReadyObject]) -> SpanAnswers:
    return SpanAnswers.from_submissions(
        [
            (
                o.object_id,
                a.worker_id,
                [(e["start"], e["end"], e["label"]) for e in a.payload.get("entities", [])],
            )
            for o in objects
            for a in o.answers
        ],
        cats,
    )


def _spans(cats: list[str], objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    answers = span_answers(cats, objects)
    model = SpanConsolidator().fit(answers)
    out = []
    for i, oid in enumerate(answers.text_ids.tolist()):
        ents = model.entities_[i]
        confs = [e["confidence"] for e in ents]
        out.append(
            StructuredLabel(
                object_id=int(oid),
                task_type=NAMED_ENTITY_RECOGNITION,
                label={"annotations": model.annotations_[i]},
                metadata={"entities": ents},
                confidence=float(np.mean(confs)) if confs else 0.0,
                summary=f"{len(ents)} entit(ies)",
            )
        )
    return out


# -- semantic segmentation ------------------------------------------------------------------------------


def decode_mask(mask_png: Any, colors: Sequence[str]) -> np.ndarray:
    """Class indices [H, W] of a worker's PNG (0 = background/unknown colour, i + 1 = category i). Workforce
    rejected bad masks already; a colour outside the map still counts as background here."""
    if not isinstance(mask_png, str):
        raise ConsolidationInputError("mask_png must be a base64 string", reason="malformed_answer")
    text = mask_png.split(",", 1)[1] if mask_png.startswith("data:") else mask_png
    try:
        with Image.open(io.BytesIO(base64.b64decode(text))) as img:
            rgba = np.asarray(img.convert("RGBA"))
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as err:
        raise ConsolidationInputError(f"mask_png is not a PNG: {err}", reason="malformed_answer") from err
    rgb = rgba[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    out = np.zeros(code.shape, dtype=np.int64)
    for k, color in enumerate(colors):
        out[(code == int(color[1:], 16)) & (rgba[..., 3] > 0)] = k + 1
    return out


def encode_mask(mask: np.ndarray, colors: Sequence[str]) -> bytes:
    """The consolidated mask as Ground Truth writes it: an RGB PNG in the internal-color-map's colours."""
    palette = np.asarray(
        [[int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)] for c in (BACKGROUND_COLOR, *colors)],
        dtype=np.uint8,
    )
    buf = io.BytesIO()
    Image.fromarray(palette[mask]).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def segmentation_images(
    cats: list[str], objects: Sequence[ReadyObject]
) -> list[list[tuple[str, np.ndarray]]]:
    """Per object (in the given order), the workers' decoded masks as (worker_id, class indices)."""
    colors = color_map(len(cats))
    return [
        [(a.worker_id, decode_mask(a.payload.get("mask_png"), colors)) for a in o.answers] for o in objects
    ]


def _segmentation(cats: list[str], objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    colors = color_map(len(cats))
    ordered = sorted(objects, key=lambda o: o.object_id)
    images = segmentation_images(cats, ordered)
    model = SegmentationConsolidator(n_classes=len(cats) + 1).fit(images)
    out = []
    for i, obj in enumerate(ordered):
        cmap = model.internal_color_map(i, [BACKGROUND_NAME, *cats], [BACKGROUND_COLOR, *colors])
        out.append(
            StructuredLabel(
                object_id=obj.object_id,
                task_type=SEMANTIC_SEGMENTATION,
                label="",  # the caller writes the mask and puts its path here
                metadata={"internal-color-map": cmap},
                confidence=float(model.confidences_[i]),
                summary="mask",
                mask=model.labels_[i],
            )
        )
    return out


# -- verification and adjustment ------------------------------------------------------------------------


def fit_verification(cats: list[str], objects: Sequence[ReadyObject]) -> VerificationConsolidator:
    return VerificationConsolidator(categories=tuple(cats)).fit(
        [(o.object_id, a.worker_id, a.label, a.payload.get("comment")) for o in objects for a in o.answers]
    )


def _verification(cats: list[str], objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    model = fit_verification(cats, objects)
    assert model.object_ids_ is not None and model.labels_ is not None
    out = []
    for oid, k, meta in zip(model.object_ids_.tolist(), model.labels_.tolist(), model.metadata_, strict=True):
        out.append(
            StructuredLabel(
                object_id=int(oid),
                task_type=LABEL_VERIFICATION,
                label=str(int(k)),  # GT writes the verdict's index as a string
                metadata=dict(meta),
                confidence=float(meta["confidence"]),
                summary=cats[int(k)],
                class_index=int(k),
            )
        )
    return out


def _original_boxes(previous: dict[str, Any] | None, cats: list[str]) -> list[tuple[float, ...]] | None:
    """The previous GT boxes with class ids mapped to this job's categories by name (via its class-map);
    None when a class is not among the categories (then the workers' own `adjusted` flags decide)."""
    if not previous:
        return None
    label, meta = previous.get("label") or {}, previous.get("metadata") or {}
    class_map = meta.get("class-map") or {}
    rows = []
    for box in label.get("annotations", []):
        cid = str(box.get("class_id"))
        name = class_map.get(cid)
        if name is None and cid.isdigit() and int(cid) < len(cats):
            name = cats[int(cid)]
        if name not in cats:
            return None
        rows.append(
            (
                cats.index(name),
                float(box["left"]),
                float(box["top"]),
                float(box["width"]),
                float(box["height"]),
            )
        )
    return rows


def _flag_status(obj: ReadyObject) -> str:
    return "adjusted" if any(a.payload.get("adjusted") is True for a in obj.answers) else "unadjusted"


def _adjustment(cats: list[str], objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    bases = {(o.previous or {}).get("task_type", "") for o in objects}
    if len(bases) != 1:
        raise ConsolidationInputError(
            f"adjustment objects mix base types {sorted(bases)!r}", reason="mixed_base"
        )
    base = bases.pop()
    by_id = {o.object_id: o for o in objects}
    if base == BOUNDING_BOX:
        originals = {o.object_id: _original_boxes(o.previous, cats) for o in objects}
        answers = box_answers(cats, objects)
        if all(v is not None for v in originals.values()):
            model = BoxAdjustmentConsolidator().fit(answers, originals)  # type: ignore[arg-type]
            labels = _box_labels(cats, objects, model.boxes, answers)
            for lab, status in zip(labels, model.adjustment_status_, strict=True):
                lab.metadata["adjustment-status"] = status
            return labels
        labels = _box_labels(cats, objects, BoxConsolidator().fit(answers), answers)
    elif base == NAMED_ENTITY_RECOGNITION:
        labels = _spans(cats, objects)
    elif base == SEMANTIC_SEGMENTATION:
        labels = _segmentation(cats, objects)
    else:
        raise ConsolidationInputError(f"cannot adjust {base!r} labels", reason="unknown_task_type")
    for lab in labels:
        lab.metadata["adjustment-status"] = _flag_status(by_id[lab.object_id])
    return labels


# -- custom templates -----------------------------------------------------------------------------------


def _custom(objects: Sequence[ReadyObject]) -> list[StructuredLabel]:
    """The majority answer as the label, every answer and the majority's share in the metadata; the jobs
    service writes what the job's `custom_consolidation` asks for ("majority" or "all")."""
    out = []
    for obj in sorted(objects, key=lambda o: o.object_id):
        result = consolidate_custom([(a.worker_id, a.payload) for a in obj.answers])
        out.append(
            StructuredLabel(
                object_id=obj.object_id,
                task_type=CUSTOM,
                label=result.majority,
                metadata={"confidence": result.confidence, "answers": result.answers},
                confidence=result.confidence,
                summary=f"{result.votes}/{len(obj.answers)} agree",
            )
        )
    return out
