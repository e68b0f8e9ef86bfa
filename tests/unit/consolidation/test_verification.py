"""Verification (verdicts + feedback) and bounding-box adjustment (fusion + adjustment-status)."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.boxes import BoxAnswers
from quorum_consolidation.core.verification import BoxAdjustmentConsolidator, VerificationConsolidator


def test_verdicts_with_an_unreliable_worker_and_feedback() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 60)
    verdicts = []
    for i, t in enumerate(truth.tolist()):
        for w in ("a", "b", "c"):
            v = t if rng.random() < 0.9 else 1 - t
            verdicts.append((i, w, ("good", "bad")[v]))
        verdicts.append((i, "flip", ("good", "bad")[1 - t], "too wide on the right" if i == 0 else ""))
    model = VerificationConsolidator().fit(verdicts)
    assert (model.labels_ == truth).mean() >= 0.95
    assert model.metadata_[0]["worker-feedback"] == [{"comment": "too wide on the right"}]
    assert "worker-feedback" not in model.metadata_[1]
    assert set(model.metadata_[1]) == {"class-name", "confidence"}
    assert 0.5 <= model.metadata_[1]["confidence"] <= 1


def test_verdict_bad_input() -> None:
    with pytest.raises(ConsolidationInputError, match="not in categories"):
        VerificationConsolidator().fit([("o", "a", "maybe")])
    with pytest.raises(ConsolidationInputError, match="verdict must be"):
        VerificationConsolidator().fit([("o", "a")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least 2"):
        VerificationConsolidator(categories=("good",))


def test_adjustment_status() -> None:
    original = {"i": [{"class_id": 0, "left": 10, "top": 10, "width": 50, "height": 50}], "j": []}
    same = [(0, 10, 10, 50, 50)]
    moved = [(0, 14, 10, 50, 50)]
    subs = [("i", "a", same), ("i", "b", same), ("i", "c", moved), ("j", "a", []), ("j", "b", [])]
    model = BoxAdjustmentConsolidator().fit(BoxAnswers.from_submissions(subs), original)
    assert model.adjustment_status_ == ["adjusted", "unadjusted"]
    assert model.changed_by_ == [["c"], []]
    assert model.annotations_[0] == [{"class_id": 0, "left": 10, "top": 10, "width": 50, "height": 50}]
    assert len(model.objects_[0]) == 1 and model.annotations_[1] == []
    with pytest.raises(ConsolidationInputError, match="no original boxes"):
        BoxAdjustmentConsolidator().fit(BoxAnswers.from_submissions(subs), {"i": []})
