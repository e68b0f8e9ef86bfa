"""Custom jobs' post-processing: the majority answer by canonical JSON, its share, and every answer."""

from __future__ import annotations

import json

import pytest

from quorum_consolidation.adapters.task_labels import ReadyObject, WorkerAnswer, consolidate_objects
from quorum_consolidation.core.custom import canonical_answer, consolidate_custom


def test_majority_compares_canonical_json_so_key_order_does_not_split_a_vote() -> None:
    result = consolidate_custom(
        [("w1", {"a": 1, "b": [1, 2]}), ("w2", {"b": [1, 2], "a": 1}), ("w3", {"a": 2, "b": [1, 2]})]
    )
    assert result.majority == {"a": 1, "b": [1, 2]}
    assert result.confidence == pytest.approx(2 / 3) and result.votes == 2
    assert [a["workerId"] for a in result.answers] == ["w1", "w2", "w3"]
    assert result.answers[1]["answer"] == {"b": [1, 2], "a": 1}  # kept as the worker gave it
    assert canonical_answer({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_a_tie_goes_to_the_answer_given_first() -> None:
    result = consolidate_custom([("w1", {"x": "no"}), ("w2", {"x": "yes"})])
    assert result.majority == {"x": "no"} and result.confidence == 0.5
    with pytest.raises(ValueError):
        consolidate_custom([])


def test_custom_objects_become_labels_with_every_answer_in_the_metadata() -> None:
    objects = [
        ReadyObject(1, [WorkerAnswer("w1", "", {"ok": True}), WorkerAnswer("w2", "", {"ok": False})]),
        ReadyObject(0, [WorkerAnswer("w1", "", {"s": 3}), WorkerAnswer("w2", "", {"s": 3})]),
    ]
    labels = consolidate_objects("custom", [], objects)
    assert [lab.object_id for lab in labels] == [0, 1]
    first = json.loads(labels[0].label_json())
    assert first == {
        "task_type": "custom",
        "label": {"s": 3},
        "metadata": {
            "confidence": 1.0,
            "answers": [{"workerId": "w1", "answer": {"s": 3}}, {"workerId": "w2", "answer": {"s": 3}}],
        },
    }
    assert labels[0].summary == "2/2 agree" and labels[1].confidence == 0.5
