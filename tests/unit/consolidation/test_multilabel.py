"""MultiLabelDawidSkene: posteriors beat the union on a crowd with a noisy worker; GT output; bad input."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.answers import ConsolidationInputError
from quorum_consolidation.core.multilabel import MultiLabelAnswers, MultiLabelDawidSkene

CATS = [f"c{j}" for j in range(6)]


def crowd(seed: int = 0, n: int = 300):
    """Truth: each class applies with p=0.3. Workers 0-2 have sensitivity 0.85 / specificity 0.95; worker 3
    ticks every class with probability 0.5 regardless of the truth."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n, len(CATS))) < 0.3
    triples = []
    for i in range(n):
        for w in range(4):
            if w < 3:
                vote = np.where(truth[i], rng.random(len(CATS)) < 0.85, rng.random(len(CATS)) < 0.05)
            else:
                vote = rng.random(len(CATS)) < 0.5
            triples.append((i, f"w{w}", [CATS[j] for j in np.flatnonzero(vote)]))
    return MultiLabelAnswers.from_triples(triples, CATS), truth


def as_matrix(labels: list[list[int]], k: int) -> np.ndarray:
    out = np.zeros((len(labels), k), dtype=bool)
    for i, lab in enumerate(labels):
        out[i, lab] = True
    return out


def test_posterior_beats_union_and_finds_the_noisy_worker() -> None:
    answers, truth = crowd()
    ds = MultiLabelDawidSkene().fit(answers)
    union = MultiLabelDawidSkene(decision="union").fit(answers)
    k = len(CATS)
    acc_ds = (as_matrix(ds.labels_, k) == truth).mean()
    acc_union = (as_matrix(union.labels_, k) == truth).mean()
    exact_ds = (as_matrix(ds.labels_, k) == truth).all(axis=1).mean()
    exact_union = (as_matrix(union.labels_, k) == truth).all(axis=1).mean()
    assert acc_ds > 0.97 and acc_ds > acc_union + 0.1
    assert exact_ds > exact_union + 0.3
    assert np.argmin(ds.specificity_.mean(axis=1)) == 3  # the noisy worker
    assert ds.sensitivity_.shape == ds.specificity_.shape == (4, k)
    np.testing.assert_allclose(union.probas_, ds.probas_)  # same model, only the decision differs


def test_ground_truth_output_shapes() -> None:
    triples = [("o", "a", ["c1", "c0"]), ("o", "b", ["c1"]), ("o", "c", ["c1", "c5"]), ("p", "a", [])]
    union = MultiLabelDawidSkene(decision="union").fit(MultiLabelAnswers.from_triples(triples, CATS))
    assert union.labels_ == [[0, 1, 5], []]
    assert set(union.confidence_maps_[0]) == {"0", "1", "5"}
    assert union.class_maps_[0] == {"0": "c0", "1": "c1", "5": "c5"}
    assert union.confidence_maps_[0]["1"] > union.confidence_maps_[0]["5"]
    post = MultiLabelDawidSkene().fit(MultiLabelAnswers.from_triples(triples, CATS))
    assert post.labels_[0] == [1] and post.labels_[1] == []
    assert all(0 <= v <= 1 for v in post.confidence_maps_[0].values())


@pytest.mark.parametrize(
    ("triples", "match"),
    [
        ([("o", "a", ["zz"])], "not in categories"),
        ([("o", "a", ["c0", "c0"])], "repeats a label"),
        ([("o", "a", ["c0"]), ("o", "a", [])], "more than once"),
        ([("o", "a", "c0")], "triple"),
    ],
)
def test_bad_input(triples: list, match: str) -> None:
    with pytest.raises(ConsolidationInputError, match=match):
        MultiLabelAnswers.from_triples(triples, CATS)


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="decision"):
        MultiLabelDawidSkene(decision="all")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prior_sensitivity"):
        MultiLabelDawidSkene(prior_sensitivity=0.3)


def test_empty() -> None:
    model = MultiLabelDawidSkene().fit(MultiLabelAnswers.from_triples([], CATS))
    assert model.labels_ == [] and model.probas_.shape == (0, len(CATS))
