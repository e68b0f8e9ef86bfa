import numpy as np
import pytest

from quorum_inference.core.thresholds import (
    auto_label_mask,
    clopper_pearson_lower,
    look_at,
    look_confidence_level,
    look_epoch,
    next_look_draws,
    pick_thresholds,
    pooled_certification,
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
    pooled = pooled_certification(*val, 10, target_accuracy=0.95)[0]
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
    assert all(t.threshold is None for t in pooled_certification(pred, conf, wrong, 10)[0])


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
    assert pooled_certification(pred, conf, noisy, k, target_accuracy=0.95)[0][0].threshold is None
    th = pooled_certification(pred, conf, noisy, k, target_accuracy=0.95, label_noise=0.05)[0]
    mask = auto_label_mask(pred, conf, th)
    assert mask.mean() > 0.3 and (pred[mask] == truth[mask]).mean() >= 0.95


# ----- per-object label noise (each human label's own 1 - consolidated confidence) -------------------------


def test_per_object_noise_with_equal_confidences_is_the_global_bound() -> None:
    from quorum_inference.core.thresholds import noisy_lower_bound, subset_noise

    k, n = np.array([90, 180, 930]), np.array([95, 190, 1000])
    np.testing.assert_allclose(
        noisy_lower_bound(k, n, 0.95, np.full(3, 0.05), 3), noisy_lower_bound(k, n, 0.95, 0.05, 3)
    )
    np.testing.assert_allclose(subset_noise(np.full(5, 0.04)), 0.04)
    pred, conf, truth = _many_classes(seed=4, n_per_class=120)
    for pick in (lambda *a, **kw: pooled_certification(*a, **kw)[0], pick_thresholds):
        flat = pick(pred, conf, truth, 10, target_accuracy=0.9, label_noise=0.05)
        each = pick(pred, conf, truth, 10, target_accuracy=0.9, object_noise=np.full(len(pred), 0.05))
        assert [(t.threshold, t.support, t.accuracy) for t in each] == [
            (t.threshold, t.support, t.accuracy) for t in flat
        ]
        assert [t.lower_bound for t in each] == pytest.approx([t.lower_bound for t in flat])
        assert any(t.threshold is not None for t in each)


def _clustered(seed: int) -> tuple[np.ndarray, ...]:
    """Human errors on hard objects: labels of the model's confident objects (conf >= 0.8) are 99.5% right,
    the others 85% (overall ~7.5%). The model is right 93% of the time when confident: below a 0.95 target."""
    rng = np.random.default_rng(seed)
    n, k = 6000, 4
    truth = rng.integers(k, size=n)
    conf = rng.uniform(0.3, 1.0, size=n)
    easy = conf >= 0.8
    right = rng.random(n) < np.where(easy, 0.93, 0.6)
    pred = np.where(right, truth, (truth + rng.integers(1, k, size=n)) % k)
    eps = np.where(easy, 0.005, 0.15)
    human = np.where(rng.random(n) < eps, (truth + rng.integers(1, k, size=n)) % k, truth)
    return pred, conf, human, truth, eps, k


def test_a_confidently_labelled_subset_gets_a_smaller_correction_than_the_average() -> None:
    """The global rate over-corrects the disagreement on the easy objects and certifies a 93%-right model at
    0.95; each label's own rate (mean over the set, ~0.5%) does not."""
    pred, conf, human, truth, eps, k = _clustered(seed=5)
    global_eps = float(eps.mean())
    optimistic = pooled_certification(pred, conf, human, k, target_accuracy=0.95, label_noise=global_eps)[0]
    mask = auto_label_mask(pred, conf, optimistic)
    assert mask.sum() > 500 and (pred[mask] == truth[mask]).mean() < 0.95  # the problem
    honest = pooled_certification(pred, conf, human, k, target_accuracy=0.95, object_noise=eps)[0]
    mask = auto_label_mask(pred, conf, honest)
    assert not mask.any() or (pred[mask] == truth[mask]).mean() >= 0.95
    # At the same set (the global choice's), the per-object bound is lower: a smaller correction.
    assert honest[0].threshold is None or honest[0].threshold > optimistic[0].threshold


def test_per_object_bound_is_monotone_in_the_label_confidences() -> None:
    """More confident labels (smaller eps_i) never raise the accuracy bound: over-confident consolidation errs
    on the conservative side. More agreement never lowers it."""
    from quorum_inference.core.thresholds import noisy_lower_bound, object_noise_from_confidence, subset_noise

    eps_grid = np.linspace(0.0, 0.3, 31)
    bounds = noisy_lower_bound(np.full(31, 900), np.full(31, 1000), 0.95, eps_grid, 4)
    assert np.all(np.diff(bounds) >= -1e-12)
    assert np.all(np.diff(noisy_lower_bound(np.arange(900, 1001), np.full(101, 1000), 0.95, 0.05, 4)) >= 0)
    rng = np.random.default_rng(6)
    q = rng.uniform(0.6, 1.0, 400)
    for bump in (0.0, 0.02, 0.05):
        higher = np.minimum(1.0, q + bump)
        a = subset_noise(object_noise_from_confidence(higher))  # type: ignore[arg-type]
        b = subset_noise(object_noise_from_confidence(q))  # type: ignore[arg-type]
        assert np.all(a <= b + 1e-12)
        # In the region that matters (accuracy bound above chance, 1/K): with d+ > (K - 1) / K the
        # correction flips sign, but there nothing is certified anyway.
        n = np.arange(1, 401)
        lo_a, lo_b = noisy_lower_bound(n, n, 0.95, a, 2), noisy_lower_bound(n, n, 0.95, b, 2)
        useful = lo_b >= 0.5
        assert useful[20:].all() and np.all(lo_a[useful] <= lo_b[useful] + 1e-12)
    # A pooled threshold never gets lower when every label is more confident.
    pred, conf, human, _, eps, k = _clustered(seed=7)
    cuts = [
        pooled_certification(
            pred, conf, human, k, target_accuracy=0.9, object_noise=np.clip(eps * s, 0, 0.5)
        )[0][0].threshold
        for s in (2.0, 1.0, 0.5, 0.0)
    ]
    assert all(c is not None for c in cuts) and cuts == sorted(cuts)  # type: ignore[type-var]


def test_object_noise_from_confidence() -> None:
    from quorum_inference.core.thresholds import MAX_OBJECT_NOISE, object_noise_from_confidence

    assert object_noise_from_confidence(np.zeros(4), 0.05) is None  # none known: the global rate
    eps = object_noise_from_confidence(np.array([0.99, 0.0, 0.2, 1.0]), 0.07)
    assert eps is not None
    np.testing.assert_allclose(eps, [0.01, 0.07, MAX_OBJECT_NOISE, 0.0])


def test_evaluate_uses_label_confidences_only_when_sent() -> None:
    from quorum_inference.core.metrics import evaluate

    pred, conf, human, _, eps, k = _clustered(seed=8)
    logits = np.log(np.full((len(pred), k), 1e-3))
    logits[np.arange(len(pred)), pred] = np.log(conf * 40)
    common = dict(n_train=len(pred), target_accuracy=0.9, confidence_level=0.95, threshold_mode="pooled")
    base = evaluate(logits, human, k, label_noise=0.07, **common)  # type: ignore[arg-type]
    zeros = evaluate(logits, human, k, label_noise=0.07, label_confidence=np.zeros(len(pred)), **common)  # type: ignore[arg-type]
    assert zeros == base and not zeros.per_object_label_noise
    each = evaluate(logits, human, k, label_noise=0.07, label_confidence=1.0 - eps, **common)  # type: ignore[arg-type]
    assert each.per_object_label_noise and each.label_noise == pytest.approx(eps.mean())
    assert each.thresholds[0].threshold is not None and base.thresholds[0].threshold is not None
    assert each.thresholds[0].threshold >= base.thresholds[0].threshold
    # The noise that corrects the machine-labeled validation objects' agreement: the job-wide rate without
    # confidences; with them, their own labels' (noise clusters on hard objects, not machine-labeled).
    assert base.validation_auto_label_noise == pytest.approx(0.07)
    assert 0.0 <= each.validation_auto_label_noise < eps.mean()
    with pytest.raises(ValueError):
        evaluate(logits, human, k, label_confidence=np.ones(3), **common)  # type: ignore[arg-type]


def test_earlier_draws_at_equal_weight_pool_with_every_candidate_set() -> None:
    from quorum_inference.core.thresholds import EarlierCertified

    rng = np.random.default_rng(5)
    n = 300
    pred = rng.integers(3, size=n)
    conf = rng.uniform(0.4, 1.0, size=n)
    truth = np.where(rng.random(n) < np.where(conf > 0.7, 0.97, 0.5), pred, (pred + 1) % 3)
    agree = (rng.random(80) < 0.99).astype(np.float64)
    earlier = EarlierCertified(agree, np.zeros(80), np.ones(80))
    cut = pooled_certification(pred, conf, truth, 3, target_accuracy=0.9, earlier=earlier)[0][0]
    assert cut.threshold is not None
    above = conf >= cut.threshold
    k = int(agree.sum()) + int((pred[above] == truth[above]).sum())
    # The bound is the plain bound of the earlier draws and the candidate set's together.
    assert cut.lower_bound == pytest.approx(float(clopper_pearson_lower(k, 80 + int(above.sum()), 0.95)))


def test_earlier_machine_labels_above_the_target_admit_a_harder_set_and_the_whole_stays_above_it() -> None:
    from quorum_inference.core.thresholds import EarlierCertified

    # The remaining pool is hard: 90 % right at best, never certifiable at 0.95 on its own.
    rng = np.random.default_rng(6)
    n = 200
    pred = rng.integers(4, size=n)
    conf = rng.uniform(0.3, 1.0, size=n)
    p_right = np.where(conf > 0.8, 0.9, 0.5)
    truth = np.where(rng.random(n) < p_right, pred, (pred + 1) % 4)
    alone = pooled_certification(pred, conf, truth, 4, target_accuracy=0.95)[0]
    assert alone[0].threshold is None
    # An earlier version machine-labeled a large easy part, all 300 of its draws right.
    perfect = EarlierCertified(np.ones(300), np.zeros(300), np.ones(300))
    joint = pooled_certification(pred, conf, truth, 4, target_accuracy=0.95, earlier=perfect)[0][0]
    assert joint.threshold is not None and joint.lower_bound >= 0.95
    above = conf >= joint.threshold
    assert 0.0 < (pred[above] == truth[above]).mean() < 0.95  # the new set alone is below the target...
    whole = (300 + (pred[above] == truth[above]).sum()) / (300 + above.sum())
    assert whole >= 0.95  # ...the machine labels together are not
    # Earlier machine labels below the target admit nothing, however good the new set.
    poor = EarlierCertified((rng.random(300) < 0.85).astype(np.float64), np.zeros(300), np.ones(300))
    assert pooled_certification(pred, conf, pred, 4, earlier=poor)[0][0].threshold is None


def test_earlier_draws_weigh_by_the_share_of_the_pool_they_stood_for() -> None:
    from quorum_inference.core.thresholds import EarlierCertified, earlier_certified, noisy_lower_bound

    # First batch: 100 of 1,000 objects (rate 0.1); version 1 drew 25 of 500 (0.05); version 2 drew 50 of 250.
    rates = {0: 0.1, 1: 0.05, 2: 0.2}
    draws = [(1, 0.01, 1), (0, 0.02, 2), (1, 0.0, 3)]
    got = earlier_certified(draws, rates, 3)
    assert got is not None and len(got) == 2  # version 3's own draw is not earlier than itself
    # For version 3 the pool has been sampled at 0.35 in all: a draw certified by version 1 (sampled at 0.1)
    # stands for 3.5 times as many objects as a draw of the current pool; one by version 2 (0.15) for 2.33.
    assert got.weight == pytest.approx([0.35 / 0.1, 0.35 / 0.15])
    assert earlier_certified(draws, {1: 0.05}, 3) is None  # the first batch's rate is needed
    assert earlier_certified(draws, rates, 1) is None  # nothing before version 1
    # Kish's effective sample size: one candidate draw (right) with the two earlier ones.
    cut = pooled_certification(
        np.array([0]), np.array([0.9]), np.array([0]), 2, target_accuracy=0.05, earlier=got
    )[0][0]
    w = np.concatenate([got.weight, [1.0]])
    agree = np.array([1.0, 0.0, 1.0])
    eps = np.array([0.01, 0.02, 0.0])
    n_eff = w.sum() ** 2 / (w @ w)
    expected = noisy_lower_bound((w @ agree) / w.sum() * n_eff, n_eff, 0.95, (w @ eps) / w.sum(), 2)
    assert cut.lower_bound == pytest.approx(float(expected))
    with pytest.raises(ValueError, match="weights"):
        EarlierCertified(np.ones(1), np.zeros(1), np.zeros(1))


def test_the_best_pooled_bound_says_how_close_a_model_came() -> None:

    pred, conf, truth = _many_classes(seed=3)
    _, (best, support) = pooled_certification(pred, conf, truth, 10)
    assert 0.0 < best < 1.0 and 0 < support <= len(pred)
    # A target just under the best bound certifies; one just over it does not.
    under = pooled_certification(pred, conf, truth, 10, target_accuracy=best - 1e-6)[0][0]
    assert under.threshold is not None and under.lower_bound <= best + 1e-12
    assert (
        pooled_certification(pred, conf, truth, 10, target_accuracy=min(0.999, best + 1e-3))[0][0].threshold
        is None
    )
    assert pooled_certification(pred[:0], conf[:0], truth[:0], 10)[1] == (0.0, 0)


def test_noise_credit_never_exceeds_the_disagreement_observed() -> None:
    from quorum_inference.core.thresholds import noisy_lower_bound

    # 18 of 18 agree with labels whose confidences say a quarter are wrong: no noise can be credited (the
    # uncapped correction said 1.0).
    assert noisy_lower_bound(18, 18, 0.95, 0.26, 10) == pytest.approx(
        float(clopper_pearson_lower(18, 18, 0.95))
    )
    # 3 of 100 disagree, labels said 5 % wrong: only 3 % is credited.
    capped = float(noisy_lower_bound(97, 100, 0.95, 0.05, 2))
    assert capped == pytest.approx(float(noisy_lower_bound(97, 100, 0.95, 0.03, 2)))
    assert float(clopper_pearson_lower(97, 100, 0.95)) < capped < 1.0


def test_a_share_cap_keeps_the_most_confident_of_the_objects_above_threshold() -> None:
    from quorum_inference.core.thresholds import ClassThreshold

    th = [ClassThreshold(0, 0.7, 10, 1.0, 0.96), ClassThreshold(1, 0.7, 10, 1.0, 0.96)]
    pred = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    conf = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.75, 0.72, 0.6, 0.5, 0.98])
    assert auto_label_mask(pred, conf, th).sum() == 8  # no cap: every object above 0.7
    capped = auto_label_mask(pred, conf, th, max_share=0.35)  # 3 of 10
    assert np.flatnonzero(capped).tolist() == [0, 1, 9]
    assert auto_label_mask(pred, conf, th, max_share=0.9).sum() == 8  # a cap above the set changes nothing
    assert not auto_label_mask(pred, conf, th, max_share=0.0).any()


def test_cross_fitted_metrics_cap_the_machine_labeled_share_at_the_certified_draws_share() -> None:
    """Held-out predictions of cross-fitted folds certify; the kept network scores the pool, so the version
    may machine-label at most the share of the certification draws its threshold took (not of all
    validation objects: those like earlier machine-labeled sets are left out)."""
    from quorum_inference.core.calibration import apply_temperature
    from quorum_inference.core.metrics import evaluate

    pred, conf, truth = _validation(seed=3)
    logits = np.log(np.full((len(pred), 2), 1e-3))
    logits[np.arange(len(pred)), pred] = np.log(conf * 40)
    certify = np.arange(len(pred)) % 4 != 0
    common = dict(n_train=len(pred), target_accuracy=0.8, confidence_level=0.95, threshold_mode="pooled")
    plain = evaluate(logits, truth, 2, certify=certify, **common)  # type: ignore[arg-type]
    assert plain.max_auto_share == 1.0  # the certifying network scores: no cap
    capped = evaluate(logits, truth, 2, certify=certify, cap_share=True, **common)  # type: ignore[arg-type]
    assert capped.thresholds == plain.thresholds
    probs = apply_temperature(logits, capped.temperature)
    above = auto_label_mask(probs.argmax(axis=1), probs.max(axis=1), capped.thresholds)
    assert 0.0 < capped.max_auto_share < 1.0
    assert capped.max_auto_share == pytest.approx(above[certify].mean())


def test_a_look_spends_less_error_as_the_certification_draws_double() -> None:
    """Repeated looks: the error rate 1 - level is split by doublings of the draws, never relaxed."""
    assert look_confidence_level(0.95, 500, 0) == 0.95  # spending off: one level for every look
    assert look_confidence_level(0.95, 40, 100) == pytest.approx(0.95)  # below 2 x base: the full level
    assert look_confidence_level(0.95, 199, 100) == pytest.approx(0.95)
    assert look_confidence_level(0.95, 200, 100) == pytest.approx(0.975)
    assert look_confidence_level(0.95, 399, 100) == pytest.approx(0.975)
    assert look_confidence_level(0.95, 800, 100) == pytest.approx(1 - 0.05 / 4)
    levels = [look_confidence_level(0.9, n, 50) for n in range(0, 5000, 7)]
    assert all(a <= b for a, b in zip(levels, levels[1:], strict=False))
    assert levels[0] == pytest.approx(0.9) and levels[-1] < 1.0


def test_a_stricter_look_certifies_a_subset_of_what_a_looser_one_does() -> None:
    pred, conf, truth = _validation(seed=5)
    loose, _ = pooled_certification(pred, conf, truth, 2, target_accuracy=0.8, confidence_level=0.95)
    strict, _ = pooled_certification(
        pred, conf, truth, 2, target_accuracy=0.8, confidence_level=look_confidence_level(0.95, 1600, 100)
    )
    assert loose[0].threshold is not None and strict[0].threshold is not None
    assert strict[0].threshold > loose[0].threshold  # a smaller set: the bound is lower at every threshold
    assert strict[0].lower_bound >= 0.8


def test_earlier_machine_labels_at_their_certified_bound_leave_only_the_slack_it_proves() -> None:
    from quorum_inference.core.thresholds import EarlierCertified

    pred, conf, truth = _pool(6, 200, 4, 0.8, 0.9, 0.3)  # a hard pool: 90 % right at best
    # 300 earlier draws, all right: counted at their verdicts they admit a set of this pool (test above)...
    verdicts = EarlierCertified(np.ones(300), np.zeros(300), np.ones(300))
    assert pooled_certification(pred, conf, truth, 4, earlier=verdicts)[0][0].threshold is not None
    # ...counted at the bound they certified (0.951: those draws selected their set), the slack is too small.
    at_bound = EarlierCertified(np.ones(300), np.zeros(300), np.ones(300), lower=0.951)
    assert pooled_certification(pred, conf, truth, 4, earlier=at_bound)[0][0].threshold is None
    # A high certified bound leaves real slack: the weighted mean of it and the new set's own bound.
    generous = EarlierCertified(np.ones(300), np.zeros(300), np.ones(300), lower=0.99)
    cut = pooled_certification(pred, conf, truth, 4, earlier=generous)[0][0]
    assert cut.threshold is not None
    above = conf >= cut.threshold
    own = float(clopper_pearson_lower(int((pred[above] == truth[above]).sum()), int(above.sum()), 0.95))
    assert own < 0.95  # the new set alone would not pass
    assert cut.lower_bound == pytest.approx((300 * 0.99 + above.sum() * own) / (300 + above.sum()))
    assert cut.lower_bound >= 0.95
    with pytest.raises(ValueError, match="lower"):
        EarlierCertified(np.ones(1), np.zeros(1), np.ones(1), lower=1.5)


def test_earlier_sets_take_the_latest_bound_certified_before_the_version() -> None:
    from quorum_inference.core.thresholds import earlier_certified

    rates = {0: 0.1, 1: 0.05, 2: 0.2}
    draws = [(1, 0.01, 1), (0, 0.02, 2)]
    bounds = {1: 0.97, 2: 0.955, 3: 0.96}
    got = earlier_certified(draws, rates, 3, bounds)
    assert got is not None and got.lower == pytest.approx(0.955)  # version 3's own bound is not earlier
    assert earlier_certified(draws, rates, 2, bounds).lower == pytest.approx(0.97)  # type: ignore[union-attr]
    assert earlier_certified(draws, rates, 3).lower is None  # type: ignore[union-attr]  # no bounds: verdicts


def _pool(
    seed: int, n: int, k: int, confident_above: float, right_then: float, low: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted, confidence, truth): predictions right with probability `right_then` above
    `confident_above` and half the time below; confidences uniform in [low, 1]."""
    rng = np.random.default_rng(seed)
    pred = rng.integers(k, size=n)
    conf = rng.uniform(low, 1.0, size=n)
    p_right = np.where(conf > confident_above, right_then, 0.5)
    return pred, conf, np.where(rng.random(n) < p_right, pred, (pred + 1) % k)


def test_the_label_noise_credited_to_a_set_is_capped() -> None:
    """Early in a job consolidation is under-confident: labels 96 % right whose confidences claim 92 %. The
    credit of a set's label noise stops at MAX_SET_NOISE, so disagreements beyond it count as model errors."""
    from quorum_inference.core.thresholds import MAX_SET_NOISE, noisy_lower_bound

    n = 150
    conf = np.linspace(0.999, 0.5, n)
    pred = np.zeros(n, dtype=np.int64)
    truth = pred.copy()
    truth[np.linspace(5, n - 1, 11).astype(int)] = 1  # 11 disagreements spread over the confidences
    claimed = np.full(n, 0.08)  # the labels' confidences say 8 % of them are wrong
    cut = pooled_certification(pred, conf, truth, 10, object_noise=claimed)[0][0]
    uncapped = float(noisy_lower_bound(139, n, 0.95, 0.08, 10))
    assert uncapped >= 0.95  # crediting 8 % would machine-label the whole set
    assert float(noisy_lower_bound(139, n, 0.95, MAX_SET_NOISE, 10)) < 0.95
    assert cut.threshold is None or cut.threshold > conf[-1]  # not the whole set
    if cut.threshold is not None:
        above = conf >= cut.threshold
        k, m = int((pred[above] == truth[above]).sum()), int(above.sum())
        credited = min(MAX_SET_NOISE, 1 - k / m)
        assert cut.lower_bound == pytest.approx(float(noisy_lower_bound(k, m, 0.95, credited, 10)))


def test_a_job_looks_once_per_doubling_of_its_draws() -> None:
    assert [look_epoch(n, 100) for n in (30, 99, 100, 199, 200, 399, 400, 1600)] == [-2, -1, 0, 0, 1, 1, 2, 4]
    with pytest.raises(ValueError, match="base_draws"):
        look_epoch(10, 0)
    kw = {"target_accuracy": 0.95, "confidence_level": 0.95, "pooled_with_earlier": False}
    assert look_at(120, 120, 100, None, **kw) == 0  # the job's first look
    assert look_at(180, 150, 100, 0, **kw) is None  # the same doubling: no second look
    assert look_at(200, 150, 100, 0, **kw) == 1  # the draws doubled
    assert look_at(210, 150, 100, 1, **kw) is None
    # 40 draws could not clear 0.95 even all agreeing (bound 0.928): no look, the epoch stays unspent...
    assert look_at(40, 40, 100, None, **kw) is None
    assert look_at(60, 60, 100, None, **kw) == -1  # ... until they could (59 all agreeing: 0.9505)
    # ... unless earlier machine labels pool with them (a small set can join a bound with slack)
    assert look_at(400, 10, 100, 1, **{**kw, "pooled_with_earlier": True}) == 2
    assert look_at(0, 0, 100, None, **kw) is None


def test_two_looks_per_doubling_look_at_each_factor_sqrt2_at_half_the_error_rate() -> None:
    # epochs of [100, 141), [141, 200), [200, 283), [283, 400): the looks come at every factor sqrt(2)
    ns = (99, 100, 141, 142, 199, 200, 282, 283, 400)
    assert [look_epoch(n, 100, 2) for n in ns] == [-1, 0, 0, 1, 1, 2, 2, 3, 4]
    with pytest.raises(ValueError, match="looks_per_doubling"):
        look_epoch(100, 100, 0)
    kw = {"target_accuracy": 0.95, "confidence_level": 0.95, "pooled_with_earlier": False}
    assert look_at(150, 150, 100, 0, **kw, looks_per_doubling=2) == 1  # one look later than L = 1 allows
    assert look_at(150, 150, 100, 0, **kw) is None
    # The two looks of a doubling share its error rate: each at half of it.
    assert look_confidence_level(0.95, 150, 100, 2) == pytest.approx(0.975)
    assert look_confidence_level(0.95, 300, 100, 2) == pytest.approx(1 - 0.05 / 4)
    assert look_confidence_level(0.95, 300, 100, 0) == look_confidence_level(0.95, 300, 100, 1)


def test_the_next_look_comes_at_the_first_draw_count_of_a_later_epoch() -> None:
    assert next_look_draws(None, 100) == 0  # no look yet: any training may look
    assert next_look_draws(0, 0) == 0  # looks not spent
    assert next_look_draws(0, 100) == 200
    assert next_look_draws(1, 100) == 400
    assert next_look_draws(-1, 100) == 100
    assert next_look_draws(0, 100, 2) == 142  # [100, 141] is epoch 0 at L = 2
    for last, per in ((-2, 1), (0, 1), (3, 1), (0, 2), (1, 2), (5, 2), (2, 3)):
        n = next_look_draws(last, 100, per)
        assert look_epoch(n, 100, per) == last + 1
        assert look_epoch(n - 1, 100, per) <= last
