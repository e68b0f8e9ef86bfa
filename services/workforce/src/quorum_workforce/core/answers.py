"""What a submitted answer must look like, given the job's task type and categories."""

from __future__ import annotations

import json
from collections.abc import Sequence

from quorum_common.task_types import ADJUSTMENT, CHAINED_TYPES, CUSTOM, SEMANTIC_SEGMENTATION
from quorum_workforce.core.task_answers import PAYLOAD_TYPES, check_payload
from quorum_workforce.errors import InvalidArgument

CLASSIFICATION_TASK_TYPES = frozenset({"text-classification", "image-classification"})
MAX_PAYLOAD_BYTES = 64 * 1024
# Masks are PNGs: as large as the gateway lets an answer body be (its MAX_ANSWER_BYTES default).
MAX_MASK_PAYLOAD_BYTES = 256 * 1024
MAX_LABEL_CHARS = 1000


def is_classification(task_type: str) -> bool:
    return task_type in CLASSIFICATION_TASK_TYPES


def normalize_answer(
    task_type: str,
    categories: Sequence[str],
    label: str,
    payload_json: str,
    *,
    base_type: str = "",
    text: str = "",
    image_size: tuple[int, int] | None = None,
) -> str:
    """Validate an answer and return the payload to store (`{"label": ...}` when none was given).

    Raises InvalidArgument with a reason the worker UI can show: invalid_label, payload_too_large,
    payload_invalid, answer_empty, and the per-type reasons of core.task_answers (box_outside_image,
    spans_overlap, mask_wrong_size, ...). `base_type`, `text` and `image_size` are described there.
    """
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidArgument(f"label is longer than {MAX_LABEL_CHARS} characters", reason="invalid_label")
    if task_type == CUSTOM:
        return normalize_custom_answer(label, payload_json)
    if is_classification(task_type):
        if label not in categories:
            allowed = ", ".join(repr(c) for c in categories)
            shown = repr(label) if label else "an empty label"
            raise InvalidArgument(
                f"{shown} is not a category of this job; choose one of: {allowed}", reason="invalid_label"
            )
    elif not label and not payload_json:
        raise InvalidArgument("the answer is empty: give a label or a payload_json", reason="answer_empty")
    if payload_json:
        size = len(payload_json.encode())
        masks = SEMANTIC_SEGMENTATION in (task_type, base_type if task_type == ADJUSTMENT else "")
        limit = MAX_MASK_PAYLOAD_BYTES if masks else MAX_PAYLOAD_BYTES
        if size > limit:
            raise InvalidArgument(
                f"payload_json is {size} bytes; the limit is {limit}", reason="payload_too_large"
            )
        try:
            payload = json.loads(payload_json)
        except ValueError as err:
            raise InvalidArgument(f"payload_json is not valid JSON: {err}", reason="payload_invalid") from err
        if task_type in PAYLOAD_TYPES or task_type in CHAINED_TYPES:
            if not isinstance(payload, dict):
                raise InvalidArgument("payload must be a JSON object", reason="payload_invalid")
            check_payload(
                task_type, categories, label, payload, base_type=base_type, text=text, image_size=image_size
            )
        return payload_json
    if task_type in PAYLOAD_TYPES:
        raise InvalidArgument(
            f"a {task_type} answer needs a payload (see the task-type contract)", reason="payload_invalid"
        )
    if task_type in CHAINED_TYPES:
        check_payload(task_type, categories, label, {})
    return json.dumps({"label": label})


def normalize_custom_answer(label: str, payload_json: str) -> str:
    """A custom template's answer: any JSON object of at most MAX_PAYLOAD_BYTES (no categories, no label
    needed). A `label` sent beside the payload (the portal splits a template answer's string `label` off)
    is put back into the object, so the stored answer is what the template returned."""
    if not payload_json and not label:
        raise InvalidArgument(
            "the answer is empty: a custom task's answer is a JSON object in payload", reason="answer_empty"
        )
    try:
        payload = json.loads(payload_json) if payload_json else {}
    except ValueError as err:
        raise InvalidArgument(f"payload_json is not valid JSON: {err}", reason="payload_invalid") from err
    if not isinstance(payload, dict):
        raise InvalidArgument(
            f"a custom answer must be a JSON object, got {type(payload).__name__}", reason="payload_invalid"
        )
    stored = payload_json
    if label:
        stored = json.dumps({**payload, "label": label}, separators=(",", ":"), ensure_ascii=False)
    size = max(len(payload_json.encode()), len(stored.encode()))
    if size > MAX_PAYLOAD_BYTES:
        raise InvalidArgument(
            f"payload_json is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}", reason="payload_too_large"
        )
    return stored
