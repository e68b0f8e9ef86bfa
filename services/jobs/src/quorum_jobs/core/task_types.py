"""The built-in task types: what their manifest lines need, and Ground Truth's names for them.

Verification and adjustment jobs start from a previous job's output manifest (Quorum's or a real Ground
Truth one): `source_label_attribute` names the attribute holding the previous label, and the previous
label's metadata `type` gives the base type an adjustment job edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quorum_common.task_types import (
    ADJUSTMENT,
    BOUNDING_BOX,
    CUSTOM,
    IMAGE_CLASSIFICATION,
    IMAGE_MULTILABEL,
    LABEL_VERIFICATION,
    NAMED_ENTITY_RECOGNITION,
    SEMANTIC_SEGMENTATION,
    TEXT_CLASSIFICATION,
    TEXT_MULTILABEL,
)

SOURCE = "source"
SOURCE_REF = "source-ref"

#: Task type -> the manifest key its objects must carry (None: either, decided by the previous label).
SOURCE_KEY_BY_TASK: dict[str, str | None] = {
    TEXT_CLASSIFICATION: SOURCE,
    IMAGE_CLASSIFICATION: SOURCE_REF,
    IMAGE_MULTILABEL: SOURCE_REF,
    TEXT_MULTILABEL: SOURCE,
    BOUNDING_BOX: SOURCE_REF,
    SEMANTIC_SEGMENTATION: SOURCE_REF,
    NAMED_ENTITY_RECOGNITION: SOURCE,
    LABEL_VERIFICATION: None,
    ADJUSTMENT: None,
    CUSTOM: None,  # either: the task input is the whole line
}
SUPPORTED_TASK_TYPES = tuple(SOURCE_KEY_BY_TASK)
CHAINED_TASK_TYPES = (LABEL_VERIFICATION, ADJUSTMENT)
#: The base types an adjustment job can edit (their labels are geometry or spans).
ADJUSTABLE_TYPES = (BOUNDING_BOX, SEMANTIC_SEGMENTATION, NAMED_ENTITY_RECOGNITION)

#: Quorum task type -> the `type` Ground Truth writes in the -metadata (without "groundtruth/").
GT_TYPE_BY_TASK: dict[str, str] = {
    BOUNDING_BOX: "object-detection",
    NAMED_ENTITY_RECOGNITION: "text-span",
}
#: Task types whose jobs need no categories (the template defines what a worker answers).
NO_CATEGORY_TYPES = (CUSTOM,)
#: Ground Truth metadata types (after "groundtruth/") -> Quorum task type; both spellings of NER occur.
TASK_BY_GT_TYPE: dict[str, str] = {
    "object-detection": BOUNDING_BOX,
    "text-span": NAMED_ENTITY_RECOGNITION,
    "named-entity-recognition": NAMED_ENTITY_RECOGNITION,
    SEMANTIC_SEGMENTATION: SEMANTIC_SEGMENTATION,
    IMAGE_CLASSIFICATION: IMAGE_CLASSIFICATION,
    TEXT_CLASSIFICATION: TEXT_CLASSIFICATION,
    IMAGE_MULTILABEL: IMAGE_MULTILABEL,
    TEXT_MULTILABEL: TEXT_MULTILABEL,
    LABEL_VERIFICATION: LABEL_VERIFICATION,
}


def is_chained(task_type: str) -> bool:
    return task_type in CHAINED_TASK_TYPES


def task_of_gt_type(gt_type: object) -> str | None:
    """The Quorum task type of a metadata `type` ("groundtruth/object-detection"), or None."""
    if not isinstance(gt_type, str):
        return None
    name = gt_type.split("/", 1)[1] if gt_type.lower().startswith("groundtruth/") else gt_type
    return TASK_BY_GT_TYPE.get(name.lower())


@dataclass(frozen=True, slots=True)
class Previous:
    """A line's previous label: the contract's `previous` object ({"task_type", "label", "metadata"})."""

    task_type: str
    label: Any
    metadata: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"task_type": self.task_type, "label": self.label, "metadata": self.metadata}


def previous_label(data: dict[str, Any], attr: str) -> tuple[Previous | None, str | None]:
    """The previous label stored under `attr` of one manifest line, or why there is none usable.

    Segmentation labels are files: GT writes them as `<attr>-ref` / `<attr>-ref-metadata`, so both the
    attribute as given and its `-ref` form are looked up.
    """
    candidates = [attr] if attr.endswith("-ref") else [attr, f"{attr}-ref"]
    key = next((k for k in candidates if k in data), None)
    if key is None:
        return None, f"the line has no previous label {attr!r} (source_label_attribute)"
    meta = data.get(f"{key}-metadata")
    if not isinstance(meta, dict):
        return None, f"the line has no object {key + '-metadata'!r} for the previous label"
    if "failure-reason" in meta:
        return None, f"the previous label {key!r} failed ({meta['failure-reason']}); drop the line"
    base = task_of_gt_type(meta.get("type"))
    if base is None:
        return None, f"{key + '-metadata'!r} has no known 'type' (got {meta.get('type')!r})"
    why = _label_shape_error(base, data[key])
    if why is not None:
        return None, f"the previous label {key!r} {why}"
    return Previous(base, data[key], meta), None


def _label_shape_error(base: str, value: Any) -> str | None:
    """Why a previous GT label value does not have its type's shape (real-file quirks accepted)."""
    if base == BOUNDING_BOX:
        if not isinstance(value, dict) or not isinstance(value.get("annotations"), list):
            return "must be an object with an 'annotations' list (object-detection)"
        for i, box in enumerate(value["annotations"]):
            if not isinstance(box, dict):
                return f"annotations[{i}] must be an object"
            for k in ("class_id", "left", "top", "width", "height"):
                v = box.get(k)
                # GT writes class ids as ints or strings, coordinates as ints or floats.
                ok = isinstance(v, int | float) and not isinstance(v, bool)
                if k == "class_id" and isinstance(v, str):
                    ok = v.strip().lstrip("-").isdigit()
                if not ok:
                    return f"annotations[{i}].{k} must be a number, got {v!r}"
        return None
    if base == NAMED_ENTITY_RECOGNITION:
        ann = value.get("annotations") if isinstance(value, dict) else None
        if not isinstance(ann, dict) or not isinstance(ann.get("entities"), list):
            return "must be an object with 'annotations': {'entities': [...]} (text-span)"
        return None
    if base == SEMANTIC_SEGMENTATION:
        return None if isinstance(value, str) and value else "must be the URI of the mask PNG"
    if base in (IMAGE_MULTILABEL, TEXT_MULTILABEL):
        return None if isinstance(value, list) else "must be a list of class ids (multi-label)"
    if isinstance(value, bool) or not isinstance(value, int | str):
        return "must be a class id (classification)"
    return None
