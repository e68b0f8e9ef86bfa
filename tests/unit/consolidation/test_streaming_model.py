"""Streaming consolidation's job-level worker model: labels from the cached model's posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.adaptive import (
    ADAPTIVE_DS_PARAMS,
    MIN_OVERLAP_OBJECTS,
    WorkerModel,
    fit_worker_model,
    posteriors,
)
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.dawid_skene import DawidSkene
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.simulate import random_confusions, simulate
from quorum_consolidation.core.streaming import label_with_model

CATS = ("a", "b", "c")


def reliable_vs_adversarial(n_objects: int, seed: int = 0) -> tuple[list[tuple[int, str, str]], list[str]]:
    """'good' is always right; 'bad1' and 'bad2' each (independently) give the next class 35% of the time,
    so they often outvote 'good' 2-1."""
    rng = np.random.default_rng(seed)
    triples, truth = [], []
    for o in range(n_objects):
        t = int(rng.integers(3))
        truth.append(CATS[t])
        triples.append((o, "good", CATS[t]))
        triples += [(o, w, CATS[(t + 1) % 3] if rng.random() < 0.35 else CATS[t]) for w in ("bad1", "bad2")]
    return triples, truth


@pytest.mark.parametrize("method", ["ds", "auto"])
def test_a_reliable_worker_outvotes_two_adversarial_ones_once_the_model_has_seen_enough(method: str) -> None:
    history, _ = reliable_vs_adversarial(300)
    model = fit_worker_model(Answers.from_triples(history, CATS), method=method)  # type: ignore[arg-type]
    assert model.source == {"ds": "dawid_skene", "auto": "auto"}[method]
    new = Answers.from_triples([(1000, "good", "a"), (1000, "bad1", "b"), (1000, "bad2", "b")], CATS)
    labels, confidences, probas = label_with_model(model, new)
    assert CATS[labels[0]] == "a" and confidences[0] > 0.9
    assert probas.sum(axis=1) == pytest.approx([1.0])
    assert MajorityVote().fit(new).labels_.tolist() == [1]  # majority vote follows the pair


def test_history_also_fixes_the_labels_of_the_fitted_objects() -> None:
    history, truth = reliable_vs_adversarial(300, seed=1)
    answers = Answers.from_triples(history, CATS)
    labels, _, _ = label_with_model(fit_worker_model(answers), answers)
    gold = np.array([CATS.index(t) for t in truth])
    mv = MajorityVote().fit(answers).labels_
    assert (labels == gold).mean() > 0.98 > (mv == gold).mean()


def test_unknown_workers_answer_with_the_population_matrix() -> None:
    history, _ = reliable_vs_adversarial(60)
    model = fit_worker_model(Answers.from_triples(history, CATS))
    new = Answers.from_triples([(0, "stranger1", "c"), (0, "stranger2", "c"), (0, "good", "c")], CATS)
    got = posteriors(model, new)
    log_pop, log_good = model.log_population, model.log_confusions[model.rows_for(["good"])[0]]
    logits = model.log_prior + 2 * log_pop[:, 2] + log_good[:, 2]
    expected = np.exp(logits - logits.max())
    assert got[0] == pytest.approx(expected / expected.sum())
    # An object answered only by strangers: prior times the population's likelihoods.
    alone = posteriors(model, Answers.from_triples([(7, "x", "b")], CATS))[0]
    logits = model.log_prior + log_pop[:, 1]
    assert alone == pytest.approx(np.exp(logits) / np.exp(logits).sum())


def test_matches_dawid_skene_posteriors_when_fitted_on_the_same_answers() -> None:
    rng = np.random.default_rng(3)
    crowd = simulate(random_confusions(rng, 12, 4, (0.5, 0.9)), 400, 3, seed=4)
    # Run to convergence, where the M-step after the last E-step changes nothing.
    params = {**ADAPTIVE_DS_PARAMS, "tol": 1e-12, "n_iter": 1000}
    model = fit_worker_model(crowd.answers, params=params)
    ds = DawidSkene(**params).fit(crowd.answers)
    assert ds.probas_ is not None
    got = posteriors(model, crowd.answers)
    assert np.abs(got - ds.probas_).max() < 1e-3
    assert (got.argmax(axis=1) == ds.labels_).mean() > 0.99


def test_auto_tempers_the_posteriors_it_labels_with() -> None:
    crowd = simulate(random_confusions(np.random.default_rng(8), 15, 3, (0.6, 0.9)), 600, 3, seed=8)
    model = fit_worker_model(crowd.answers, method="auto")
    assert model.source == "auto" and model.temperature > 0
    raw = posteriors(model, crowd.answers, temper=False)
    tempered = posteriors(model, crowd.answers)
    _, confidences, probas = label_with_model(model, crowd.answers)
    np.testing.assert_allclose(probas, tempered)
    np.testing.assert_array_equal(tempered.argmax(axis=1), raw.argmax(axis=1))
    if model.temperature > 1:
        assert confidences.mean() < raw.max(axis=1).mean()
    with pytest.raises(ValueError, match="method"):
        fit_worker_model(crowd.answers, method="glad")  # type: ignore[arg-type]


def test_exact_ties_are_broken_by_the_seeded_generator() -> None:
    strangers = Answers.from_triples([(o, "s", "b") for o in range(200)], CATS)
    # A uniform model: every class equally likely for every answer.
    flat = WorkerModel(
        categories=CATS, worker_ids=np.zeros(0, dtype=object), log_confusions=np.zeros((0, 3, 3)),
        log_prior=np.full(3, -np.log(3)), log_population=np.full((3, 3), -np.log(3)),
    )  # fmt: skip
    labels, confidences, _ = label_with_model(flat, strangers, seed=5)
    assert set(labels.tolist()) == {0, 1, 2}
    assert confidences == pytest.approx(np.full(200, 1 / 3))
    assert label_with_model(flat, strangers, seed=5)[0].tolist() == labels.tolist()


@pytest.mark.parametrize("method", ["ds", "auto"])
def test_small_jobs_get_a_one_coin_model_that_labels_as_majority_vote(method: str) -> None:
    few = [(o, w, CATS[(o + (w == "z")) % 3]) for o in range(MIN_OVERLAP_OBJECTS - 1) for w in "xyz"]
    answers = Answers.from_triples(few, CATS)
    model = fit_worker_model(answers, method=method)  # type: ignore[arg-type]
    assert model.source == "one_coin"
    labels, _, _ = label_with_model(model, answers)
    assert labels.tolist() == MajorityVote().fit(answers).labels_.tolist()
    more = few + [(o, w, "a") for o in range(100, 102) for w in "xy"]
    assert fit_worker_model(Answers.from_triples(more, CATS), method=method).source != "one_coin"  # type: ignore[arg-type]


def test_a_cached_model_of_two_always_agreeing_workers_leaves_their_first_split_open() -> None:
    """The model is fitted before the split arrives (as a live job's cached model is): every cell of the
    workers' confusions that no answer filled still gets a little mass, so the split is a toss-up rather than
    a ratio of floored zeros."""
    for n in range(10, 21):
        agreed = Answers.from_triples([(o, w, CATS[o % 3]) for o in range(n) for w in ("w1", "w2")], CATS)
        model = fit_worker_model(agreed, method="auto")
        split = Answers.from_triples([(101, "w1", "a"), (101, "w2", "b")], CATS)
        assert posteriors(model, split)[0].max() < 0.6, n
