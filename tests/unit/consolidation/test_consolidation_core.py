"""The pure consolidation core: input contract, majority vote, one-coin confidence, registry."""

from __future__ import annotations

import time

import numpy as np
import pytest

from quorum_consolidation.core import (
    METHODS,
    Answers,
    BaseClassificationAggregator,
    ConsolidationInputError,
    MajorityVote,
    consolidate,
    make_aggregator,
)

CATS2 = ["cat", "dog"]
CATS3 = ["cat", "dog", "bird"]


def pairwise_accuracy(
    agreeing_pairs: float, pairs: float, k: int, p0: float = 0.7, weight: float = 2.0
) -> float:
    """The estimator MajorityVote documents: invert a = p^2 + (1-p)^2/(K-1), with prior pseudo-pairs."""
    a = (agreeing_pairs + weight * (p0**2 + (1 - p0) ** 2 / (k - 1))) / (pairs + weight)
    return (1 + np.sqrt(max(0.0, 1 - k + a * k * (k - 1)))) / k


def one_coin(votes: list[int], accuracy: float) -> np.ndarray:
    """The docstring's posterior, written out term by term for one object."""
    k, n = len(votes), sum(votes)
    wrong = (1 - accuracy) / (k - 1)
    like = np.array([accuracy**v * wrong ** (n - v) for v in votes])
    return like / like.sum()


# --- input contract ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("triples", "categories", "reason", "match"),
    [
        ([(1, "a", "cow")], CATS2, "unknown_label", r"label not in categories \['cat', 'dog'\]: 'cow'"),
        ([(1, "a", "")], CATS2, "unknown_label", "label not in categories"),
        ([(1, "a", "cat")], ["cat"], "too_few_categories", "at least 2 categories, got 1"),
        ([], [], "too_few_categories", "at least 2 categories, got 0"),
        ([(1, "a", "cat")], ["cat", "cat"], "duplicate_category", "must be unique; repeated: 'cat'"),
        ([(1, "a", "cat"), (1, "a", "dog")], CATS2, "duplicate_answer", r"more than once.*\(1, 'a'\)"),
        ([(1, "a")], CATS2, "malformed_answer", r"\(object_id, worker_id, label\) triple"),
    ],
    ids=[
        "unknown-label",
        "empty-label",
        "one-category",
        "no-categories",
        "repeated-category",
        "worker-twice",
        "not-a-triple",
    ],
)
def test_bad_input_is_rejected_with_a_precise_message(
    triples: list[tuple], categories: list[str], reason: str, match: str
) -> None:
    with pytest.raises(ConsolidationInputError, match=match) as info:
        Answers.from_triples(triples, categories)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)  # crowd-kit style: plain ValueError for callers that want it


def test_unknown_method_lists_the_known_ones() -> None:
    expected = r"unknown consolidation method 'nope'; known: .*\bmv\b"
    with pytest.raises(ConsolidationInputError, match=expected) as err:
        consolidate([(1, "a", "cat")], CATS2, "nope")
    assert err.value.reason == "unknown_method"


@pytest.mark.parametrize(
    ("params", "match"),
    [({"sead": 1}, "unexpected keyword"), ({"max_accuracy": 1.5}, r"max_accuracy must be in \(0.5, 1\)")],
)
def test_bad_method_parameters(params: dict, match: str) -> None:
    with pytest.raises(ConsolidationInputError, match=match):
        make_aggregator("mv", params)


def test_answers_are_indexed_in_sorted_id_order() -> None:
    answers = Answers.from_triples([(7, "w2", "dog"), (3, "w1", "cat"), (7, "w1", "bird")], CATS3)
    assert answers.object_ids.tolist() == [3, 7]
    assert answers.worker_ids.tolist() == ["w1", "w2"]
    assert answers.objects.tolist() == [1, 0, 1]
    assert answers.classes.tolist() == [1, 0, 2]  # class index follows the categories' order, not sorting
    assert answers.votes().tolist() == [[1, 0, 0], [0, 1, 1]]
    assert answers.answer_counts().tolist() == [1, 2]


# --- empty input ------------------------------------------------------------------------------------------


def test_empty_input_exits_early() -> None:
    assert consolidate([], CATS2, "mv") == []
    mv = MajorityVote().fit(Answers.from_triples([], CATS3))
    assert mv.labels_ is not None and mv.labels_.shape == (0,)
    assert mv.probas_ is not None and mv.probas_.shape == (0, 3)
    assert mv.accuracy_ is None


# --- majority vote ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("categories", [CATS2, CATS3, [f"c{i}" for i in range(7)]], ids=["K=2", "K=3", "K=7"])
def test_majority_wins_and_confidence_is_the_one_coin_posterior(categories: list[str]) -> None:
    a, b = categories[0], categories[1]
    triples = [
        (0, "w1", a),
        (0, "w2", a),
        (0, "w3", b),  # 2-1 for a
        (1, "w1", b),
        (1, "w2", b),
        (1, "w3", b),  # unanimous b
    ]
    result = consolidate(triples, categories, "mv")
    assert [(r.object_id, r.label, r.class_index, r.answer_count, r.method) for r in result] == [
        (0, a, 0, 3, "mv"),
        (1, b, 1, 3, "mv"),
    ]
    k = len(categories)
    accuracy = pairwise_accuracy(1 + 3, 3 + 3, k)  # object 0: 1 of 3 pairs agree; object 1: 3 of 3
    expected0 = one_coin([2, 1] + [0] * (k - 2), accuracy)
    expected1 = one_coin([0, 3] + [0] * (k - 2), accuracy)
    assert result[0].confidence == pytest.approx(expected0[0])
    assert result[1].confidence == pytest.approx(expected1[1])
    mv = MajorityVote().fit(Answers.from_triples(triples, categories))
    assert mv.accuracy_ == pytest.approx(accuracy)
    assert mv.probas_ is not None
    np.testing.assert_allclose(mv.probas_, np.vstack([expected0, expected1]))
    np.testing.assert_allclose(mv.probas_.sum(axis=1), 1.0)


def test_k2_split_vote_confidence_equals_the_accuracy() -> None:
    # K=2, a 2-1 split: p^2 (1-p) / (p^2 (1-p) + p (1-p)^2) = p.
    result = consolidate([(0, "a", "dog"), (0, "b", "dog"), (0, "c", "cat")], CATS2, "mv")
    accuracy = max(pairwise_accuracy(1, 3, 2), 0.5 + 1e-3)  # one 2-1 split is chance-level agreement: floor
    assert result[0].label == "dog" and result[0].confidence == pytest.approx(accuracy)


def test_single_answer_confidence_is_the_accuracy_estimate() -> None:
    triples = [(0, "w1", "cat"), (0, "w2", "cat"), (0, "w3", "dog"), (0, "w4", "cat"), (1, "w1", "bird")]
    mv = MajorityVote()
    labels = mv.fit_predict(Answers.from_triples(triples, CATS3))
    assert labels.tolist() == [0, 2]
    assert mv.accuracy_ == pytest.approx(pairwise_accuracy(3, 6, 3))  # object 0: 3 of 6 pairs agree
    assert mv.confidences()[1] == pytest.approx(mv.accuracy_)  # object 1 has one answer


def test_single_answers_only_give_the_prior_accuracy_not_certainty() -> None:
    # One worker per object: agreement says nothing about accuracy, so the prior stands (not 0.99).
    mv = MajorityVote(prior_accuracy=0.7).fit(
        Answers.from_triples([(i, "w", "cat") for i in range(50)], CATS2)
    )
    assert mv.accuracy_ == pytest.approx(0.7)
    assert mv.confidences() == pytest.approx(np.full(50, 0.7))


@pytest.mark.parametrize(
    ("triples", "accuracy"),
    [
        ([(i, w, "cat") for i in range(400) for w in "abc"], 0.99),  # 1,200 unanimous pairs: capped
        ([(0, "a", "cat"), (0, "b", "dog"), (1, "a", "cat"), (1, "b", "dog")], 0.5 + 1e-3),  # chance: floor
    ],
    ids=["capped", "floored"],
)
def test_accuracy_is_clipped(triples: list[tuple], accuracy: float) -> None:
    mv = MajorityVote().fit(Answers.from_triples(triples, CATS2))
    assert mv.accuracy_ == pytest.approx(accuracy)
    assert mv.probas_ is not None and (mv.probas_ < 1).all() and (mv.probas_ > 0).all()


def test_ties_are_broken_at_random_but_reproducibly() -> None:
    # 200 objects, each a 1-1 tie between cat and dog (and a third class nobody chose).
    triples = [(i, w, c) for i in range(200) for w, c in (("w1", "cat"), ("w2", "dog"))]
    answers = Answers.from_triples(triples, CATS3)
    first = MajorityVote(seed=7).fit_predict(answers)
    assert set(first.tolist()) == {0, 1}  # never the class nobody voted for, and not always the first
    assert 60 < int((first == 0).sum()) < 140
    np.testing.assert_array_equal(first, MajorityVote(seed=7).fit_predict(answers))
    assert not np.array_equal(first, MajorityVote(seed=8).fit_predict(answers))
    probas = MajorityVote(seed=7).fit_predict_proba(answers)
    np.testing.assert_allclose(probas[:, :2], 0.5 * (1 - probas[:, 2:]).repeat(2, axis=1))


def test_string_object_ids_and_fit_predict_proba_shape() -> None:
    answers = Answers.from_triples([("img-b", 1, "dog"), ("img-a", 2, "bird"), ("img-a", 1, "bird")], CATS3)
    probas = MajorityVote().fit_predict_proba(answers)
    assert answers.object_ids.tolist() == ["img-a", "img-b"]
    assert probas.shape == (2, 3) and probas.argmax(axis=1).tolist() == [2, 1]


def test_confidences_before_fit_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        MajorityVote().confidences()


def test_registry_maps_names_to_aggregator_classes() -> None:
    assert METHODS["mv"] is MajorityVote
    assert all(issubclass(cls, BaseClassificationAggregator) for cls in METHODS.values())
    assert isinstance(make_aggregator("mv", {"seed": 3}), MajorityVote)


def test_two_hundred_thousand_answers_are_vectorised() -> None:
    """Sanity, not a benchmark: a per-answer Python loop would take seconds here."""
    rng = np.random.default_rng(0)
    n_objects, per_object, k = 40_000, 5, 4
    truth = rng.integers(k, size=n_objects)
    objects = np.repeat(np.arange(n_objects), per_object)
    offsets = rng.integers(0, 50, size=n_objects).repeat(per_object)
    workers = np.tile(np.arange(per_object), n_objects) + offsets
    correct = rng.random(objects.size) < 0.8
    classes = np.where(correct, truth[objects], rng.integers(k, size=objects.size))
    categories = [f"class{i}" for i in range(k)]
    labels = np.asarray(categories)[classes]

    started = time.perf_counter()
    answers = Answers.from_arrays(objects, workers, labels, categories)
    mv = MajorityVote(seed=1).fit(answers)
    elapsed = time.perf_counter() - started

    assert answers.n_answers == 200_000
    assert elapsed < 3.0, f"200k answers took {elapsed:.2f}s"
    assert mv.labels_ is not None and (mv.labels_ == truth).mean() > 0.9
    assert mv.accuracy_ is not None and 0.8 < mv.accuracy_ < 0.95
