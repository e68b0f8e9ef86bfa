"""Measuring and correcting the calibration of top-label confidences.

`expected_calibration_error` and `reliability_bins` measure it (top-label ECE with equal-width bins, the
measure the benchmarks report); `TopLabelCalibrator` corrects it from objects whose true class is known
(known-answer objects): a one-feature Platt map on the log-odds of the top label, shrunk toward the identity
so that a few dozen known objects are enough and none at all change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np

#: Bins of the reported ECE (equal width over [0, 1]; a confidence of exactly 1 falls in the last bin).
ECE_BINS = 15

#: Log-odds are clipped here: a posterior of 1 - 1e-12 carries no more information than one of 1 - 6e-6.
_MAX_LOGIT = 12.0


def reliability_bins(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin: count, mean confidence and accuracy (`nan` for empty bins)."""
    which = np.minimum((np.asarray(confidence) * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    right = np.bincount(which, weights=np.asarray(correct, dtype=np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return count, conf_sum / count, right / count


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: the count-weighted mean gap between confidence and accuracy over `bins` equal-width bins
    (`nan` without predictions)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.shape[0] == 0:
        return float("nan")
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    right = np.bincount(which, weights=np.asarray(correct, dtype=np.float64), minlength=bins)
    return float(np.abs(conf_sum - right).sum() / confidence.shape[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for any z, numpy only


def top_label_log_odds(probas: np.ndarray) -> np.ndarray:
    """log(p_top / (1 - p_top)) per row, clipped to +-12."""
    lo = float(_sigmoid(np.array(-_MAX_LOGIT)))
    top = np.clip(probas.max(axis=1), lo, 1.0 - lo)
    return np.clip(np.log(top) - np.log1p(-top), -_MAX_LOGIT, _MAX_LOGIT)


@dataclass
class TopLabelCalibrator:
    """Platt scaling of the top label's log-odds, fitted on known-answer objects.

    The map is ``p' = sigmoid(slope * logit(p_top) + intercept)``, fitted by maximum likelihood on whether
    each known object's predicted class was right, with a ridge penalty
    ``ridge * ((slope - 1)^2 + intercept^2)`` toward the identity: with few known objects it moves only as
    far as they give evidence for. The other classes keep their proportions; the top class stays the top
    class (never relabels an object).
    """

    ridge: float = 1.0
    slope_: float = field(init=False, default=1.0)
    intercept_: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.ridge) and self.ridge > 0):
            raise ValueError(f"ridge must be a finite number > 0, got {self.ridge}")

    def fit(self, probas: np.ndarray, correct: np.ndarray) -> Self:
        """`probas` [n, K] of the known objects as the model sees them without their known label; `correct`
        [n] whether their argmax is the known class."""
        from scipy.optimize import minimize  # noqa: PLC0415 - on use: the CLI's fast paths never fit one

        x = top_label_log_odds(probas)
        y = np.asarray(correct, dtype=np.float64)
        ridge = self.ridge

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = w[0] * x + w[1]
            # -log-likelihood of Bernoulli(sigmoid(z)) and its gradient, stable for large |z|
            nll = float((y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z)).sum())
            r = _sigmoid(z) - y
            grad = np.array([(r * x).sum(), r.sum()])
            pen = ridge * ((w[0] - 1.0) ** 2 + w[1] ** 2)
            return nll + pen, grad + 2.0 * ridge * np.array([w[0] - 1.0, w[1]])

        result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        self.slope_, self.intercept_ = float(result.x[0]), float(result.x[1])
        return self

    def transform(self, probas: np.ndarray) -> np.ndarray:
        """Calibrated copy of `probas` (rows sum to 1, same argmax)."""
        probas = np.asarray(probas, dtype=np.float64)
        if probas.shape[0] == 0:
            return probas.copy()
        rows = np.arange(probas.shape[0])
        top_idx = probas.argmax(axis=1)
        top = probas[rows, top_idx]
        new_top = _sigmoid(self.slope_ * top_label_log_odds(probas) + self.intercept_)
        rest = 1.0 - top
        others = probas.copy()
        others[rows, top_idx] = 0.0
        runner_up = others.max(axis=1)
        # Keep the argmax: the top class must stay >= the largest other class after rescaling them.
        k = probas.shape[1]
        floor = np.where(rest > 1e-12, runner_up / np.maximum(rest + runner_up, 1e-300), 1.0 / k)
        new_top = np.maximum(new_top, np.minimum(floor * (1.0 + 1e-9), 1.0))  # strictly above: no ties
        scale = np.where(rest > 1e-12, (1.0 - new_top) / np.maximum(rest, 1e-300), 0.0)
        out = others * scale[:, None]
        # A top of exactly 1 has no other mass to rescale: spread the freed mass evenly.
        flat = rest <= 1e-12
        if flat.any():
            out[flat] = ((1.0 - new_top[flat]) / (k - 1))[:, None]
        out[rows, top_idx] = new_top
        return out / out.sum(axis=1, keepdims=True)


#: The most `answer_correlation` reports: the worker model that carries it needs rho < 1.
MAX_CORRELATION = 0.99


def answer_correlation(
    objects: np.ndarray,
    workers: np.ndarray,
    classes: np.ndarray,
    probas: np.ndarray,
    confusions: np.ndarray,
    min_pairs: int = 200,
) -> tuple[float, int]:
    r"""How much more often two answers to one object agree than a fitted model of independent answers
    says: the intra-object correlation :math:`\rho` of the answers, and the number of answer pairs used.

    ``objects`` (sorted, every object in ``[0, n)`` with at least one answer), ``workers`` and ``classes`` are
    the answers; ``probas`` ``[n, K]`` the model's posteriors; ``confusions`` ``[n_workers, K, K]`` its
    ``P(worker answers l | class c)``. Over all ordered pairs of answers (w, v) to one object, the observed
    agreement rate :math:`A = \overline{1[y_w = y_v]}` against the model's
    :math:`\hat A = \overline{\sum_c p_{ic} \sum_l \pi_w(c, l)\,\pi_v(c, l)}` (answers independent given the
    class). If each object's answers are drawn around its class's distribution with intra-object correlation
    :math:`\rho` (a Dirichlet-multinomial), :math:`A = \hat A + \rho\,(1 - \hat A)`, hence
    :math:`\rho = (A - \hat A) / (1 - \hat A)`, clipped to [0, MAX_CORRELATION] (answers that always agree,
    e.g. every worker giving every object one class, reach 1, which would make an object's answers count as
    one whatever their number); 0 below `min_pairs` pairs (too little to tell). Cost: K gathers and reductions
    over the answers (no loop over objects or answers).
    """
    m = objects.shape[0]
    if m < 2:
        return 0.0, 0
    n, k = probas.shape
    starts = np.flatnonzero(np.concatenate([[True], objects[1:] != objects[:-1]]))
    per = np.diff(np.append(starts, m)).astype(np.float64)
    present = objects[starts]
    pairs = float((per * (per - 1.0)).sum())
    if pairs < min_pairs:
        return 0.0, int(pairs)
    votes = np.bincount(objects * k + classes, minlength=n * k).astype(np.float64)
    observed = ((votes * votes).sum() - m) / pairs
    expected = 0.0
    post = probas[present]
    for c in range(k):
        rows = confusions[workers, c, :].astype(np.float64)  # [m, K]: pi_w(c, l)
        summed = np.add.reduceat(rows, starts, axis=0)  # [objects, K]
        squares = np.add.reduceat(rows * rows, starts, axis=0)
        expected += float((post[:, c] * (summed * summed - squares).sum(axis=1)).sum())
    expected /= pairs
    if expected >= 1.0:
        return 0.0, int(pairs)
    return float(min(max((observed - expected) / (1.0 - expected), 0.0), MAX_CORRELATION)), int(pairs)
