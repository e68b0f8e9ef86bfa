"""Shared numerics of the confusion-matrix aggregators: the answers as sparse one-hot matrices, and EM.

Every model here whose answer likelihood is a per-worker confusion matrix
(:math:`P(y_{iw} = l \\mid z_i = c) = \\pi_w[c, l]`: Dawid-Skene, one-coin Dawid-Skene, MACE) has the same
E-step and the same sufficient statistics, and both are one sparse-times-dense product over the answers:

* with :math:`S` the ``n_objects x (n_workers * K)`` one-hot matrix of answers (row i, column ``w*K + l`` is
  1 when worker w answered l on object i), the E-step logits are
  :math:`\\log p_c + (S \\log\\Pi)_{ic}`, where :math:`\\log\\Pi` stacks :math:`\\log\\pi_w[c, l]` as rows
  ``w*K + l`` and columns c;
* the M-step's expected counts :math:`N_w[c, l] = \\sum_{i: y_{iw} = l} T_{ic}` are :math:`S^\\top T`.

Both cost O(n_answers * K) with no Python loop over answers or objects; the loop is over EM iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from quorum_consolidation.core.answers import Answers

#: Smallest probability a confusion cell or a class prior may take (crowd-kit's `_EPS`).
EPS = 1e-10


@dataclass(frozen=True, eq=False)
class AnswerMatrix:
    """The answers (or a subset of them) as one-hot sparse matrices, built once per fit.

    `by_object` is ``n_objects x (n_workers * K)`` CSR (one 1 per answer); `by_cell` is its transpose (a CSC
    view, no copy). Objects with no answer in the subset keep their row (all zeros).
    """

    n_objects: int
    n_workers: int
    n_classes: int
    objects: np.ndarray  # int64 [m] answers in the subset, sorted by object
    workers: np.ndarray  # int64 [m]
    classes: np.ndarray  # int64 [m]
    by_object: sp.csr_matrix
    by_cell: sp.csc_matrix = field(repr=False)

    @property
    def n_answers(self) -> int:
        return int(self.objects.shape[0])

    @classmethod
    def build(
        cls, answers: Answers, mask: np.ndarray | None = None, dtype: type[np.floating] = np.float64
    ) -> AnswerMatrix:
        """One-hot matrices of `answers` (of the answers where `mask` is true, when given)."""
        objects, workers, classes = answers.objects, answers.workers, answers.classes
        if mask is not None:
            objects, workers, classes = objects[mask], workers[mask], classes[mask]
        if objects.shape[0] > 1 and not bool(np.all(objects[1:] >= objects[:-1])):
            order = np.argsort(objects, kind="stable")
            objects, workers, classes = objects[order], workers[order], classes[order]
        n, k = answers.n_objects, answers.n_classes
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(objects, minlength=n), out=indptr[1:])
        cells = workers * k + classes
        by_object = sp.csr_matrix(
            (np.ones(cells.shape[0], dtype=dtype), cells, indptr), shape=(n, answers.n_workers * k)
        )
        return cls(n, answers.n_workers, k, objects, workers, classes, by_object, by_object.T)

    def logits(self, log_confusions: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
        """Unnormalised log posteriors ``[n_objects, K]`` from ``log pi[w, c, l]`` and ``log p[c]``."""
        k = self.n_classes
        stacked = np.ascontiguousarray(log_confusions.transpose(0, 2, 1).reshape(self.n_workers * k, k))
        out = np.asarray(self.by_object @ stacked.astype(self.by_object.dtype, copy=False))
        out += log_prior.astype(out.dtype, copy=False)
        return out

    def counts(self, probas: np.ndarray) -> np.ndarray:
        """Expected counts ``N[w, c, l] = sum over objects i answered l by w of probas[i, c]``, float64."""
        k = self.n_classes
        flat = np.asarray(self.by_cell @ probas.astype(self.by_cell.dtype, copy=False))
        return flat.reshape(self.n_workers, k, k).transpose(0, 2, 1).astype(np.float64)

    def answers_per_object(self) -> np.ndarray:
        return np.diff(self.by_object.indptr)

    def votes(self) -> np.ndarray:
        """Vote counts ``[n_objects, K]`` of the answers in the subset."""
        k = self.n_classes
        flat = np.bincount(self.objects * k + self.classes, minlength=self.n_objects * k)
        return flat.reshape(self.n_objects, k).astype(np.float64)


def row_softmax_(logits: np.ndarray) -> np.ndarray:
    """Turn each row of `logits` into a distribution in place; returns the rows' log-sum-exp (float64).

    Column loops instead of ``axis=1`` reductions: with K small they are several times faster.
    """
    k = logits.shape[1]
    top = logits[:, 0].copy()
    for c in range(1, k):
        np.maximum(top, logits[:, c], out=top)
    logits -= top[:, None]
    np.exp(logits, out=logits)
    total = logits[:, 0].copy()
    for c in range(1, k):
        total += logits[:, c]
    logits /= total[:, None]
    return np.log(total, dtype=np.float64) + top


def column_sums(probas: np.ndarray) -> np.ndarray:
    """``probas.sum(axis=0)`` in float64, by a loop over the K columns (10x faster than the axis-0 reduction
    of a tall array with few columns)."""
    return np.array([probas[:, c].sum(dtype=np.float64) for c in range(probas.shape[1])])


def vote_shares(matrix: AnswerMatrix) -> np.ndarray:
    """Majority vote as a distribution: each object's share of votes per class (crowd-kit's MV probas).

    Objects without answers get the uniform distribution.
    """
    votes = matrix.votes()
    total = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, total, out=np.full_like(votes, 1.0 / matrix.n_classes), where=total > 0)


def small_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """``x.sum(axis)`` for a short axis (K classes), as a loop of adds: numpy's reduction over a short
    axis is several times slower."""
    parts = np.moveaxis(x, axis, 0)
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def normalize_rows(counts: np.ndarray, floor: float = EPS) -> np.ndarray:
    """Clip at `floor` and normalise the last axis (crowd-kit's confusion-matrix M-step)."""
    clipped = np.maximum(counts, floor)
    clipped /= small_sum(clipped, -1)[..., None]
    return clipped


@dataclass(frozen=True)
class Clamp:
    """Objects whose true class is known: their posterior is set to one-hot after every E-step."""

    objects: np.ndarray  # int64 object indices
    classes: np.ndarray  # int64 class indices

    def apply_(self, probas: np.ndarray) -> None:
        if self.objects.shape[0]:
            probas[self.objects] = 0.0
            probas[self.objects, self.classes] = 1.0


#: An M-step: (expected counts [W, K, K], posteriors [N, K]) ->
#: (log pi [W, K, K], log p [K], log prior density).
MStep = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, float]]


@dataclass
class EMResult:
    probas: np.ndarray  # [n_objects, K] posteriors of the last E-step
    log_confusions: np.ndarray  # [W, K, K] after the last M-step
    log_prior: np.ndarray  # [K]
    loss_history: list[float]  # objective per answer after each E-step
    n_iter: int


def confusion_em(
    matrix: AnswerMatrix,
    m_step: MStep,
    init: np.ndarray,
    n_iter: int,
    tol: float,
    clamp: Clamp | None = None,
) -> EMResult:
    """EM for a confusion-matrix model (crowd-kit's order: M-step from `init`, then E/M until converged).

    The objective is the MAP one, ``log P(answers | params) + log prior density(params)``, per answer; it is
    computed for free by each E-step (the log normalisers). With fixed priors EM never decreases it; with
    hierarchical priors (means re-estimated in the M-step) it is the convergence monitor. The loop stops
    after `n_iter` E-steps or when one E-step improves the objective by less than `tol`.
    """
    probas = init.astype(matrix.by_object.dtype, copy=True)
    if clamp is not None:
        clamp.apply_(probas)
    log_conf, log_prior, penalty = m_step(matrix.counts(probas), probas)
    history: list[float] = []
    last = -np.inf
    per = max(matrix.n_answers, 1)
    done = 0
    for _ in range(n_iter):
        done += 1
        probas = matrix.logits(log_conf, log_prior)
        log_norm = row_softmax_(probas)
        if clamp is not None and clamp.objects.shape[0]:
            # A known object contributes log P(answers, z = gold) = log-normaliser + log posterior(gold).
            gold_p = probas[clamp.objects, clamp.classes].astype(np.float64)
            log_norm[clamp.objects] += np.log(np.maximum(gold_p, 1e-300))
            clamp.apply_(probas)
        loss = (float(log_norm.sum()) + penalty) / per
        history.append(loss)
        log_conf, log_prior, penalty = m_step(matrix.counts(probas), probas)
        if loss - last < tol:
            break
        last = loss
    return EMResult(probas.astype(np.float64), log_conf, log_prior, history, done)
