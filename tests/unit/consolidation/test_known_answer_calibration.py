"""Calibration: the ECE measure, the known-answer calibrator, and `auto` calibrating from known answers."""

from __future__ import annotations

import numpy as np
import pytest

from quorum_consolidation.core.adaptive import WorkerModel, posteriors
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.auto import AutoDawidSkene
from quorum_consolidation.core.calibration import (
    MAX_CORRELATION,
    TopLabelCalibrator,
    answer_correlation,
    expected_calibration_error,
    reliability_bins,
)
from quorum_consolidation.core.side_info import KnownLabels
from quorum_consolidation.core.simulate import simulate_lured

CATS3 = ("cat", "dog", "bird")


def test_ece_of_a_hand_computed_case() -> None:
    # 15 bins: 0.95 and 0.99 share the last bin (mean 0.97, accuracy 0.5); 0.5 is alone (accuracy 1).
    conf = np.array([0.95, 0.99, 0.5])
    correct = np.array([True, False, True])
    expected = (2 * abs(0.97 - 0.5) + 1 * abs(0.5 - 1.0)) / 3
    assert expected_calibration_error(conf, correct) == pytest.approx(expected)
    count, mean_conf, acc = reliability_bins(conf, correct)
    assert count.sum() == 3 and count[-1] == 2
    assert mean_conf[-1] == pytest.approx(0.97) and acc[-1] == pytest.approx(0.5)
    assert np.isnan(acc[0])
    assert np.isnan(expected_calibration_error(np.array([]), np.array([], dtype=bool)))


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """3-class posteriors whose top label is right with probability much lower than it claims."""
    rng = np.random.default_rng(seed)
    top = rng.uniform(0.8, 0.999, n)
    probas = np.empty((n, 3))
    probas[:, 0] = top
    split = rng.uniform(0.2, 0.8, n)
    probas[:, 1] = (1 - top) * split
    probas[:, 2] = (1 - top) * (1 - split)
    true_accuracy = 0.5 + 0.4 * (top - 0.8) / 0.2  # 0.5 .. 0.9
    correct = rng.random(n) < true_accuracy
    return probas, correct


def test_calibrator_lowers_ece_and_keeps_labels_and_sums() -> None:
    probas, correct = overconfident(400, 0)
    calibrator = TopLabelCalibrator().fit(probas[:100], correct[:100])
    assert calibrator.slope_ < 1.0
    fixed = calibrator.transform(probas[100:])
    before = expected_calibration_error(probas[100:].max(axis=1), correct[100:])
    after = expected_calibration_error(fixed.max(axis=1), correct[100:])
    assert before > 0.15 and after < 0.06, (before, after)
    np.testing.assert_array_equal(fixed.argmax(axis=1), probas[100:].argmax(axis=1))
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0)
    # the other classes keep their proportions
    np.testing.assert_allclose(fixed[:, 1] / fixed[:, 2], probas[100:, 1] / probas[100:, 2])


def test_calibrator_never_flips_the_top_class_and_handles_one_hot_rows() -> None:
    probas = np.array([[0.55, 0.45, 0.0], [1.0, 0.0, 0.0], [0.2, 0.7, 0.1]])
    calibrator = TopLabelCalibrator()
    calibrator.slope_, calibrator.intercept_ = 0.1, -3.0  # a map that would push every top far down
    fixed = calibrator.transform(probas)
    np.testing.assert_array_equal(fixed.argmax(axis=1), [0, 0, 1])
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0)
    assert fixed[1, 0] < 1.0 and fixed[1, 1] == pytest.approx(fixed[1, 2])


def test_with_little_evidence_the_map_stays_near_the_identity() -> None:
    probas = np.array([[0.9, 0.1], [0.8, 0.2]])
    calibrator = TopLabelCalibrator(ridge=1.0).fit(probas, np.array([True, True]))
    assert calibrator.slope_ == pytest.approx(1.0, abs=0.3)
    with pytest.raises(ValueError, match="ridge"):
        TopLabelCalibrator(ridge=0.0)


def lured_crowd(seed: int) -> tuple[Answers, np.ndarray]:
    """40% of objects are ambiguous: each worker picks the same lure with probability 0.55 there, so even a
    clear majority is often wrong, which no answer-only model can see."""
    crowd = simulate_lured(np.random.default_rng(seed), 2000, 30, 5, hard_share=0.4, lure_prob=0.55)
    return crowd.answers, crowd.truth


def test_auto_calibrates_from_known_answers() -> None:
    answers, truth = lured_crowd(11)
    others = np.arange(150, answers.n_objects)
    plain = AutoDawidSkene().fit(answers)
    known = KnownLabels(np.arange(150), truth[:150])
    calibrated = AutoDawidSkene().fit(answers, known=known)
    assert plain.probas_ is not None and calibrated.probas_ is not None
    assert calibrated.labels_ is not None and plain.labels_ is not None
    assert "calibration_slope" not in plain.chosen_
    assert calibrated.chosen_["calibration_known"] == 150

    def ece_on_others(probas: np.ndarray, labels: np.ndarray) -> float:
        return expected_calibration_error(probas[others].max(axis=1), labels[others] == truth[others])

    before = ece_on_others(plain.probas_, plain.labels_)
    after = ece_on_others(calibrated.probas_, calibrated.labels_)
    assert after < before - 0.08 and after < 0.07, (before, after)
    # the known objects keep their known label with confidence 1
    np.testing.assert_allclose(calibrated.probas_[np.arange(150), truth[:150]], 1.0)


def test_too_few_known_answers_leave_the_confidences_alone() -> None:
    answers, truth = lured_crowd(12)
    known = KnownLabels(np.arange(10), truth[:10])
    auto = AutoDawidSkene(min_known_for_calibration=50).fit(answers, known=known)
    assert "calibration_slope" not in auto.chosen_
    with pytest.raises(ValueError, match="min_known_for_calibration"):
        AutoDawidSkene(min_known_for_calibration=1)


def test_answer_correlation_recovers_a_dirichlet_multinomial_correlation() -> None:
    """Objects whose answers are drawn from theta ~ Dirichlet(alpha * mu_c): intra-object correlation
    1 / (1 + alpha). Given the true class and mu as the model, the estimate recovers it; independent answers
    give about 0."""
    rng = np.random.default_rng(3)
    n, per, k = 4000, 6, 3
    mu = np.full((k, k), 0.15) + np.eye(k) * 0.55  # rows sum to 1: right 70 %
    truth = rng.integers(0, k, n)
    objects = np.repeat(np.arange(n), per)
    workers = np.tile(np.arange(per), n)
    confusions = np.broadcast_to(mu, (per, k, k))
    posterior = np.eye(k)[truth]
    for alpha, expected in ((4.0, 0.2), (1e6, 0.0)):
        theta = np.vstack([rng.dirichlet(alpha * mu[c]) for c in truth])
        cum = theta.cumsum(axis=1)[objects]
        classes = (rng.random(n * per)[:, None] > cum).sum(axis=1).clip(0, k - 1)
        rho, pairs = answer_correlation(objects, workers, classes, posterior, confusions)
        assert pairs == n * per * (per - 1)
        assert rho == pytest.approx(expected, abs=0.02)
    assert answer_correlation(objects[:3], workers[:3], classes[:3], posterior, confusions) == (0.0, 6)


def test_answers_that_always_agree_give_a_worker_model_with_correlation_below_one() -> None:
    """Every worker gives every object the same class (a test crowd, or a job of identical items): the
    measured correlation would be 1, which a worker model cannot carry (it crashed the consolidation
    consumer); it is capped at MAX_CORRELATION and the streaming model builds and labels."""
    n, per = 300, 3
    answers = Answers.from_arrays(
        np.repeat(np.arange(n), per), np.tile([f"w{i}" for i in range(per)], n), ["cat"] * (n * per), CATS3
    )
    auto = AutoDawidSkene().fit(answers)
    assert auto.chosen_["correlation"] == pytest.approx(MAX_CORRELATION)
    model = WorkerModel.from_auto(auto, answers)
    assert model.correlation < 1.0
    assert (posteriors(model, answers).argmax(axis=1) == 0).all()
