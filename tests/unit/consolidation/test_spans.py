"""SpanConsolidator: boundaries by mode, labels by vote, quorum, overlap resolution, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.spans import SpanAnswers, SpanConsolidator

CATS = ["PER", "ORG", "DATE"]


def test_off_by_one_boundaries_resolve_to_the_mode() -> None:
    subs = [
        ("t", "a", [(10, 20, "PER"), (40, 52, "DATE")]),
        ("t", "b", [(10, 20, "PER"), (40, 52, "DATE")]),
        ("t", "c", [(9, 21, "PER"), (41, 52, "DATE")]),
        ("t", "d", [(10, 19, "ORG"), (40, 53, "DATE")]),
        ("t", "e", [{"label": "PER", "startOffset": 11, "endOffset": 20}]),
    ]
    model = SpanConsolidator().fit(SpanAnswers.from_submissions(subs, CATS))
    assert model.annotations_[0]["entities"] == [
        {"label": "PER", "startOffset": 10, "endOffset": 20},
        {"label": "DATE", "startOffset": 40, "endOffset": 52},
    ]
    assert model.annotations_[0]["labels"] == [{"label": c} for c in CATS]
    conf = [e["confidence"] for e in model.entities_[0]]
    assert len(conf) == 2 and all(0 < c <= 1 for c in conf)
    assert model.resolutions_ == []


def test_no_clear_mode_takes_the_median_and_quorum_drops_lone_spans() -> None:
    subs = [
        ("t", "a", [(10, 20, "PER"), (100, 110, "ORG")]),
        ("t", "b", [(11, 20, "PER")]),
        ("t", "c", [(12, 20, "PER")]),
    ]
    model = SpanConsolidator().fit(SpanAnswers.from_submissions(subs, CATS))
    assert model.annotations_[0]["entities"] == [{"label": "PER", "startOffset": 11, "endOffset": 20}]


def test_reliable_workers_win_the_label_vote() -> None:
    rng = np.random.default_rng(0)
    subs = []
    truth = {}
    for t in range(40):
        label = CATS[int(rng.integers(3))]
        truth[t] = label
        for w in "abc":
            subs.append((t, w, [(5, 15, label)]))
        for w in "de":  # two workers who always answer a wrong label
            subs.append((t, w, [(5, 15, CATS[(CATS.index(label) + 1) % 3])]))
    model = SpanConsolidator().fit(SpanAnswers.from_submissions(subs, CATS))
    assert all(a["entities"][0]["label"] == truth[t] for t, a in enumerate(model.annotations_))
    acc = dict(
        zip(model_ids := ["a", "b", "c", "d", "e"], model.worker_label_accuracy_.tolist(), strict=True)
    )
    assert min(acc[w] for w in "abc") > max(acc[w] for w in "de"), model_ids


def test_overlapping_entities_are_resolved_and_reported() -> None:
    # two kept clusters that overlap by 3 characters; the weaker one is trimmed, and that is reported
    subs = [
        ("t", "a", [(0, 10, "PER"), (7, 30, "ORG")]),
        ("t", "b", [(0, 10, "PER"), (7, 30, "ORG")]),
        ("t", "c", [(0, 10, "PER")]),
    ]
    model = SpanConsolidator().fit(SpanAnswers.from_submissions(subs, CATS))
    ents = model.annotations_[0]["entities"]
    assert ents == [
        {"label": "PER", "startOffset": 0, "endOffset": 10},
        {"label": "ORG", "startOffset": 10, "endOffset": 30},
    ]
    assert len(model.resolutions_) == 1 and model.resolutions_[0]["action"] == "trimmed to [10, 30)"
    for a, b in zip(ents, ents[1:], strict=False):
        assert a["endOffset"] <= b["startOffset"]


def test_single_worker_confidence_and_empty() -> None:
    model = SpanConsolidator().fit(
        SpanAnswers.from_submissions([("t", "a", [(0, 3, "PER")]), ("u", "a", [])], CATS)
    )
    assert model.entities_ == [[{"confidence": 0.0}], []]
    assert model.annotations_[1]["entities"] == []


@pytest.mark.parametrize(
    ("subs", "match"),
    [
        ([("t", "a", [(3, 3, "PER")])], "startOffset < endOffset"),
        ([("t", "a", [(0, 3, "LOC")])], "not in categories"),
        ([("t", "a", [(0.5, 3, "PER")])], "integers"),
        ([("t", "a", [{"label": "PER"}])], "needs label"),
        ([("t", "a", []), ("t", "a", [])], "more than once"),
        ([("t", "a")], "triple"),
    ],
)
def test_bad_input(subs: list, match: str) -> None:
    with pytest.raises(ConsolidationInputError, match=match):
        SpanAnswers.from_submissions(subs, CATS)


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="jaccard_threshold"):
        SpanConsolidator(jaccard_threshold=0)
    with pytest.raises(ValueError, match="quorum"):
        SpanConsolidator(quorum=1)
