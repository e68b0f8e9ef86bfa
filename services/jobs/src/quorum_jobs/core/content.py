"""Which file backs an object's image or its consolidated mask (pure: no file is touched here)."""

from __future__ import annotations

import json
from typing import Any

from quorum_common.task_types import SEMANTIC_SEGMENTATION


def image_ref(line: dict[str, Any]) -> str | None:
    """The object's `source-ref`, or None for a text object (`source`)."""
    ref = line.get("source-ref")
    return ref if isinstance(ref, str) and ref else None


def mask_ref(job_task_type: str, label_json: str | None) -> str | None:
    """The consolidated segmentation mask's path (the output's `<attr>-ref`), or None when the label is not
    a segmentation label (another task type, or an adjustment of another base type) or there is none yet.

    `label_json` is consolidation's {"task_type", "label", "metadata"} (see core.output.LineFormatter)."""
    if not label_json:
        return None
    try:
        data = json.loads(label_json)
    except ValueError:
        return None  # a classification label is plain text, not JSON
    if not isinstance(data, dict):
        return None
    base = data.get("task_type") or job_task_type
    value = data.get("label")
    if base != SEMANTIC_SEGMENTATION or not isinstance(value, str) or not value:
        return None
    return value
