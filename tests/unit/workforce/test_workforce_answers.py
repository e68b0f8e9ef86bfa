import json

import pytest

from quorum_workforce.core.answers import MAX_PAYLOAD_BYTES, is_classification, normalize_answer
from quorum_workforce.errors import InvalidArgument

CATS = ("cat", "dog")


@pytest.mark.parametrize("task_type", ["text-classification", "image-classification"])
def test_classification_label_must_be_a_category(task_type: str) -> None:
    assert is_classification(task_type)
    assert json.loads(normalize_answer(task_type, CATS, "dog", "")) == {"label": "dog"}
    with pytest.raises(InvalidArgument) as err:
        normalize_answer(task_type, CATS, "bird", "")
    assert err.value.reason == "invalid_label"
    assert "'cat'" in err.value.message and "'dog'" in err.value.message


def test_classification_label_is_case_sensitive_and_required() -> None:
    for label in ("", "Cat", " cat"):
        with pytest.raises(InvalidArgument) as err:
            normalize_answer("image-classification", CATS, label, "")
        assert err.value.reason == "invalid_label"


def test_payload_is_stored_as_given() -> None:
    payload = '{"label": "cat", "confidence": 0.9}'
    assert normalize_answer("text-classification", CATS, "cat", payload) == payload


def test_payload_must_be_json() -> None:
    with pytest.raises(InvalidArgument) as err:
        normalize_answer("text-classification", CATS, "cat", "{not json")
    assert err.value.reason == "payload_invalid"


def test_payload_size_limit_counts_bytes() -> None:
    at_limit = json.dumps("x" * (MAX_PAYLOAD_BYTES - 2))
    assert len(at_limit.encode()) == MAX_PAYLOAD_BYTES
    assert normalize_answer("text-classification", CATS, "cat", at_limit) == at_limit
    multibyte = json.dumps("é" * (MAX_PAYLOAD_BYTES // 2), ensure_ascii=False)
    with pytest.raises(InvalidArgument) as err:
        normalize_answer("text-classification", CATS, "cat", multibyte)
    assert err.value.reason == "payload_too_large"


def test_other_task_types_need_a_label_or_a_payload() -> None:
    assert not is_classification("bounding-box")
    assert normalize_answer("custom", (), "", '{"boxes": []}') == '{"boxes": []}'
    assert json.loads(normalize_answer("custom", (), "PER", "")) == {"label": "PER"}
    with pytest.raises(InvalidArgument) as err:
        normalize_answer("custom", (), "", "")
    assert err.value.reason == "answer_empty"
