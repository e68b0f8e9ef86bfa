"""Which objects sent to humans carry the automated-labeling model's predicted class."""

from __future__ import annotations

import pytest

from quorum_jobs.core.batching import DataObject
from quorum_jobs.core.model_annotator import model_labels
from quorum_jobs.settings import JobsSettings


def test_every_object_sent_to_humans_carries_the_prediction_except_the_random_draws() -> None:
    predicted = {1: "a", 2: "b", 3: "a", 4: "b", 5: "a"}
    # Active picks 4 and 2, random draws 5 and 1, then the rest (a rest-to-humans iteration).
    assert model_labels([4, 2, 5, 1, 3], predicted, random=[5, 1]) == {4: "b", 2: "b", 3: "a"}


def test_objects_without_a_prediction_carry_nothing() -> None:
    assert model_labels([1, 2, 3], {}, random=[]) == {}
    assert model_labels([1, 2], {1: "", 2: "x"}, random=set()) == {2: "x"}


def test_the_model_label_travels_in_the_size_estimate_of_a_put_call() -> None:
    plain = DataObject(7, source="some text")
    assert DataObject(7, source="some text", model_label="sports").approx_bytes() == plain.approx_bytes() + 6


def test_the_model_annotator_is_off_by_default_and_can_be_turned_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_ANNOTATOR", raising=False)
    assert JobsSettings(database_url="postgresql://x").model_annotator is False
    monkeypatch.setenv("MODEL_ANNOTATOR", "true")
    assert JobsSettings(database_url="postgresql://x").model_annotator is True
