import numpy as np
import pytest

from quorum_inference.core.calibration import apply_temperature, fit_temperature, nll


def _overconfident(n: int = 2000, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose argmax is right 70% of the time, scaled so softmax says ~99%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(k, size=n)
    predicted = np.where(rng.random(n) < 0.7, labels, rng.integers(k, size=n))
    logits = rng.normal(0, 1, size=(n, k))
    logits[np.arange(n), predicted] += 3.0
    return logits * 4.0, labels


def test_temperature_lowers_nll_on_overconfident_logits() -> None:
    logits, labels = _overconfident()
    t = fit_temperature(logits, labels)
    assert t > 1.5  # over-confident -> soften
    assert nll(logits, labels, t) < 0.8 * nll(logits, labels)


def test_calibrated_confidence_matches_accuracy() -> None:
    logits, labels = _overconfident(seed=1)
    t = fit_temperature(*_overconfident(seed=2))  # fitted on other data from the same distribution
    probs = apply_temperature(logits, t)
    mean_conf = probs.max(axis=1).mean()
    acc = (probs.argmax(axis=1) == labels).mean()
    raw_gap = abs(apply_temperature(logits, 1.0).max(axis=1).mean() - acc)
    assert raw_gap > 0.2
    assert abs(mean_conf - acc) < raw_gap / 2  # NLL-optimal T, not gap-optimal: much closer, not exact


def test_temperature_keeps_argmax_and_rejects_bad_input() -> None:
    logits, labels = _overconfident(n=50)
    probs = apply_temperature(logits, 3.0)
    assert np.array_equal(probs.argmax(axis=1), logits.argmax(axis=1))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    with pytest.raises(ValueError):
        apply_temperature(logits, 0.0)
    with pytest.raises(ValueError):
        fit_temperature(logits, labels[:-1])
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_a_tiny_separable_validation_set_does_not_collapse_the_temperature() -> None:
    logits = np.array([[2.0, -2.0], [-2.0, 2.0], [1.5, -1.0], [-1.0, 1.5]])
    labels = np.array([0, 1, 0, 1])
    assert fit_temperature(logits, labels, prior_scale=1e6) < 0.1  # plain NLL: T -> its lower bound
    t = fit_temperature(logits, labels)
    assert 0.2 < t <= 1.0
    assert apply_temperature(logits, t).max() < 0.9999


def test_joint_fit_recovers_the_label_noise_rate() -> None:
    from quorum_inference.core.calibration import fit_temperature_and_noise

    rng = np.random.default_rng(1)
    n, k = 3000, 3
    truth = rng.integers(k, size=n)
    logits = rng.normal(0, 1, size=(n, k))
    logits[np.arange(n), truth] += rng.uniform(0, 6, size=n)  # graded confidence, mostly right
    for eps in (0.0, 0.06):
        flip = rng.random(n) < eps
        labels = np.where(flip, (truth + rng.integers(1, k, size=n)) % k, truth)
        t, fitted = fit_temperature_and_noise(logits, labels)
        assert t > 0 and abs(fitted - eps) < 0.02
