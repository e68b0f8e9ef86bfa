"""The default `auto` method: per-job choice by held-out answers, calibration, side information, real data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.auto import AutoDawidSkene, answer_folds
from quorum_consolidation.core.dawid_skene import DawidSkene
from quorum_consolidation.core.mace import MACE
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.one_coin import OneCoinDawidSkene
from quorum_consolidation.core.side_info import ConfusionPrior, KnownLabels
from quorum_consolidation.core.simulate import (
    random_confusions,
    simulate,
    simulate_adaptive_hard,
    simulate_lured,
)

SHARED = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "crowd"

#: crowd-kit 1.4.2's best accuracy per dataset (shared/datasets/README.md).
README_BEST = {
    "temp": 94.37,
    "face": 64.04,
    "music_genre": 80.00,
    "sentiment_polarity": 91.66,
    "possent": 96.00,
    "adult": 76.58,
}


def ece(probas: np.ndarray, labels: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    conf = probas[np.arange(labels.shape[0]), labels]
    which = np.minimum((conf * bins).astype(int), bins - 1)
    right = (labels == truth).astype(float)
    return float(sum(abs(conf[which == b].sum() - right[which == b].sum()) for b in range(bins)) / len(conf))


def regime(name: str):  # noqa: ANN201
    rng = np.random.default_rng({"dense": 0, "sparse_many_classes": 1, "spammers": 2, "binary": 3}[name])
    if name == "dense":  # few workers with many answers each: full confusion matrices pay off
        return simulate(random_confusions(rng, 10, 3, (0.4, 0.9)), 1000, 5, seed=1)
    if name == "sparse_many_classes":  # 8 classes, ~30 answers per worker: too few for 56 free parameters
        return simulate(random_confusions(rng, 80, 8, (0.3, 0.9)), 600, 4, seed=2)
    if name == "spammers":  # a third of the crowd always answers the first class
        conf = random_confusions(rng, 30, 4, (0.6, 0.9))
        conf[:10] = 0.0
        conf[:10, :, 0] = 1.0
        return simulate(conf, 800, 5, seed=3)
    return simulate(random_confusions(rng, 200, 2, (0.55, 0.9)), 2000, 5, seed=4)


@pytest.mark.parametrize("name", ["dense", "sparse_many_classes", "spammers", "binary"])
def test_not_worse_than_the_best_single_method(name: str) -> None:
    crowd = regime(name)
    accuracy = {}
    for method in (MajorityVote(), DawidSkene(), OneCoinDawidSkene(), MACE(n_restarts=2), AutoDawidSkene()):
        method.fit(crowd.answers)
        accuracy[type(method).__name__] = float((method.labels_ == crowd.truth).mean())
    auto = accuracy.pop("AutoDawidSkene")
    assert auto >= max(accuracy.values()) - 0.005, (auto, accuracy)


def test_calibrated_when_the_model_is_right_and_tempered_when_errors_correlate() -> None:
    crowd = simulate(random_confusions(np.random.default_rng(5), 20, 3, (0.6, 0.9)), 1500, 5, seed=5)
    auto = AutoDawidSkene().fit(crowd.answers)
    assert auto.probas_ is not None
    assert 0.7 < auto.chosen_["temperature"] < 1.5
    assert auto.chosen_["correlation"] < 0.01  # independent answers: nothing more to temper
    assert ece(auto.probas_, auto.labels_, crowd.truth) < 0.04

    # 30% hard objects on which each worker picks the same lure with probability 0.6: answers are no longer
    # independent given the class, so Dawid-Skene's posteriors are over-confident.
    lured = simulate_lured(np.random.default_rng(6), 1500, 20, 5)
    answers, truth = lured.answers, lured.truth
    auto = AutoDawidSkene().fit(answers)
    assert auto.model_ is not None and auto.model_.probas_ is not None and auto.probas_ is not None
    assert auto.chosen_["temperature"] > 1.2
    raw = ece(auto.model_.probas_, auto.labels_, truth)
    tempered = ece(auto.probas_, auto.labels_, truth)
    assert tempered < raw - 0.02
    np.testing.assert_array_equal(auto.probas_.argmax(axis=1), auto.labels_)

    # The lured objects make answers agree more than the fitted model of independent answers says; that
    # correlation is measured from the answers and tempers each object further (held-out answers cannot see
    # it: they share the lure).
    assert auto.chosen_["correlation"] > 0.01
    held_out_only = AutoDawidSkene(correlation=False).fit(answers)
    assert held_out_only.probas_ is not None and held_out_only.chosen_["correlation"] == 0.0
    assert tempered < ece(held_out_only.probas_, held_out_only.labels_, truth) - 0.005
    np.testing.assert_array_equal(held_out_only.labels_, auto.labels_)


def test_known_answers_and_prior_confusions() -> None:
    conf = np.zeros((3, 2, 2))
    conf[0] = [[0.95, 0.05], [0.05, 0.95]]
    conf[1:] = [[0.2, 0.8], [0.8, 0.2]]
    crowd = simulate(conf, 400, 3, seed=4)
    known = KnownLabels(np.arange(20), crowd.truth[:20])
    auto = AutoDawidSkene().fit(crowd.answers, known=known)
    assert (auto.labels_ == crowd.truth).mean() > 0.9
    assert auto.probas_ is not None
    np.testing.assert_allclose(auto.probas_[np.arange(20), crowd.truth[:20]], 1.0)

    # Without known answers, the same team's history of these workers does the anchoring.
    history = ConfusionPrior([0, 1, 2], 100.0 * conf)
    auto = AutoDawidSkene().fit(crowd.answers, prior=history)
    assert (auto.labels_ == crowd.truth).mean() > 0.9


def test_large_jobs_are_tuned_on_a_subset() -> None:
    crowd = simulate(random_confusions(np.random.default_rng(7), 50, 3), 3000, 3, seed=7)
    auto = AutoDawidSkene(max_selection_answers=1500).fit(crowd.answers)
    assert auto.labels_ is not None and auto.labels_.shape == (3000,)
    assert (auto.labels_ == crowd.truth).mean() > 0.8


def test_folds_spread_each_objects_answers() -> None:
    crowd = simulate(random_confusions(np.random.default_rng(8), 10, 2), 200, 5, seed=8)
    folds = answer_folds(crowd.answers, 5, seed=0)
    per_object = np.zeros((200, 5), dtype=int)
    np.add.at(per_object, (crowd.answers.objects, folds), 1)
    assert (per_object == 1).all()  # 5 answers, 5 folds: exactly one held out per fold


def test_grid_search_scores_every_configuration() -> None:
    crowd = simulate(random_confusions(np.random.default_rng(9), 10, 2), 200, 3, seed=9)
    auto = AutoDawidSkene(search="grid", population_grid=(1.0, 4.0), spam_grid=(0.0, 8.0), start=(0, 0))
    auto.fit(crowd.answers)
    assert set(auto.scores_) == {(1.0, 0.0), (1.0, 8.0), (4.0, 0.0), (4.0, 8.0)}
    best = max(auto.scores_, key=auto.scores_.__getitem__)
    assert (auto.chosen_["population_prior"], auto.chosen_["spam_prior"]) == best


def test_empty_answers() -> None:
    empty = np.zeros(0, np.int64)
    auto = AutoDawidSkene().fit(Answers(empty, empty, empty, np.zeros(0), np.zeros(0), ("a", "b")))
    assert auto.labels_ is not None and auto.labels_.shape == (0,)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_folds": 1}, "n_folds must be >= 2"),
        ({"spam_grid": ()}, "must not be empty"),
        ({"population_grid": (-1.0,)}, "grid values"),
        ({"start": (9, 0)}, "outside the grid"),
        ({"search": "random"}, "search must be"),
        ({"max_selection_answers": 10}, "max_selection_answers"),
        ({"n_iter": 0}, "n_iter must be >= 1"),
        ({"bootstrap": -1}, "bootstrap and max_bootstrap_work"),
    ],
)
def test_bad_parameters(params: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AutoDawidSkene(**params)


def load_shared(name: str) -> tuple[Answers, dict[str, str]]:
    with (SHARED / name / "labels.csv").open(newline="") as f:
        rows = list(csv.reader(f))[1:]
    items, workers, labels = (np.asarray(col) for col in zip(*rows, strict=True))
    object_ids, objects = np.unique(items, return_inverse=True)
    worker_ids, wrk = np.unique(workers, return_inverse=True)
    categories, classes = np.unique(labels, return_inverse=True)
    # Some sets have a worker answering an object twice; like crowd-kit, every row counts as an answer.
    answers = Answers(
        objects.astype(np.int64),
        wrk.astype(np.int64),
        classes.astype(np.int64),
        object_ids,
        worker_ids,
        tuple(categories.tolist()),
    )
    with (SHARED / name / "gold.csv").open(newline="") as f:
        gold = dict(list(csv.reader(f))[1:])
    return answers, gold


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets are not present")
@pytest.mark.parametrize("name", list(README_BEST))
def test_auto_beats_crowd_kit_on_real_data(name: str) -> None:
    if not (SHARED / name / "labels.csv").is_file():
        pytest.skip(f"{name} is not present")
    answers, gold = load_shared(name)
    auto = AutoDawidSkene().fit(answers)
    assert auto.labels_ is not None
    labels = (answers.categories[c] for c in auto.labels_)
    predicted = dict(zip(answers.object_ids.tolist(), labels, strict=True))
    accuracy = 100.0 * sum(predicted.get(o) == lab for o, lab in gold.items()) / len(gold)
    assert accuracy >= README_BEST[name] - 0.5, (name, accuracy)


@pytest.mark.parametrize("n_objects", [10, 20, 40])
def test_a_split_between_two_workers_who_always_agreed_stays_uncertain(n_objects: int) -> None:
    """Held-out answers of two workers who always agreed reward sharpening; the temperature never goes below
    1, so their first disagreement is not turned into a confident label (adaptive jobs would stop on it)."""
    cats = ("cat", "dog", "bird")
    agreed = [(o, w, cats[o % 3]) for o in range(n_objects) for w in ("w1", "w2")]
    answers = Answers.from_triples([*agreed, (1000, "w1", "cat"), (1000, "w2", "dog")], cats)
    auto = AutoDawidSkene().fit(answers)
    assert auto.probas_ is not None
    assert auto.chosen_["temperature"] >= 1.0
    assert auto.probas_[-1].max() < 0.9


def test_the_same_answers_in_another_order_give_the_same_model() -> None:
    """A service reads a job's answers from its database in no set order; a batch fit of the same answers
    must come out the same (the cross-validation folds rank an object's answers by worker)."""
    crowd = simulate(random_confusions(np.random.default_rng(1), 9, 3, (0.6, 0.9)), 200, 3, seed=1)
    a = crowd.answers
    perm = np.random.default_rng(5).permutation(a.n_answers)
    shuffled = Answers(
        a.objects[perm], a.workers[perm], a.classes[perm], a.object_ids, a.worker_ids, a.categories
    )
    x, y = AutoDawidSkene().fit(a), AutoDawidSkene().fit(shuffled)
    assert x.chosen_ == y.chosen_
    assert x.probas_ is not None and y.probas_ is not None
    np.testing.assert_allclose(x.probas_, y.probas_, atol=1e-9)


def shared_with_truth(name: str) -> tuple[Answers, np.ndarray, np.ndarray]:
    """A real set's answers, the rows of its gold objects and their true classes (skips when absent)."""
    if not (SHARED / name / "labels.csv").is_file():
        pytest.skip(f"{name} is not present")
    answers, gold = load_shared(name)
    index = {o: i for i, o in enumerate(answers.object_ids.tolist())}
    cat = {c: i for i, c in enumerate(answers.categories)}
    items = [o for o in gold if o in index]
    return answers, np.array([index[o] for o in items]), np.array([cat[gold[o]] for o in items])


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets are not present")
def test_correlated_answers_on_real_data_lower_the_calibration_error() -> None:
    """On `face` a crowd's unanimous answers are wrong one time in ten: the measured correlation of answers
    (gold-free) tempers them, which the held-out temperature alone cannot (ECE 0.24 there)."""
    answers, rows, truth = shared_with_truth("face")
    with_rho = AutoDawidSkene().fit(answers)
    without = AutoDawidSkene(correlation=False).fit(answers)
    assert with_rho.probas_ is not None and without.probas_ is not None and with_rho.labels_ is not None
    assert with_rho.chosen_["correlation"] > 0.05
    np.testing.assert_array_equal(with_rho.labels_, without.labels_)
    before = ece(without.probas_[rows], without.labels_[rows], truth, bins=15)
    after = ece(with_rho.probas_[rows], with_rho.labels_[rows], truth, bins=15)
    assert after < before - 0.05, (before, after)


def test_matching_temperature_recovers_a_known_softening() -> None:
    from quorum_consolidation.core.auto import _matching_temperature, _temper

    point = np.random.default_rng(0).dirichlet(np.full(4, 0.3), size=500)
    assert _matching_temperature(point, _temper(point, 2.5)) == pytest.approx(2.5, rel=1e-3)
    assert _matching_temperature(point, point) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("name", ["sparse_many_classes", "spammers"])
def test_the_bootstrap_barely_tempers_a_well_specified_crowd_and_never_moves_labels(name: str) -> None:
    """Simulated answers follow Dawid-Skene exactly: the fitted confusions' own uncertainty softens the
    posteriors a little (their calibration stays), and labels never change."""
    crowd = regime(name)
    boot = AutoDawidSkene().fit(crowd.answers)
    plain = AutoDawidSkene(bootstrap=0).fit(crowd.answers)
    assert boot.probas_ is not None and plain.probas_ is not None and boot.labels_ is not None
    assert plain.chosen_["bootstrap_temperature"] == 1.0
    assert 1.0 < boot.chosen_["bootstrap_temperature"] < 1.15
    np.testing.assert_array_equal(boot.labels_, plain.labels_)
    before = ece(plain.probas_, plain.labels_, crowd.truth)
    assert ece(boot.probas_, boot.labels_, crowd.truth) <= before + 0.005


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets are not present")
def test_the_bootstrap_lowers_the_calibration_error_on_real_data() -> None:
    """On `face` (27 workers, 9 answers per object) the plug-in confusion matrices are far surer than their
    estimates allow; averaging over refits on resampled objects tempers the posteriors further (gold-free).
    (The per-class step, which comes after it, is off on both sides: this measures the bootstrap.)"""
    answers, rows, truth = shared_with_truth("face")
    boot = AutoDawidSkene(class_temperature=False).fit(answers)
    plain = AutoDawidSkene(bootstrap=0, class_temperature=False).fit(answers)
    assert boot.probas_ is not None and plain.probas_ is not None and boot.labels_ is not None
    np.testing.assert_array_equal(boot.labels_, plain.labels_)
    before = ece(plain.probas_[rows], plain.labels_[rows], truth, bins=15)
    after = ece(boot.probas_[rows], boot.labels_[rows], truth, bins=15)
    assert boot.chosen_["bootstrap_temperature"] > 1.1 and after < before - 0.03, (before, after)


@pytest.mark.parametrize("seed", [0, 1])
def test_adaptively_collected_hard_objects_are_tempered_by_their_answer_count(seed: int) -> None:
    """Answers asked until two agree: hard objects (workers near chance) collect 3-5 answers and Dawid-Skene,
    whose skills ignore the object, is surest exactly there. The held-out answers see that the temperature
    must grow with the answer count (gold-free); labels never move."""
    crowd = simulate_adaptive_hard(np.random.default_rng(seed), 1500, 30)
    shaped = AutoDawidSkene().fit(crowd.answers)
    scalar = AutoDawidSkene(count_shape=False).fit(crowd.answers)
    assert shaped.probas_ is not None and scalar.probas_ is not None and shaped.labels_ is not None
    assert shaped.chosen_["count_slope"] >= 0.3 and scalar.chosen_["count_slope"] == 0.0
    np.testing.assert_array_equal(shaped.labels_, scalar.labels_)
    before = ece(scalar.probas_, scalar.labels_, crowd.truth)
    after = ece(shaped.probas_, shaped.labels_, crowd.truth)
    assert after < 0.05 and after < before - 0.05, (before, after)
    assert shaped.probas_.max(axis=1).min() >= 1.0 / crowd.answers.n_classes


def test_answer_counts_unrelated_to_difficulty_leave_the_temperature_flat() -> None:
    """A well-specified crowd with 1 to 7 answers per object, dropped at random: no slope worth the name, and
    calibration as good as the scalar temperature's."""
    rng = np.random.default_rng(3)
    crowd = simulate(random_confusions(rng, 30, 4, (0.55, 0.9)), 1500, 7, seed=3)
    a = crowd.answers
    keep = (np.tile(np.arange(7), 1500) < 1) | (rng.random(a.n_answers) < 0.45)
    answers = Answers(
        a.objects[keep], a.workers[keep], a.classes[keep], a.object_ids, a.worker_ids, a.categories
    )
    shaped = AutoDawidSkene().fit(answers)
    scalar = AutoDawidSkene(count_shape=False).fit(answers)
    assert shaped.probas_ is not None and scalar.probas_ is not None and shaped.labels_ is not None
    assert shaped.chosen_["count_slope"] <= 0.1
    before = ece(scalar.probas_, scalar.labels_, crowd.truth)
    assert ece(shaped.probas_, shaped.labels_, crowd.truth) <= before + 0.005


@pytest.mark.skipif(not (SHARED / "music_genre" / "labels.csv").is_file(), reason="music_genre is absent")
def test_the_answer_count_slope_lowers_the_calibration_error_on_real_adaptive_data() -> None:
    """`music_genre`'s answers were collected adaptively (1 to 7 per item, many where the first disagreed):
    its many-answer items were 97 % confident and 83 % right, its few-answer ones under-confident."""
    answers, rows, truth = shared_with_truth("music_genre")
    shaped = AutoDawidSkene().fit(answers)
    scalar = AutoDawidSkene(count_shape=False).fit(answers)
    assert shaped.probas_ is not None and scalar.probas_ is not None and shaped.labels_ is not None
    np.testing.assert_array_equal(shaped.labels_, scalar.labels_)
    before = ece(scalar.probas_[rows], scalar.labels_[rows], truth, bins=15)
    after = ece(shaped.probas_[rows], shaped.labels_[rows], truth, bins=15)
    assert shaped.chosen_["count_slope"] > 0.05 and after < before - 0.015, (before, after)


def test_a_few_objects_with_other_answer_counts_do_not_set_a_slope() -> None:
    """A small job: 40 objects with 2 answers, 3 with 4. Too few held-out answers come from other counts to
    tell a slope from a scale, so none is fitted (a 3-1 split of reliable workers keeps its confidence)."""
    crowd = simulate_adaptive_hard(np.random.default_rng(4), 200, 12)
    a = crowd.answers
    counts = np.bincount(a.objects)
    two = np.flatnonzero(counts == 2)[:40]
    more = np.flatnonzero(counts >= 4)[:3]
    keep = np.isin(a.objects, np.concatenate([two, more]))
    answers = Answers(
        a.objects[keep], a.workers[keep], a.classes[keep], a.object_ids, a.worker_ids, a.categories
    )
    assert AutoDawidSkene().fit(answers).chosen_["count_slope"] == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_the_objects_of_a_class_the_crowd_finds_harder_are_tempered_more(seed: int) -> None:
    """On 60 % of class a's objects every worker is lured half the time: the held-out answers to objects
    predicted a are more dispersed than the job's, so those objects get a hotter temperature and the other
    classes keep the job's; labels never move."""
    crowd = simulate_lured(
        np.random.default_rng(seed), 3000, 40, 5, n_classes=4, hard_share=0.6, hard_classes=(0,)
    )
    by_class = AutoDawidSkene().fit(crowd.answers)
    flat = AutoDawidSkene(class_temperature=False).fit(crowd.answers)
    assert by_class.class_factors_ is not None and flat.class_factors_ is not None
    assert by_class.class_factors_[0] > 1.15, by_class.class_factors_
    np.testing.assert_array_equal(by_class.class_factors_[1:], 1.0)
    np.testing.assert_array_equal(flat.class_factors_, 1.0)
    np.testing.assert_array_equal(by_class.labels_, flat.labels_)
    assert by_class.probas_ is not None and flat.probas_ is not None
    predicted_a = by_class.labels_ == 0
    assert (
        by_class.probas_[predicted_a].max(axis=1).mean() < flat.probas_[predicted_a].max(axis=1).mean() - 0.01
    )
    np.testing.assert_allclose(by_class.probas_[~predicted_a], flat.probas_[~predicted_a])


@pytest.mark.parametrize("name", ["music_genre", "adult"])
def test_per_class_temperatures_lower_the_calibration_error_on_real_data(name: str) -> None:
    """On `music_genre` listeners mistake some genres for one another; on `adult` the middle ratings (P, R)
    are the disputed ones: the objects predicted there were over-confident beyond the job's temperature."""
    answers, rows, truth = shared_with_truth(name)
    by_class = AutoDawidSkene().fit(answers)
    flat = AutoDawidSkene(class_temperature=False).fit(answers)
    assert by_class.probas_ is not None and flat.probas_ is not None and by_class.labels_ is not None
    np.testing.assert_array_equal(by_class.labels_, flat.labels_)
    before = ece(flat.probas_[rows], flat.labels_[rows], truth, bins=15)
    after = ece(by_class.probas_[rows], by_class.labels_[rows], truth, bins=15)
    assert after < before - 0.005, (before, after)
