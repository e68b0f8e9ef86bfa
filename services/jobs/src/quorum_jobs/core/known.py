"""Known-answer (gold / control) objects of a classification job.

A job may name a manifest attribute (`known_answer_attribute`, e.g. "gold-label"): the lines that carry it
are known-answer objects and its value is their true class, one of the job's categories. They are dispatched
to workers like every other object (the attribute never leaves the jobs service except as the object's
`known_label` towards workforce, which passes it to consolidation with each answer event and never to a
worker); consolidation labels them with their known class (confidence 1), anchors its worker model on them
and reports each worker's accuracy on them. The attribute passes through to the output line unchanged, as
every input key does, so the output shows which objects were known-answer ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quorum_common.task_types import CLASSIFICATION_TYPES
from quorum_jobs.core.manifest import SOURCE, SOURCE_REF

MAX_KNOWN_ATTRIBUTE_CHARS = 256


def known_attribute_errors(
    attr: str, task_type: str, label_attribute: str, *, auto_labeling: bool = False
) -> list[str]:
    """Problems with a job's `known_answer_attribute` ("" = none: no problem)."""
    if not attr:
        return []
    if task_type not in CLASSIFICATION_TYPES:
        return [
            f"known_answer_attribute is only for single-label classification jobs "
            f"({', '.join(sorted(CLASSIFICATION_TYPES))}), not {task_type}"
        ]
    errors: list[str] = []
    if not attr.strip() or len(attr) > MAX_KNOWN_ATTRIBUTE_CHARS:
        errors.append(
            f"known_answer_attribute must be 1 to {MAX_KNOWN_ATTRIBUTE_CHARS} characters and not blank, "
            f"got {len(attr)}"
        )
    elif attr in (SOURCE, SOURCE_REF):
        errors.append(f"known_answer_attribute {attr!r} is reserved (it names the data object)")
    elif attr in (label_attribute, f"{label_attribute}-metadata"):
        errors.append(
            f"known_answer_attribute {attr!r} must differ from the job's label attribute {label_attribute!r} "
            "(the job adds that attribute to every output line)"
        )
    if auto_labeling:
        errors.append(
            "known_answer_attribute cannot be combined with auto_labeling yet (known-answer objects would "
            "have to be sent to humans and kept out of the machine-labeled ones)"
        )
    return errors


def known_label_error(data: dict[str, Any], attr: str, categories: Sequence[str]) -> str | None:
    """Why a manifest line's known answer is not usable, or None (also when the line has none)."""
    if attr not in data:
        return None
    value = data[attr]
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        return f"known answer {attr!r} must be a category name (a string), got {kind} {value!r}"
    if value not in categories:
        shown = ", ".join(repr(c) for c in categories[:10]) + (", ..." if len(categories) > 10 else "")
        return f"known answer {attr!r} is {value!r}, which is not one of the job's categories ({shown})"
    return None


def known_label(data: dict[str, Any], attr: str) -> str:
    """The line's known class ("" when the job has no known-answer attribute or the line lacks it)."""
    if not attr:
        return ""
    value = data.get(attr)
    return value if isinstance(value, str) else ""
