import numpy as np
import pytest

from quorum_inference.core.thresholds import (
    auto_label_mask,
    clopper_pearson_lower,
    pick_pooled_threshold,
    pick_thresholds,
)


def test_clopper_pearson_lower_bound_values() -> None:
    # 19/19 at 95%: 0.05 ** (1/19)
    assert clopper_pearson_lower(19, 19, 0.95) == pytest.approx(0.05 ** (1 / 19))
    assert clopper_pearson_lower(0, 10, 0.95) == 0.0
    assert clopper_pearson_lower(90, 100, 0.95) < 0.9


def _validation(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class 0: accuracy rises with confidence (0.99 above 0.8, 0.6 below). Class 1: 70% right everywhere."""
    rng = np.random.default_rng(seed)
    n = 4000
    pred = rng.integers(2, size=n)
    conf = rng.uniform(0.5, 1.0, size=n)
    p_right = np.where(pred == 0, np.where(conf >= 0.8, 0.99, 0.6), 0.7)
    right = rng.random(n) < p_right
    truth = np.where(right, pred, 1 - pred)
    return pred, conf, truth


def test_thresholds_meet_the_bound_and_refuse_unreachable_classes() -> None:
    pred, conf, truth = _validation()
    th = pick_thresholds(pred, conf, truth, 2, target_accuracy=0.95, confidence_level=0.95)
    c0, c1 = th
    assert c0.threshold is not None and 0.75 < c0.threshold < 0.9
    above = (pred == 0) & (conf >= c0.threshold)
    k, n = int((truth[above] == 0).sum()), int(above.sum())
    assert n == c0.support and clopper_pearson_lower(k, n, 0.95) >= 0.95
    assert c0.lower_bound >= 0.95
    # Lowest such threshold: one step lower already fails the bound.
    lower_conf = np.sort(conf[(pred == 0) & (conf < c0.threshold)])[-1]
    below = (pred == 0) & (conf >= lower_conf)
    assert clopper_pearson_lower(int((truth[below] == 0).sum()), int(below.sum()), 0.95) < 0.95
    assert c1.threshold is None and c1.support == 0


def test_auto_labelled_validation_accuracy_holds_on_fresh_data() -> None:
    th = pick_thresholds(*_validation(seed=1), 2, target_accuracy=0.95)
    pred, conf, truth = _validation(seed=2)
    mask = auto_label_mask(pred, conf, th)
    assert mask.sum() > 500
    assert (pred[mask] == truth[mask]).mean() >= 0.95
    assert not mask[pred == 1].any()


def test_small_perfect_validation_set_is_not_enough_for_a_high_target() -> None:
    # 20/20 correct has a 95% lower bound of 0.861 < 0.95: refuse, unlike a point estimate.
    pred = np.zeros(20, dtype=int)
    th = pick_thresholds(pred, np.linspace(0.9, 1.0, 20), pred, 1, target_accuracy=0.95)
    assert th[0].threshold is None
    th = pick_thresholds(pred, np.linspace(0.9, 1.0, 20), pred, 1, target_accuracy=0.85)
    assert th[0].threshold == pytest.approx(0.9)


def test_ties_are_never_split() -> None:
    pred = np.zeros(200, dtype=int)
    conf = np.array([1.0] * 100 + [0.5] * 100)
    truth = np.array([0] * 100 + [0] * 60 + [1] * 40)
    th = pick_thresholds(pred, conf, truth, 1, target_accuracy=0.9)
    assert th[0].threshold == 1.0 and th[0].support == 100


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pick_thresholds(np.zeros(2, int), np.ones(2), np.zeros(2, int), 1, target_accuracy=1.0)
    with pytest.raises(ValueError):
        pick_thresholds(np.zeros(2, int), np.ones(3), np.zeros(2, int), 1)


def _many_classes(seed: int, n_per_class: int = 40, k: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k classes, 98% right above confidence 0.7, 50% below (3 in 10 predictions are below)."""
    rng = np.random.default_rng(seed)
    pred = np.repeat(np.arange(k), n_per_class)
    conf = np.where(
        rng.random(len(pred)) < 0.7, rng.uniform(0.7, 1.0, len(pred)), rng.uniform(0.3, 0.7, len(pred))
    )
    right = rng.random(len(pred)) < np.where(conf >= 0.7, 0.98, 0.5)
    truth = np.where(right, pred, (pred + 1) % k)
    return pred, conf, truth


def test_pooled_threshold_qualifies_where_per_class_cannot() -> None:
    val = _many_classes(seed=0)
    per_class = pick_thresholds(*val, 10, target_accuracy=0.95)
    assert all(t.threshold is None for t in per_class)  # ~28 above-threshold predictions per class: too few
    pooled = pick_pooled_threshold(*val, 10, target_accuracy=0.95)
    assert len({t.threshold for t in pooled}) == 1 and pooled[0].threshold is not None
    pred, conf, truth = val
    above = conf >= pooled[0].threshold
    assert clopper_pearson_lower(int((pred[above] == truth[above]).sum()), int(above.sum()), 0.95) >= 0.95
    assert pooled[0].lower_bound >= 0.95 and sum(t.support for t in pooled) == int(above.sum())
    pred, conf, truth = _many_classes(seed=1, n_per_class=400)  # fresh data from the same distribution
    mask = auto_label_mask(pred, conf, pooled)
    assert mask.mean() > 0.5 and (pred[mask] == truth[mask]).mean() >= 0.95


def test_pooled_threshold_refuses_a_bad_model() -> None:
    pred, conf, _ = _many_classes(seed=2)
    wrong = (pred + 1) % 10
    assert all(t.threshold is None for t in pick_pooled_threshold(pred, conf, wrong, 10))


def test_noisy_bound_is_the_plain_bound_without_noise_and_credits_known_noise() -> None:
    from quorum_inference.core.thresholds import noisy_lower_bound

    assert noisy_lower_bound(93, 100, 0.95, 0.0, 2) == pytest.approx(clopper_pearson_lower(93, 100, 0.95))
    # 930/1000 agreement with labels that are wrong 5% of the time: the model is ~97.8% right.
    plain = float(clopper_pearson_lower(930, 1000, 0.95))
    noisy = float(noisy_lower_bound(930, 1000, 0.95, 0.05, 2))
    assert plain < 0.95 < noisy < 0.98
    assert noisy_lower_bound(0, 10, 0.95, 0.05, 3) == 0.0


def test_pooled_threshold_with_known_label_noise_keeps_true_accuracy() -> None:
    """Labels 5% wrong: the plain bound refuses a model that is right 99% of the time above 0.8; the
    noise-aware bound accepts it and the accepted predictions really are >= 95% right."""
    rng = np.random.default_rng(3)
    n, k = 3000, 4
    truth = rng.integers(k, size=n)
    conf = rng.uniform(0.3, 1.0, size=n)
    right = rng.random(n) < np.where(conf >= 0.8, 0.99, 0.6)
    pred = np.where(right, truth, (truth + rng.integers(1, k, size=n)) % k)
    noisy = np.where(rng.random(n) < 0.05, (truth + rng.integers(1, k, size=n)) % k, truth)
    assert pick_pooled_threshold(pred, conf, noisy, k, target_accuracy=0.95)[0].threshold is None
    th = pick_pooled_threshold(pred, conf, noisy, k, target_accuracy=0.95, label_noise=0.05)
    mask = auto_label_mask(pred, conf, th)
    assert mask.mean() > 0.3 and (pred[mask] == truth[mask]).mean() >= 0.95
