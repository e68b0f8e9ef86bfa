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
optimistic (core/metrics.py caps its estimate): the accuracy bound rises with eps (for d < (K - 1) / K). So
eps is never credited above the observed disagreement rate: a set that agrees with its labels more than eps
allows shows that eps overstates its labels' errors there (or that the model shares them).

Per-object label noise. Crowd errors cluster on hard objects, and a threshold certifies the model's most
confident (easy) objects, whose human labels are right more often than average: subtracting the job's
*average* eps from the disagreement on that subset over-corrects, an optimistic bound. With `object_noise`
(eps_i = 1 - q_i, q_i the consolidated confidence of object i's human label), the bound of a candidate set S
uses eps_S = the mean of eps_i over S (clipped to [0, MAX_OBJECT_NOISE]), which is exact for the expected
disagreement sum_i P(disagree_i) = sum_i e_i + sum_i eps_i - K / (K - 1) sum_i e_i eps_i when the model's
errors within S are uncorrelated with the eps_i (the global formula's assumption, restricted to S). Direction:
if consolidation is over-confident (q_i too high), eps_S is too small and the bound is *conservative*;
under-confident q_i would make it optimistic, so eps_S is capped at MAX_SET_NOISE (early in a job, with few
answers per worker, consolidation is under-confident). Residual optimism the formula still cannot see: model
errors that fall on the objects whose human labels are also wrong (sum e_i eps_i above mean(e) sum eps_i),
and wrong human labels that agree with a wrong model more often than uniformly.

Earlier machine labels (pooled mode). The requester's target is about the job's machine labels as a whole,
and an iteration's threshold adds to those that earlier versions already machine-labeled. Each earlier
version's certified set S_j is represented by the random draws that fell in it (with that version's
held-out verdict on them, `EarlierCertified`), so the bound of a candidate set S is taken on S_1 ∪ ... ∪ S_J
∪ S: draws weighted by the share of the pool each one stands for (the inverse of the sampling rate
accumulated before its set left the pool: early draws were rarer, each stands for more objects), the
weighted agreement turned into Kish's effective sample size for the Clopper-Pearson bound (Korn and
Graubard's bound for weighted samples). Earlier sets that are far above the target (typically 99 % and more)
then let a later, harder set be admitted at a lower accuracy as long as all the machine labels together
still clear the target with the same confidence. But those draws selected their set (it was machine-labeled
at the look where they looked good enough), so their verdicts are optimistic, and on sst2 later sets spent
that luck: the job's machine labels ended below the target (docs/benchmarks.md, eleventh session). With
`EarlierCertified.lower` (the service's default), the earlier sets count at their certified lower bound
instead, weighted by the share of the pool they stand for, and the candidate set at its own bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta

# Per-object noise rates are clipped to [0, MAX_OBJECT_NOISE]: a label below 50% confidence says little, and
# the correction's denominator 1 - eps K / (K - 1) reaches 0 at eps = 0.5 for two classes.
MAX_OBJECT_NOISE = 0.5
# A set's credited label noise eps_S from consolidated confidences is capped (as metrics.NOISE_CAP caps the
# fitted estimate): early in a job, with few answers per worker, consolidation is under-confident, and an
# overstated eps_S is optimistic. Seen: digits after 150 labels, 139 of 150 draws agreeing with labels 96.0 %
# right whose confidences claimed <= 92.7 %: eps_S credited every disagreement (estimate 1.0), the bound
# cleared 0.95 and the whole pool was machine-labeled at 94.4 % (docs/benchmarks.md, eleventh session).
MAX_SET_NOISE = 0.05


@dataclass(frozen=True)
class ClassThreshold:
    class_index: int
    threshold: float | None  # None: this class is never auto-labelled
    support: int  # validation predictions of this class at or above the threshold (0 if none)
    accuracy: float  # their point accuracy (0.0 if none)
    lower_bound: float  # their Clopper-Pearson lower bound (0.0 if none)


@dataclass(frozen=True)
class EarlierCertified:
    """The random draws inside the sets earlier versions machine-labeled: per draw, whether the certifying
    version's held-out prediction agreed with its human label, that label's error rate, and its weight
    relative to the current candidate set's draws (>= 1: the share of the pool one draw stood for then,
    over the share it stands for now)."""

    agree: NDArray[np.float64]
    noise: NDArray[np.float64]
    weight: NDArray[np.float64]
    # The certified lower bound of all the earlier machine labels together (the latest certifying version's
    # bound), or None. When set, the earlier sets count at it instead of at their draws' verdicts: those
    # draws selected their set (it was machine-labeled because they looked good), so their verdicts are
    # optimistic, and a later set must not spend that luck (docs/benchmarks.md, eleventh session).
    lower: float | None = None

    def __post_init__(self) -> None:
        if not (len(self.agree) == len(self.noise) == len(self.weight)):
            raise ValueError("agree, noise and weight must have the same length")
        if len(self.weight) and not (np.all(np.isfinite(self.weight)) and np.all(self.weight > 0)):
            raise ValueError("weights must be finite and > 0")
        if self.lower is not None and not 0.0 <= self.lower <= 1.0:
            raise ValueError(f"lower must be in [0, 1], got {self.lower}")

    def __len__(self) -> int:
        return len(self.weight)


def earlier_certified(
    draws: list[tuple[int, float, int]],
    rates: dict[int, float],
    version: int,
    bounds: dict[int, float] | None = None,
) -> EarlierCertified | None:
    """The draws that certified versions before `version`, weighted for its bound.

    `draws`: (agreed, label error rate, certifying version j) per draw; `rates`: the sampling rate of each
    round of random draws, key 0 the first batch's (its share of the objects), key v version v's (its random
    draws over the pool they were drawn from). A draw certified by version j was sampled at the accumulated
    rate R_j = rates[0] + sum of rates[v] for 0 < v < j, so it stands for 1 / R_j objects, and a draw of the
    current pool for 1 / R_version: its weight is R_version / R_j (>= 1: early draws were rarer). `bounds`:
    each certifying version's lower bound of all machine labels up to it; the latest one before `version`
    becomes `lower` (None: the draws count at their verdicts). None when there is no draw, or the rates it
    needs were not recorded."""
    if 0 not in rates:
        return None

    def accumulated(j: int) -> float:
        return rates[0] + sum(r for v, r in rates.items() if 0 < v < j)

    now = accumulated(version)
    rows = [(a, e, accumulated(j)) for a, e, j in draws if j < version]
    if not rows or now <= 0 or any(r <= 0 for _, _, r in rows):
        return None
    before = [v for v in (bounds or {}) if v < version]
    return EarlierCertified(
        agree=np.array([a for a, _, _ in rows], dtype=np.float64),
        noise=np.array([e for _, e, _ in rows], dtype=np.float64),
        weight=np.array([now / r for _, _, r in rows], dtype=np.float64),
        lower=float((bounds or {})[max(before)]) if before else None,
    )


def look_confidence_level(
    confidence_level: float, n_draws: int, base_draws: int, looks_per_doubling: int = 1
) -> float:
    """The confidence level of one look (one iteration's certification) on `n_draws` certification draws.

    Certification is tried again as draws accumulate and machine-labels at the first success, so a job's
    chance of certifying a set below the target is that of *any* of its looks: with one level for all, up to
    9.8 % of simulated runs at 0.95 (`bench/selection_coverage.py`, 19 looks to 1,000 draws, accuracy falling
    gently with confidence). Looks below 2 x `base_draws` keep the full level (an easy job certifies there,
    and few looks fit in it); after that the error rate 1 - `confidence_level` is divided by 1 + the number of
    doublings of the draws since `base_draws` (at 0.95: 0.975 below 4 x, 0.983 below 8 x), and shared by the
    `looks_per_doubling` looks of each doubling (`look_epoch`; 2: each at half of it; 0 or 1: not shared).
    Looks between doublings share most of their draws and so most of their errors: the level tightens as fast
    as the information grows, not per look. A heuristic calibrated by that simulation, not a union bound over
    looks. `base_draws` <= 0: one level for every look. That simulation kept one model for every look; the
    service trains a new one at every iteration, which gives the same draws a fresh chance each time (up to
    13 % of runs below the target), so it also looks only `looks_per_doubling` times per doubling
    (`look_at`)."""
    if base_draws <= 0:
        return confidence_level
    doublings = int(np.floor(np.log2(max(n_draws, base_draws) / base_draws)))
    return 1.0 - (1.0 - confidence_level) / ((doublings + 1) * max(1, looks_per_doubling))


def look_epoch(n_draws: int, base_draws: int, looks_per_doubling: int = 1) -> int:
    """Which of the job's look epochs `n_draws` certification draws lie in: floor(L log2(n_draws /
    base_draws)) with L = `looks_per_doubling`, so with L = 1 one epoch per doubling (0 for [base, 2 base), 1
    for [2 base, 4 base), negative below base) and with L = 2 one per factor sqrt(2). With one look per epoch
    (the service's rule), a job's certification is tried L times each time its draws double, not at every
    iteration: a new model at every iteration gives the same draws a fresh chance to look good, and with one
    look per iteration the first certified set fell below the target in up to 13.4 % of simulated runs where
    5 % is promised (`bench/selection_coverage.py --model-change 0.3`), at most 4.9 % with L = 1 (docs/
    benchmarks.md has L = 2's figures)."""
    if base_draws <= 0 or n_draws <= 0:
        raise ValueError(f"n_draws and base_draws must be > 0, got {n_draws} and {base_draws}")
    if looks_per_doubling < 1:
        raise ValueError(f"looks_per_doubling must be >= 1, got {looks_per_doubling}")
    # The small epsilon keeps exact powers (n = base * 2^(j/L)) in their own epoch despite rounding.
    return int(np.floor(looks_per_doubling * np.log2(n_draws / base_draws) + 1e-9))


def next_look_draws(last_epoch: int | None, base_draws: int, looks_per_doubling: int = 1) -> int:
    """The fewest certification draws at which a training may look again once the job's last look was in
    `last_epoch` (`look_epoch`): the first draw count of a later epoch. 0 when it has not looked yet (a
    training may look on any count) or when look spending is off (`base_draws` <= 0)."""
    if last_epoch is None or base_draws <= 0:
        return 0
    per = max(1, looks_per_doubling)
    n = max(1, math.ceil(base_draws * 2.0 ** ((last_epoch + 1) / per)) - 1)
    while look_epoch(n, base_draws, per) <= last_epoch:  # the float power may land a draw short
        n += 1
    return n


def look_at(
    n_draws: int,
    n_certify: int,
    base_draws: int,
    last_epoch: int | None,
    *,
    target_accuracy: float,
    confidence_level: float,
    pooled_with_earlier: bool,
    looks_per_doubling: int = 1,
) -> int | None:
    """The epoch (`look_epoch`) in which a training on `n_draws` certification draws so far looks at
    certification, or None when it may not certify: its epoch is not after `last_epoch` (the job's last
    look; None: it has not looked yet), or its `n_certify` draws could not clear the target even all
    agreeing and no earlier machine labels pool with them (such a training risks no false certification,
    so it does not spend the epoch's look)."""
    if n_draws <= 0:
        return None
    if not pooled_with_earlier:
        best = clopper_pearson_lower(n_certify, n_certify, confidence_level) if n_certify > 0 else 0.0
        if best < target_accuracy:
            return None
    epoch = look_epoch(n_draws, base_draws, looks_per_doubling)
    return epoch if last_epoch is None or epoch > last_epoch else None


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
    label_noise: NDArray[np.floating] | float = 0.0,
    n_classes: int = 2,
) -> NDArray[np.float64]:
    """Lower bound of the accuracy vs the truth, from agreement with labels wrong at rate `label_noise` (a
    scalar, or one rate per (successes, trials) pair, e.g. eps_S of each candidate set)."""
    lower = clopper_pearson_lower(successes, trials, confidence_level)
    eps = np.broadcast_to(np.asarray(label_noise, dtype=np.float64), np.shape(lower))
    if not (eps > 0.0).any():
        return lower
    # Never credit more label noise than the disagreement observed: a set that agrees with its labels more
    # than their confidences allow (under-confident labels, or a model that shares their mistakes) would
    # otherwise have its whole bound on the model's errors subtracted away (18 of 18 agreeing, eps 0.26: 1.0).
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = 1.0 - np.asarray(successes, dtype=np.float64) / np.asarray(trials, dtype=np.float64)
    eps = np.minimum(eps, np.nan_to_num(observed, nan=0.0))
    k = max(2, n_classes)
    shrink = 1.0 - eps * k / (k - 1)
    usable = (eps > 0.0) & (shrink > 0.0)  # elsewhere: the plain bound
    with np.errstate(divide="ignore", invalid="ignore"):
        error_upper = np.clip((1.0 - lower - eps) / np.where(usable, shrink, 1.0), 0.0, 1.0)
    noisy = np.where(np.asarray(successes) > 0, 1.0 - error_upper, 0.0)
    return np.where(usable, noisy, lower)


def object_noise_from_confidence(
    label_confidence: NDArray[np.floating], fallback: float = 0.0
) -> NDArray[np.float64] | None:
    """Per-object error rates eps_i = 1 - q_i of human labels with consolidated confidences q_i, clipped to
    [0, MAX_OBJECT_NOISE]; objects whose confidence is unknown (q_i <= 0) get `fallback` (the global rate).
    None when no object has a confidence: callers keep the global rate."""
    q = np.asarray(label_confidence, dtype=np.float64)
    known = q > 0.0
    if not known.any():
        return None
    eps = np.where(known, 1.0 - np.clip(q, 0.0, 1.0), fallback)
    return np.clip(eps, 0.0, MAX_OBJECT_NOISE)


def subset_noise(object_noise_sorted: NDArray[np.floating]) -> NDArray[np.float64]:
    """eps_S of every top-n set: the running mean of per-object rates, in the order the sets grow."""
    eps = np.asarray(object_noise_sorted, dtype=np.float64)
    return np.cumsum(eps) / np.arange(1, len(eps) + 1)


# Every top-confidence set, largest last: lowest confidence, correct, n, cuttable, lower bound.
_Curve = tuple[
    NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], NDArray[np.float64]
]


def _bound_curve(
    confidence: NDArray[np.float64],
    correct: NDArray[np.int64],
    level: float,
    label_noise: float = 0.0,
    n_classes: int = 2,
    object_noise: NDArray[np.float64] | None = None,
    earlier: EarlierCertified | None = None,
) -> _Curve:
    """Every top-confidence set, largest last: (its lowest confidence, correct, n, whether a threshold can
    cut there, its lower bound). With `object_noise`, each set's bound allows for the mean rate of its own
    objects (eps_S), not `label_noise`. With `earlier`, each set's bound is that of the earlier machine labels
    and the set together."""
    order = np.argsort(-confidence, kind="stable")
    conf, ok_pred = confidence[order], correct[order]
    k = np.cumsum(ok_pred)
    n = np.arange(1, len(conf) + 1)
    # Only cut between distinct confidences: a threshold cannot split ties.
    valid = np.ones(len(conf), dtype=bool)
    if len(conf) > 1:
        valid[:-1] = conf[:-1] > conf[1:]
    eps: NDArray[np.float64] | float = label_noise
    if object_noise is not None:
        eps = np.minimum(subset_noise(np.clip(object_noise[order], 0.0, MAX_OBJECT_NOISE)), MAX_SET_NOISE)
    if earlier is not None and len(earlier) and earlier.lower is not None:
        # Earlier machine labels count at their certified bound, with the share of the pool their draws
        # stand for; the candidate set at its own bound. Either misses at most as often as the two miss
        # rates added up, and when both hold their weighted mean bounds every machine label of the job.
        w_sum = float(earlier.weight.sum())
        own = noisy_lower_bound(k, n, level, eps, n_classes)
        lower = (w_sum * earlier.lower + n * own) / (w_sum + n)
    elif earlier is not None and len(earlier):
        # Earlier machine labels join every candidate set (module docstring): a weighted agreement, its
        # weighted label noise, and Kish's effective sample size in place of the count.
        w = earlier.weight
        total = w.sum() + n
        rate = (float(w @ earlier.agree) + k) / total
        running = np.broadcast_to(np.asarray(eps, dtype=np.float64), n.shape) * n
        eps = np.minimum(
            (float(w @ np.clip(earlier.noise, 0.0, MAX_OBJECT_NOISE)) + running) / total, MAX_SET_NOISE
        )
        n_eff = total**2 / (float(w @ w) + n)
        lower = noisy_lower_bound(rate * n_eff, n_eff, level, eps, n_classes)
    else:
        lower = noisy_lower_bound(k, n, level, eps, n_classes)
    return conf, k, n, valid, lower


def _cut(curve: _Curve, target: float) -> tuple[float, int, int, float] | None:
    """(threshold, correct, n, lower bound) of the largest top-confidence set of `curve` whose bound clears
    `target` (None: none does)."""
    conf, k, n, valid, lower = curve
    ok = np.flatnonzero(valid & (lower >= target))
    if len(ok) == 0:
        return None
    i = int(ok[-1])  # the largest accepted set = the lowest threshold
    return float(conf[i]), int(k[i]), int(n[i]), float(lower[i])


def _best(curve: _Curve) -> tuple[float, int]:
    """The highest lower bound any threshold of `curve` reaches and its set's size ((0.0, 0) when empty)."""
    _, _, n, valid, lower = curve
    if not len(n):
        return 0.0, 0
    scores = np.where(valid, lower, -np.inf)
    i = int(np.argmax(scores))
    return float(max(0.0, scores[i])), int(n[i])


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
    object_noise: NDArray[np.floating] | None = None,
) -> list[ClassThreshold]:
    """One ClassThreshold per class from validation predictions (class, confidence) and human labels.
    `object_noise`: each human label's own error rate (see the module docstring), instead of `label_noise`."""
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    eps = None if object_noise is None else np.asarray(object_noise, dtype=np.float64)
    _check(target_accuracy, confidence_level, predicted, confidence, truth, *(() if eps is None else (eps,)))
    out: list[ClassThreshold] = []
    for c in range(n_classes):
        mask = predicted == c
        curve = _bound_curve(
            confidence[mask],
            (truth[mask] == c).astype(np.int64),
            confidence_level,
            label_noise,
            n_classes,
            None if eps is None else eps[mask],
        )
        cut = _cut(curve, target_accuracy)
        if cut is None:
            out.append(ClassThreshold(c, None, 0, 0.0, 0.0))
        else:
            threshold, k, n, lower = cut
            out.append(ClassThreshold(c, threshold, n, k / n, lower))
    return out


def pooled_certification(
    predicted: NDArray[np.integer],
    confidence: NDArray[np.floating],
    truth: NDArray[np.integer],
    n_classes: int,
    *,
    target_accuracy: float = 0.95,
    confidence_level: float = 0.95,
    label_noise: float = 0.0,
    object_noise: NDArray[np.floating] | None = None,
    earlier: EarlierCertified | None = None,
) -> tuple[list[ClassThreshold], tuple[float, int]]:
    """One threshold shared by every class, bounding the accuracy of *all* above-threshold predictions, and
    the highest bound any such threshold reached with its set's size (how close a model that certified
    nothing came to the target; (0.0, 0) without predictions).

    Per-class bounds need about 59 all-correct validation predictions per class to clear 0.95 at 95%
    confidence; with many classes and a small validation set no class ever qualifies. Pooling bounds the
    overall accuracy of the machine labels instead (what a requester's target is about), with every class's
    validation predictions counting towards one bound. `lower_bound` is the pooled bound for every class.
    `object_noise`: each human label's own error rate (see the module docstring), instead of `label_noise`.
    `earlier`: the draws inside earlier versions' machine-labeled sets; the bound (`lower_bound`) is then that
    of every machine label of the job, earlier ones and this threshold's together.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.int64)
    eps = None if object_noise is None else np.asarray(object_noise, dtype=np.float64)
    _check(target_accuracy, confidence_level, predicted, confidence, truth, *(() if eps is None else (eps,)))
    curve = _bound_curve(
        confidence,
        (predicted == truth).astype(np.int64),
        confidence_level,
        label_noise,
        n_classes,
        eps,
        earlier,
    )
    best, cut = _best(curve), _cut(curve, target_accuracy)
    if cut is None:
        return [ClassThreshold(c, None, 0, 0.0, 0.0) for c in range(n_classes)], best
    threshold, _, _, lower = cut
    out = []
    for c in range(n_classes):
        above = (predicted == c) & (confidence >= threshold)
        n = int(above.sum())
        acc = float((truth[above] == c).mean()) if n else 0.0
        out.append(ClassThreshold(c, threshold, n, acc, lower))
    return out, best


def auto_label_mask(
    predicted: NDArray[np.integer],
    confidence: NDArray[np.floating],
    thresholds: list[ClassThreshold],
    max_share: float = 1.0,
) -> NDArray[np.bool_]:
    """Which predictions clear their class's threshold (classes without one never do), at most the
    `max_share` of them all that are most confident.

    `max_share`: the share of the certification draws above the thresholds, when the network that scores
    is not the one whose held-out predictions certified (cross-fitting keeps a network trained on every
    label, sharper than the folds: the same threshold would take a larger, less accurate part of the pool
    than the part of the draws it was certified on; seen: draws 99-100 % right, the set 94-96 %). The draws
    are a uniform sample of the pool, so the certified set's share of them is the share of the pool it
    stands for; the kept network's most confident objects of that share are at least as accurate when it
    ranks at least as well as the folds."""
    cut = np.array([np.inf if t.threshold is None else t.threshold for t in thresholds], dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    auto = confidence >= cut[predicted]
    most = int(np.floor(max(0.0, max_share) * len(confidence) + 1e-9))
    if auto.sum() > most:
        ranked = np.flatnonzero(auto)[np.argsort(-confidence[auto], kind="stable")]
        auto = np.zeros_like(auto)
        auto[ranked[:most]] = True
    return auto
