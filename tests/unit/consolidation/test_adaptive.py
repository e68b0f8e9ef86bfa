"""Adaptive redundancy: policy validation, posteriors under a worker model, stop/continue decisions, and a
seeded synthetic replay where a confidence target saves answers at the accuracy of fixed redundancy."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.adaptive import (
    ADAPTIVE_DS_PARAMS,
    AdaptivePolicy,
    WorkerModel,
    decide,
    decide_posteriors,
    fit_worker_model,
    one_coin_matrix,
    posteriors,
)
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.dawid_skene import DawidSkene
from quorum_consolidation.core.simulate import (
    random_confusions,
    simulate,
    simulate_adaptive_hard,
    simulate_lured,
)

CATS = ("neg", "pos")


def answers_of(triples: list[tuple[str, str, str]], categories: tuple[str, ...] = CATS) -> Answers:
    return Answers.from_triples(triples, categories)


def subset(answers: Answers, keep: np.ndarray) -> tuple[Answers, np.ndarray]:
    """Kept answers, objects and workers re-indexed; the original index of each remaining object."""
    obj_index, objects = np.unique(answers.objects[keep], return_inverse=True)
    wrk_index, workers = np.unique(answers.workers[keep], return_inverse=True)
    sub = Answers(
        objects.astype(np.int64),
        workers.astype(np.int64),
        answers.classes[keep],
        answers.object_ids[obj_index],
        answers.worker_ids[wrk_index],
        answers.categories,
    )
    return sub, obj_index


# ------------------------------------------------------------------------------------------------------------
# Policy
# ------------------------------------------------------------------------------------------------------------
def test_policy_defaults_and_fixed_redundancy() -> None:
    policy = AdaptivePolicy()
    assert (policy.target_confidence, policy.min_answers, policy.max_answers) == (0.9, 1, 5)
    AdaptivePolicy(0.99, 3, 3)  # fixed redundancy is a valid policy
    AdaptivePolicy(0.51, 1, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_confidence": 0.5}, r"0\.5 < target_confidence < 1, got 0\.5"),
        ({"target_confidence": 1.0}, r"0\.5 < target_confidence < 1, got 1\.0"),
        ({"target_confidence": float("nan")}, r"target_confidence .* got nan"),
        ({"target_confidence": "0.9"}, r"target_confidence .* got '0\.9'"),
        ({"min_answers": 0}, r"min_answers must be in \[1, 10\], got 0"),
        ({"max_answers": 11}, r"max_answers must be in \[1, 10\], got 11"),
        (
            {"min_answers": 4, "max_answers": 3},
            r"min_answers must be <= max_answers, got min_answers=4 > "
            r"max_answers=3",
        ),
        ({"min_answers": 2.0}, r"min_answers must be an integer, got 2\.0"),
        ({"max_answers": True}, r"max_answers must be an integer, got True"),
    ],
)
def test_policy_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AdaptivePolicy(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------------------
# Posteriors and decisions
# ------------------------------------------------------------------------------------------------------------
def test_confident_objects_stop_at_min_and_not_before() -> None:
    model = WorkerModel.one_coin(CATS, 0.95)
    answers = answers_of(
        [
            ("a", "w1", "pos"),  # one answer: posterior 0.95 >= target, but below min
            ("b", "w1", "neg"),
            ("b", "w2", "neg"),  # two agreeing: confident at min
            ("c", "w1", "pos"),
            ("c", "w2", "pos"),
            ("c", "w3", "pos"),
        ]
    )
    d = decide(AdaptivePolicy(0.9, min_answers=2, max_answers=5), model, answers)
    assert d.object_ids.tolist() == ["a", "b", "c"]
    assert d.n_answers.tolist() == [1, 2, 3]
    assert d.done.tolist() == [False, True, True]
    assert d.needs_more.tolist() == [True, False, False]
    assert d.confident.tolist() == [False, True, True]
    assert not d.exhausted.any()
    assert d.labels() == ["pos", "neg", "pos"]
    assert d.confidence[0] == pytest.approx(0.95)
    assert d.confidence[1] == pytest.approx(0.95**2 / (0.95**2 + 0.05**2))
    assert d.remaining.tolist() == [4, 0, 0]
    # with min 1 the single answer is enough
    assert decide(AdaptivePolicy(0.9, 1, 5), model, answers).done.all()


def test_contested_objects_continue_to_max() -> None:
    model = WorkerModel.one_coin(CATS, 0.8)
    triples = []
    for n in range(2, 7, 2):  # 1-1, 2-2, 3-3 splits: posterior 0.5 whatever the count
        obj = f"o{n}"
        triples += [(obj, f"w{i}", "pos" if i % 2 else "neg") for i in range(n)]
    answers = answers_of(triples)
    d = decide(AdaptivePolicy(0.9, 1, 4), model, answers)
    assert d.n_answers.tolist() == [2, 4, 6]
    np.testing.assert_allclose(d.confidence, 0.5)
    assert not d.confident.any()
    assert d.exhausted.tolist() == [False, True, True]
    assert d.done.tolist() == [False, True, True]
    assert d.needs_more.tolist() == [True, False, False]
    assert d.remaining.tolist() == [2, 0, 0]


def test_decide_posteriors_objects_without_answers_need_more() -> None:
    probas = np.array([[0.5, 0.5], [0.99, 0.01], [0.2, 0.8]])
    d = decide_posteriors(AdaptivePolicy(0.95, 1, 3), probas, np.array([0, 1, 3]), categories=CATS)
    assert d.done.tolist() == [False, True, True]
    assert d.confident.tolist() == [False, True, False]
    assert d.label.tolist() == [0, 0, 1]
    assert d.remaining.tolist() == [3, 0, 0]
    with pytest.raises(ValueError, match=r"probas must be \[n, K\] and n_answers \[n\]"):
        decide_posteriors(AdaptivePolicy(), probas, np.array([1, 2]))


def test_posteriors_match_a_loop_reference_with_unknown_workers() -> None:
    rng = np.random.default_rng(3)
    crowd = simulate(random_confusions(rng, 12, 3), 150, 4, seed=4)
    ds = DawidSkene(**dict(ADAPTIVE_DS_PARAMS)).fit(crowd.answers)
    model = WorkerModel.from_dawid_skene(ds, crowd.answers, temperature=1.7)
    # New objects answered by known workers (w0..w11 are indices 0..11) and by unknown ones ("new-*").
    rows = [
        (f"x{i}", str(w) if w < 12 else f"new-{w}", crowd.answers.categories[rng.integers(3)])
        for i in range(40)
        for w in rng.choice(16, size=3, replace=False)
    ]
    object_ids, worker_ids, labels = zip(*rows, strict=True)
    answers = Answers.from_arrays(object_ids, worker_ids, labels, crowd.answers.categories)
    # Worker ids are compared as they are: the model's are ints here, these are strings, so nobody is known.
    assert not model.knows(answers.worker_ids).any()
    ids = np.array([str(w) for w in model.worker_ids.tolist()], dtype=object)
    model = WorkerModel(
        model.categories, ids, model.log_confusions, model.log_prior, model.log_population, model.temperature
    )
    known = model.knows(answers.worker_ids)
    assert known.any() and not known.all()
    got = posteriors(model, answers)
    index = {w: i for i, w in enumerate(model.worker_ids.tolist())}
    expected = np.zeros_like(got)
    for i in range(answers.n_objects):
        logit = model.log_prior.copy()
        for j in np.flatnonzero(answers.objects == i):
            w = answers.worker_ids[answers.workers[j]]
            table = model.log_confusions[index[w]] if w in index else model.log_population
            logit += table[:, answers.classes[j]]
        logit /= model.temperature
        p = np.exp(logit - logit.max())
        expected[i] = p / p.sum()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


def test_unknown_workers_use_the_population_matrix() -> None:
    population = np.log(one_coin_matrix(0.9, 2))
    model = WorkerModel(
        CATS,
        np.array(["good"], dtype=object),
        np.log(one_coin_matrix(0.99, 2))[None],
        np.log(np.array([0.5, 0.5])),
        population,
    )
    answers = answers_of([("a", "good", "pos"), ("b", "stranger", "pos")])
    assert model.knows(answers.worker_ids).tolist() == [True, False]
    d = decide(AdaptivePolicy(0.95, 1, 3), model, answers)
    np.testing.assert_allclose(d.confidence, [0.99, 0.9])
    assert d.done.tolist() == [True, False]


def test_categories_must_match_the_model() -> None:
    model = WorkerModel.one_coin(("a", "b", "c"), 0.8)
    with pytest.raises(ValueError, match="categories .* differ from the model's"):
        posteriors(model, answers_of([("o", "w", "pos")]))


def test_reliable_worker_single_answer_finishes_once_the_model_knows_them() -> None:
    rng = np.random.default_rng(0)
    conf = random_confusions(rng, 30, 2, accuracy=(0.6, 0.8))
    conf[0] = one_coin_matrix(0.99, 2)  # worker 0: nearly always right
    crowd = simulate(conf, 600, 5, seed=1, worker_weights=np.r_[20.0, np.ones(29)])
    assert (crowd.answers.workers == 0).sum() > 200
    model = fit_worker_model(crowd.answers)
    assert model.source == "dawid_skene"
    assert model.accuracies()[0] > 0.95
    policy = AdaptivePolicy(0.9, 1, 5)
    ids = crowd.answers.worker_ids
    fresh = Answers.from_arrays(["new1", "new2"], [ids[0], ids[0]], ["c1", "c0"], crowd.answers.categories)
    d = decide(policy, model, fresh)
    assert d.done.all() and d.confident.all()
    assert d.labels() == ["c0", "c1"][::-1]  # each object gets the reliable worker's answer
    # The same answer from a mediocre worker, or from a worker the model has not seen, is not enough.
    mediocre = int(np.argmin(model.accuracies()))
    for worker in (ids[mediocre], -1):
        other = Answers.from_arrays(["new1"], [worker], ["c1"], crowd.answers.categories)
        assert decide(policy, model, other).needs_more.all()
    # Before the model has seen anyone (one-coin prior), one answer is never enough at 0.9.
    assert decide(policy, fit_worker_model(fresh), fresh).needs_more.all()


def test_fit_worker_model_falls_back_to_one_coin_and_warm_starts() -> None:
    few = answers_of([("a", "w1", "pos"), ("a", "w2", "pos"), ("b", "w1", "neg")])
    model = fit_worker_model(few)
    assert model.source == "one_coin" and model.n_workers == 0
    empty = Answers.from_triples([], CATS)
    prior = fit_worker_model(empty, prior_accuracy=0.75)
    np.testing.assert_allclose(np.exp(prior.log_population), one_coin_matrix(0.75, 2))

    crowd = simulate(random_confusions(np.random.default_rng(5), 40, 3), 800, 4, seed=6)
    cold = fit_worker_model(crowd.answers)
    warm = fit_worker_model(crowd.answers, previous=cold)
    assert cold.source == warm.source == "dawid_skene"
    cold_labels = posteriors(cold, crowd.answers).argmax(axis=1)
    warm_labels = posteriors(warm, crowd.answers).argmax(axis=1)
    assert (cold_labels == warm_labels).mean() > 0.99
    assert (cold_labels == crowd.truth).mean() > 0.85


# ------------------------------------------------------------------------------------------------------------
# Synthetic replay: the point of the feature
# ------------------------------------------------------------------------------------------------------------
def replay(answers: Answers, policy: AdaptivePolicy, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reveal each object's answers one at a time, in a seeded random order (rounds over the objects still
    needing more; the model is refitted from everything revealed after each round); returns the answers
    revealed per object and the mask of revealed answers."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(answers.n_answers), answers.objects))
    counts = answers.answer_counts()
    rank = np.empty(answers.n_answers, dtype=np.int64)
    rank[order] = np.arange(answers.n_answers) - (np.cumsum(counts) - counts)[answers.objects[order]]
    revealed = np.zeros(answers.n_objects, dtype=np.int64)
    done = np.zeros(answers.n_objects, dtype=bool)
    model = fit_worker_model(subset(answers, np.zeros(answers.n_answers, bool))[0])
    while True:
        active = ~done & (revealed < np.minimum(counts, policy.max_answers))
        if not active.any():
            return revealed, rank < revealed[answers.objects]
        revealed[active] += 1
        sub, objects = subset(answers, rank < revealed[answers.objects])
        model = fit_worker_model(sub, previous=model)
        done[objects] = decide(policy, model, sub).done


def test_adaptive_saves_answers_against_fixed_five_on_a_synthetic_crowd() -> None:
    """50 workers of accuracy U(0.55, 0.95), 3 classes, 1,500 objects x 5 answers (seeded).

    Measured (this seed, and the same within a few points over 5 other seeds): target 0.99 matches fixed-5
    accuracy (-0.7..+0.2 pp) with ~75-82% of the answers; target 0.95 uses ~60-66% of the answers but is
    0.4-1.9 pp below fixed-5 (Dawid-Skene's posteriors from a few answers per worker are over-confident).
    The asserted bounds leave room for that spread; they do not claim 0.95 reaches fixed-5 accuracy.
    """
    rng = np.random.default_rng(11)
    conf = random_confusions(rng, 50, 3, accuracy=(0.55, 0.95))
    crowd = simulate(conf, 1500, 5, seed=12)
    fixed = DawidSkene(**dict(ADAPTIVE_DS_PARAMS)).fit(crowd.answers)
    fixed_acc = float((fixed.labels_ == crowd.truth).mean())

    results = {}
    for target in (0.95, 0.99):
        revealed, mask = replay(crowd.answers, AdaptivePolicy(target, 1, 5), seed=13)
        sub, objects = subset(crowd.answers, mask)
        assert objects.shape[0] == crowd.answers.n_objects
        assert revealed.min() >= 1 and revealed.max() == 5
        adaptive = DawidSkene(**dict(ADAPTIVE_DS_PARAMS)).fit(sub)
        results[target] = (
            sub.n_answers / crowd.answers.n_answers,
            float((adaptive.labels_ == crowd.truth).mean()) - fixed_acc,
        )

    used, gap = results[0.99]
    assert used <= 0.85, results
    assert gap >= -0.0075, results  # fixed-5 accuracy, within 3/4 of a point
    used, gap = results[0.95]
    assert used <= 0.70, results
    assert gap >= -0.025, results
    assert results[0.95][0] < results[0.99][0]


def test_streamed_posteriors_temper_like_the_batch_fit_with_correlated_answers() -> None:
    """A job's cached model gives each object the confidence a batch `AutoDawidSkene` fit gives it, also
    when answers are correlated (each object tempered by its own 1 + (n - 1) rho), with 2 to 5 answers."""
    from quorum_consolidation.core.auto import AutoDawidSkene

    rng = np.random.default_rng(11)
    crowd = simulate_lured(rng, 1200, 20, 5)
    a = crowd.answers
    keep = (np.tile(np.arange(5), 1200) < 2) | (rng.random(a.n_answers) < 0.6)
    answers = Answers(
        a.objects[keep], a.workers[keep], a.classes[keep], a.object_ids, a.worker_ids, a.categories
    )
    auto = AutoDawidSkene().fit(answers)
    assert auto.chosen_["correlation"] > 0.01 and auto.probas_ is not None
    model = WorkerModel.from_auto(auto, answers)
    assert model.correlation == auto.chosen_["correlation"]
    # (float32 sums in the batch fit: agreement to 1e-3)
    np.testing.assert_allclose(posteriors(model, answers), auto.probas_, atol=1e-3)
    untempered = WorkerModel.from_dawid_skene(auto.model_, answers, auto.chosen_["temperature"])
    assert np.abs(posteriors(untempered, answers) - auto.probas_).max() > 0.02


def test_streamed_posteriors_temper_by_the_answer_count_slope_like_the_batch_fit() -> None:
    """Adaptively collected answers make `auto` temper objects by their answer count (count_slope); a job's
    cached model applies the same per-object temperature (to EM's convergence: 0.02), without which it would
    be far off."""
    import dataclasses

    from quorum_consolidation.core.auto import AutoDawidSkene

    crowd = simulate_adaptive_hard(np.random.default_rng(2), 1500, 30)
    auto = AutoDawidSkene().fit(crowd.answers)
    assert auto.chosen_["count_slope"] > 0.3 and auto.probas_ is not None
    model = WorkerModel.from_auto(auto, crowd.answers)
    assert model.count_slope == auto.chosen_["count_slope"]
    np.testing.assert_allclose(posteriors(model, crowd.answers), auto.probas_, atol=0.02)
    flat = dataclasses.replace(model, count_slope=0.0)
    assert np.abs(posteriors(flat, crowd.answers) - auto.probas_).max() > 0.2
    with pytest.raises(ValueError, match="count_slope"):
        dataclasses.replace(model, count_slope=-0.1)


def test_streamed_posteriors_temper_by_the_predicted_class_like_the_batch_fit() -> None:
    """Where the crowd finds one class harder, `auto` tempers the objects predicted as that class more; a
    job's cached model applies the same per-class factors (to EM's convergence), without which it is off."""
    import dataclasses

    from quorum_consolidation.core.auto import AutoDawidSkene

    crowd = simulate_lured(
        np.random.default_rng(0), 3000, 40, 5, n_classes=4, hard_share=0.6, hard_classes=(0,)
    )
    auto = AutoDawidSkene().fit(crowd.answers)
    assert auto.class_factors_ is not None and auto.class_factors_[0] > 1.1 and auto.probas_ is not None
    model = WorkerModel.from_auto(auto, crowd.answers)
    assert model.class_factors == tuple(auto.class_factors_.tolist())
    np.testing.assert_allclose(posteriors(model, crowd.answers), auto.probas_, atol=0.02)
    flat = dataclasses.replace(model, class_factors=())
    assert np.abs(posteriors(flat, crowd.answers) - auto.probas_).max() > 0.05
    for bad in ((1.0, 1.0), (0.5, 1.0, 1.0, 1.0), (float("nan"), 1.0, 1.0, 1.0)):
        with pytest.raises(ValueError, match="class_factors"):
            dataclasses.replace(model, class_factors=bad)
