"""What a submitted answer must look like, given the job's task type and categories."""

from __future__ import annotations

import json
from collections.abc import Sequence

from quorum_workforce.errors import InvalidArgument

CLASSIFICATION_TASK_TYPES = frozenset({"text-classification", "image-classification"})
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_LABEL_CHARS = 1000


def is_classification(task_type: str) -> bool:
    return task_type in CLASSIFICATION_TASK_TYPES


def normalize_answer(task_type: str, categories: Sequence[str], label: str, payload_json: str) -> str:
    """Validate an answer and return the payload to store (`{"label": ...}` when none was given).

    Raises InvalidArgument with a reason the worker UI can show: invalid_label, payload_too_large,
    payload_invalid, answer_empty.
    """
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidArgument(f"label is longer than {MAX_LABEL_CHARS} characters", reason="invalid_label")
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
        if size > MAX_PAYLOAD_BYTES:
            raise InvalidArgument(
                f"payload_json is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}", reason="payload_too_large"
            )
        try:
            json.loads(payload_json)
        except ValueError as err:
            raise InvalidArgument(f"payload_json is not valid JSON: {err}", reason="payload_invalid") from err
        return payload_json
    return json.dumps({"label": label})
