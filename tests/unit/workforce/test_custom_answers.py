"""Answers to custom tasks: any JSON object up to the payload limit, no label needed; clear errors else."""

from __future__ import annotations

import json

import pytest

from quorum_workforce.core.answers import MAX_PAYLOAD_BYTES, normalize_answer
from quorum_workforce.errors import InvalidArgument


def refused(label: str, payload_json: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as err:
        normalize_answer("custom", (), label, payload_json)
    return err.value


def test_any_json_object_is_an_answer_without_categories_or_label() -> None:
    payload = {"score": "4", "tags": ["a", "b"], "nested": {"ok": True}}
    assert json.loads(normalize_answer("custom", (), "", json.dumps(payload))) == payload
    assert normalize_answer("custom", (), "", "{}") == "{}"


def test_a_label_sent_beside_the_payload_is_kept_in_the_answer() -> None:
    stored = normalize_answer("custom", (), "cat", '{"extra": 1}')
    assert json.loads(stored) == {"extra": 1, "label": "cat"}  # any label: custom jobs have no categories
    assert json.loads(normalize_answer("custom", (), "dog", "")) == {"label": "dog"}


def test_bad_custom_answers_are_refused_with_a_reason() -> None:
    err = refused("", "[1, 2]")
    assert err.reason == "payload_invalid" and "must be a JSON object, got list" in err.message
    assert refused("", "{nope").reason == "payload_invalid"
    assert refused("", "").reason == "answer_empty"
    big = json.dumps({"x": "y" * MAX_PAYLOAD_BYTES})
    err = refused("", big)
    assert err.reason == "payload_too_large" and str(MAX_PAYLOAD_BYTES) in err.message
