"""Per-class confidence thresholds with a statistical guarantee.

For each predicted class c, sort the validation predictions of c by confidence and take the lowest
threshold t such that the one-sided Clopper-Pearson lower bound (at `confidence_level`) of the accuracy of
the predictions of c with confidence >= t is at least `target_accuracy`. A class whose bound never reaches
the target gets no threshold: its predictions are never auto-labelled. The bound (not the point estimate)
makes small validation sets conservative: 19/19 correct has a 95% lower bound of 0.854, not 1.0.

Noisy human labels. Validation labels come from crowds, right with probability 1 - eps (eps ~ 3-7% for three
consolidated workers); counting every disagreement as a model error would then cap the measurable accuracy
at 1 - eps and refuse any target above it. With `label_noise` = eps (errors independent of the model's, the
wrong label uniform over the other K - 1 classes), P(disagree) = e + eps - e * eps * K / (K - 1) for a model
error rate e, so the bound is taken on the disagreement rate (Clopper-Pearson upper) and turned into an
upper bound on e: (d_upper - eps) / (1 - eps * K / (K - 1)). eps = 0 is the plain bound. Overstating eps is
optimistic (core/metrics.py caps its estimate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta


@dataclass(frozen=True)
class ClassThreshold:
    class_index: int
    threshold: float | None  # None: this class is never auto-labelled
    support: int  # validation predictions of this class at or above the threshold (0 if none)
    accuracy: float  # their point accuracy (0.0 if none)
    lower_bound: float  # their Clopper-Pearson lower bound (0.0 if none)


def clopper_pearson_lower(
    successes: NDArray[np.integer] | int, trials: NDArray[np.integer] | int, confidence_level: float
) -> NDArray[np.float64]:
    """One-sided exact lower bound of a binomial proportion: Beta(alpha; k, n - k + 1), 0 when k == 0."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    alpha = 1.0 - confidence_level
    with np.errstate(invalid="ignore"):
        bound = beta.ppf(alpha, k, n - k + 1.0)
    return np.where(k > 0, np.nan_to_num(bound, nan=0.0), 0.0)


def noisy_lower_bound(
    successes: NDArray[np.integer] | int,
    trials: NDArray[np.integer] | int,
    confidence_level: float,
    label_noise: float = 0.0,
    n_classes: int = 2,
) -> NDArray[np.float64]:
    """Lower bound of the accuracy vs the truth, from agreement with labels wrong at rate `label_noise`."""
    lower = clopper_pearson_lower(successes, trials, confidence_level)
    if label_noise <= 0.0:
        return lower
    k = max(2, n_classes)
    shrink = 1.0 - label_noise * k / (k - 1)
    if shrink <= 0.0:
        return lower
    error_upper = np.clip((1.0 - lower - label_noise) / shrink, 0.0, 1.0)
    return np.where(np.asarray(successes) > 0, 1.0 - error_upper, 0.0)


def _lowest_cut(
    confidence: NDArray[np.float64],
    correct: NDArray[np.int64],
    target: float,
    level: float,
    label_noise: float = 0.0,
    n_classes: int = 2,
) -> tuple[float, int, int, float] | None:
    """(threshold, correct, n, lower bound) of the largest top-confidence set whose bound clears `target`."""
    order = np.argsort(-confidence, kind="stable")
    conf, ok_pred = confidence[order], correct[order]
    k = np.cumsum(ok_pred)
    n = np.arange(1, len(conf) + 1)
    # Only cut between distinct confidences: a threshold cannot split ties.
    valid = np.ones(len(conf), dtype=bool)
    if len(conf) > 1:
        valid[:-1] = conf[:-1] > conf[1:]
    lower = noisy_lower_bound(k, n, level, label_noise, n_classes)
    ok = np.flatnonzero(valid & (lower >= target))
    if len(ok) == 0:
        return None
    i = int(ok[-1])  # the largest accepted set = the lowest threshold
    return float(conf[i]), int(k[i]), int(n[i]), float(lower[i])


def _check(target_accuracy: float, confidence_level: float, *arrays: NDArray[np.generic]) -> None:
    if not 0.0 < target_accuracy < 1.0:
        raise ValueError(f"target_accuracy must be in (0, 1), got {target_accuracy}")
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    if len({len(a) for a in arrays}) > 1:
        raise ValueError("predicted, confidence and truth must have the same length")


def pick_thresholds(
    predicted: NDArray[np.integer],
    confidence: NDArray[np.floating],
    truth: NDArray[np.integer],
    n_classes: int,
    *,
    target_accuracy: float = 0.95,
    confidence_level: float = 0.95,
    label_noise: float = 0.0,
) -> list[ClassThreshold]:
    """One ClassThreshold per class from validation predictions (class, confidence) and human labels."""
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    _check(target_accuracy, confidence_level, predicted, confidence, truth)
    out: list[ClassThreshold] = []
    for c in range(n_classes):
        mask = predicted == c
        cut = _lowest_cut(
            confidence[mask],
            (truth[mask] == c).astype(np.int64),
            target_accuracy,
            confidence_level,
            label_noise,
            n_classes,
        )
        if cut is None:
            out.append(ClassThreshold(c, None, 0, 0.0, 0.0))
        else:
            threshold, k, n, lower = cut
            out.append(ClassThreshold(c, threshold, n, k / n, lower))
    return out


def pick_pooled_threshold(
    predicted: NDArray[np.integer],
    confidence: NDArray[np.floating],
    truth: NDArray[np.integer],
    n_classes: int,
    *,
    target_accuracy: float = 0.95,
    confidence_level: float = 0.95,
    label_noise: float = 0.0,
) -> list[ClassThreshold]:
    """One threshold shared by every class, bounding the accuracy of *all* above-threshold predictions.

    Per-class bounds need about 59 all-correct validation predictions per class to clear 0.95 at 95%
    confidence; with many classes and a small validation set no class ever qualifies. Pooling bounds the
    overall accuracy of the machine labels instead (what a requester's target is about), with every class's
    validation predictions counting towards one bound. `lower_bound` is the pooled bound for every class.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    _check(target_accuracy, confidence_level, predicted, confidence, truth)
    cut = _lowest_cut(
        confidence,
        (predicted == truth).astype(np.int64),
        target_accuracy,
        confidence_level,
        label_noise,
        n_classes,
    )
    if cut is None:
        return [ClassThreshold(c, None, 0, 0.0, 0.0) for c in range(n_classes)]
    threshold, _, _, lower = cut
    out = []
    for c in range(n_classes):
        above = (predicted == c) & (confidence >= threshold)
        n = int(above.sum())
        acc = float((truth[above] == c).mean()) if n else 0.0
        out.append(ClassThreshold(c, threshold, n, acc, lower))
    return out


def auto_label_mask(
    predicted: NDArray[np.integer], confidence: NDArray[np.floating], thresholds: list[ClassThreshold]
) -> NDArray[np.bool_]:
    """Which predictions clear their class's threshold (classes without one never do)."""
    cut = np.array([np.inf if t.threshold is None else t.threshold for t in thresholds], dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.int64)
    return np.asarray(confidence, dtype=np.float64) >= cut[predicted]
