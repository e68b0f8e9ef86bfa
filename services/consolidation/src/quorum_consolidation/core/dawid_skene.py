"""Dawid-Skene: one confusion matrix per worker, fitted by (MAP) EM."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Self

import numpy as np

from quorum_consolidation.core._sparse import (
    EPS,
    AnswerMatrix,
    Clamp,
    EMResult,
    MStep,
    column_sums,
    confusion_em,
    normalize_rows,
    row_softmax_,
    vote_shares,
)
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.side_info import ConfusionPrior, KnownLabels

_DTYPES: dict[str, type[np.floating]] = {"float64": np.float64, "float32": np.float32}
#: From this many answers on, dtype="auto" computes the per-answer products in float32.
FLOAT32_FROM = 200_000

#: Fixed-point steps of the population matrix per M-step.
_POPULATION_STEPS = 3

DType = Literal["auto", "float64", "float32"]


def resolve_dtype(name: str, n_answers: int) -> type[np.floating]:
    """The float type for `name` ("auto": float64 for small jobs, float32 from `FLOAT32_FROM` answers)."""
    if name == "auto":
        return np.float32 if n_answers >= FLOAT32_FROM else np.float64
    return _DTYPES[name]


def _check_common(n_iter: int, tol: float, dtype: str) -> None:
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if dtype != "auto" and dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'auto', 'float32' or 'float64', got {dtype!r}")


def _empty(aggregator: BaseClassificationAggregator, k: int) -> None:
    aggregator.labels_ = np.zeros(0, dtype=np.int64)
    aggregator.probas_ = np.zeros((0, k), dtype=np.float64)


def _clamp(known: KnownLabels | None) -> Clamp | None:
    return None if known is None or known.objects.shape[0] == 0 else Clamp(known.objects, known.classes)


def _spam_form_t(ct: np.ndarray) -> np.ndarray:
    """`spam_form` in the worker-last layout ``[K_true, K_answer, W]`` (contiguous over workers, where numpy's
    reductions over the class axes are fast)."""
    k = ct.shape[0]
    idx = np.arange(k)
    diag = ct[idx, idx, :]  # [l, W]
    off_by_label = ct.sum(axis=0) - diag  # [l, W] off-diagonal mass per answered label
    row_mass = ct.sum(axis=1)  # [c, W] expected answers whose truth is c
    exposure = row_mass.sum(axis=0) - row_mass  # [l, W] ... whose truth is not l
    xi = (off_by_label + 0.5) / (exposure + 0.5 * k)
    xi /= xi.sum(axis=0)
    expected_off = (row_mass * (1.0 - xi)).sum(axis=0)  # off-diagonal mass if theta were 1
    theta = np.clip((off_by_label.sum(axis=0) + 0.5) / (expected_off + 1.0), 1e-3, 1 - 1e-3)
    out = np.empty(ct.shape)
    out[:] = (theta * xi)[None]
    out[idx, idx, :] += 1.0 - theta
    return out


def spam_form(counts: np.ndarray) -> np.ndarray:
    """Per worker, the MACE-form confusion matrix ``(1 - theta) I + theta 1 xi^T`` fitted to expected counts.

    `counts` is ``[W, K, K]`` (row = true class). Under that form an off-diagonal cell (c, l) has
    expectation ``n_c theta xi_l``, so ``theta xi_l`` is column l's off-diagonal mass over the answers whose
    truth is not l (a moment estimate, with half a pseudo-count of smoothing). Returns ``[W, K, K]`` with
    rows summing to 1.
    """
    return _spam_form_t(np.ascontiguousarray(counts.transpose(1, 2, 0))).transpose(2, 0, 1)


@dataclass
class DawidSkene(BaseClassificationAggregator):
    r"""Dawid-Skene with (hierarchical) Dirichlet priors, fitted by MAP EM (Dawid & Skene 1979).

    Model, for objects i, workers w and K classes: the true class :math:`z_i \sim \mathrm{Cat}(p)`; worker
    w's answer on i is :math:`y_{iw} \mid z_i = c \sim \mathrm{Cat}(\pi_w[c, :])`, independently given
    :math:`z_i`, where :math:`\pi_w` is the worker's K x K confusion matrix (row = true class). Priors:
    :math:`p \sim \mathrm{Dir}(1 + a_p)` and each confusion row

    .. math:: \pi_w[c, :] \sim \mathrm{Dir}\big(1 + a + d\,e_c + s\,\bar\pi[c, :] + u\,\tilde\pi_w[c, :]
              + h_w[c, :]\big)

    with `confusion_prior` a, `diagonal_prior` d, `population_prior` s, `spam_prior` u and `h_w` the
    worker's counts from earlier jobs (`ConfusionPrior`). Two of these are hierarchical (their means are
    re-estimated from the data every M-step, an empirical-Bayes fixed point):

    * :math:`\bar\pi`, the population's confusion matrix: the mean of the workers' posterior-mean matrices
      (`population_weighting="worker"`; every worker counts once, so a few prolific workers do not define
      the crowd) or the pooled counts (``"answer"``). Workers with few answers stay close to it.
    * :math:`\tilde\pi_w`, the worker's own matrix restricted to MACE's form (Hovy et al. 2013): right with
      probability :math:`1-\theta_w`, else an answer drawn from a personal distribution :math:`\xi_w`
      regardless of the truth (`spam_form`). Large u turns Dawid-Skene into MACE; it needs K + 1
      parameters per worker instead of K(K-1), which is what sparse workers with many classes can support.

    EM (MAP): E-step :math:`T_{ic} \propto p_c \prod_w \pi_w[c, y_{iw}]` in log space, one sparse product;
    M-step :math:`\pi_w[c, l] \propto \max(N_w[c, l] + \text{pseudo-counts}, 10^{-10})` with the expected
    counts :math:`N_w[c, l] = \sum_{i: y_{iw} = l} T_{ic}`, and :math:`p_c \propto \sum_i T_{ic} + a_p`.
    Initialisation: majority-vote shares. Stops after `n_iter` E-steps, or when one improves the log
    posterior (log-likelihood plus log prior density, per answer) by less than `tol`.

    With all priors 0 (the default) this is crowd-kit 1.4.2's ``DawidSkene``: same initialisation, updates
    and clipping, so the same predictions for the same number of iterations (crowd-kit stops on its ELBO
    instead, which can stop at another iteration).

    A. P. Dawid and A. M. Skene. Maximum likelihood estimation of observer error-rates using the EM
    algorithm. Journal of the Royal Statistical Society, Series C 28(1), 20-28, 1979.
    https://doi.org/10.2307/2346806

    `fit` optionally takes `known` (known-answer objects: their posteriors are clamped to the known class in
    every E-step) and `prior` (confusion counts from earlier jobs, added as pseudo-counts).
    """

    n_iter: int = 100
    """Maximum number of EM iterations (E-steps)."""
    tol: float = 1e-5
    """Stop when the log posterior per answer improves by less than this."""
    confusion_prior: float = 0.0
    """a: pseudo-count added to every confusion cell (symmetric Dirichlet)."""
    diagonal_prior: float = 0.0
    """d: extra pseudo-count on each diagonal cell (a belief that workers beat chance)."""
    population_prior: float = 0.0
    """s: pseudo-counts per row shrinking every worker toward the population's confusion matrix."""
    spam_prior: float = 0.0
    """u: pseudo-counts per row shrinking every worker toward their own MACE-form matrix."""
    class_prior: float = 0.0
    """a_p: pseudo-count added to every class of the class prior."""
    population_weighting: Literal["worker", "answer"] = "worker"
    """How the population matrix averages workers: each worker once, or each answer once."""
    anchor_known: bool = True
    """With known answers, also run EM from a start estimated on them; keep the better run (see `run`)."""
    dtype: DType = "auto"
    """Float type of the per-answer products: float32 is ~1.3x faster with ~1e-6 relative error in the
    posteriors; "auto" uses it from 200,000 answers on."""

    confusions_: np.ndarray | None = field(init=False, default=None, repr=False)
    """``[n_workers, K, K]``: ``confusions_[w, c, l] = P(worker w answers l | true class c)``."""
    priors_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Class prior ``[K]``."""
    population_: np.ndarray | None = field(init=False, default=None, repr=False)
    """The population confusion matrix ``[K, K]`` (when `population_prior` > 0)."""
    loss_history_: list[float] = field(init=False, default_factory=list, repr=False)
    """Log posterior per answer after each E-step."""
    n_iter_: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        _check_common(self.n_iter, self.tol, self.dtype)
        for name in ("confusion_prior", "diagonal_prior", "population_prior", "spam_prior", "class_prior"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.population_weighting not in ("worker", "answer"):
            raise ValueError(
                f"population_weighting must be 'worker' or 'answer', got {self.population_weighting!r}"
            )

    def make_m_step(self, k: int, extra: np.ndarray | None = None) -> tuple[MStep, dict[str, np.ndarray]]:
        """The M-step for K classes (plus fixed pseudo-counts `extra` ``[W, K, K]``) and its state.

        Works in the worker-last layout ``[K_true, K_answer, W]``: with thousands of workers and K small this
        is several times faster than ``[W, K, K]`` (numpy reduces short inner axes slowly).
        """
        fixed = (np.full((k, k), self.confusion_prior) + self.diagonal_prior * np.eye(k))[:, :, None]
        if extra is not None:
            fixed = fixed + np.ascontiguousarray(extra.transpose(1, 2, 0))
        s, u, a_p = self.population_prior, self.spam_prior, self.class_prior
        by_worker = self.population_weighting == "worker"
        state = {"population": np.full((k, k), 1.0 / k)}

        def m_step(counts: np.ndarray, probas: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
            ct = np.ascontiguousarray(counts.transpose(1, 2, 0))  # [c, l, W]
            pseudo = fixed
            if s > 0:
                if by_worker:
                    # The population matrix is a fixed point of "mean of the workers' posterior means under
                    # it"; iterating that here (W*K*K work) keeps EM from crawling toward it over iterations.
                    population = state["population"]
                    for _ in range(_POPULATION_STEPS):
                        post = ct + s * population[:, :, None]
                        post *= 1.0 / post.sum(axis=1, keepdims=True)
                        population = post.mean(axis=2)
                else:
                    population = normalize_rows(ct.sum(axis=2) + 1.0 / k)
                state["population"] = population
                pseudo = pseudo + s * population[:, :, None]
            if u > 0:
                pseudo = pseudo + u * _spam_form_t(ct)
            conf = ct + pseudo
            np.maximum(conf, EPS, out=conf)
            conf *= 1.0 / conf.sum(axis=1, keepdims=True)
            log_conf = np.log(conf, out=conf)
            mass = column_sums(probas)
            log_prior = np.log(np.maximum((mass + a_p) / (mass.sum() + k * a_p), EPS))
            penalty = 0.0
            if pseudo.any():
                penalty += float((pseudo * log_conf).sum())
            if a_p > 0:
                penalty += a_p * float(log_prior.sum())
            return log_conf.transpose(2, 0, 1), log_prior, penalty

        return m_step, state

    def run(
        self,
        matrix: AnswerMatrix,
        known: KnownLabels | None = None,
        extra: np.ndarray | None = None,
        init: np.ndarray | None = None,
    ) -> tuple[EMResult, np.ndarray | None]:
        """EM on prepared answers (from posteriors `init`, default majority-vote shares); returns the result
        and the population matrix (if any).

        With known answers and `anchor_known`, EM also runs from a start anchored on them (confusion matrices
        estimated from the known objects alone, with one pseudo-count per cell and one more on the diagonal)
        and the run with the higher final objective is kept: majority vote can start EM in a mirrored mode
        (adversarial or constant workers) that clamping a few known objects does not leave.
        """
        clamp = _clamp(known)
        m_step, state = self.make_m_step(matrix.n_classes, extra)
        start = vote_shares(matrix) if init is None else init
        result = confusion_em(matrix, m_step, start, self.n_iter, self.tol, clamp)
        population = state["population"] if self.population_prior > 0 else None
        if clamp is None or not self.anchor_known or init is not None:
            return result, population
        k = matrix.n_classes
        seed = np.zeros((matrix.n_objects, k))
        clamp.apply_(seed)
        counts = matrix.counts(seed) + 1.0 + np.eye(k)[None]
        anchored = matrix.logits(np.log(counts / counts.sum(axis=2, keepdims=True)), np.full(k, -np.log(k)))
        row_softmax_(anchored)
        m_step2, state2 = self.make_m_step(k, extra)
        other = confusion_em(matrix, m_step2, anchored, self.n_iter, self.tol, clamp)
        if other.loss_history[-1] > result.loss_history[-1]:
            return other, state2["population"] if self.population_prior > 0 else None
        return result, population

    def fit(
        self, answers: Answers, known: KnownLabels | None = None, prior: ConfusionPrior | None = None
    ) -> Self:
        """Fit on `answers`; `known` clamps known-answer objects, `prior` adds earlier jobs' counts."""
        k = answers.n_classes
        if answers.n_answers == 0:
            _empty(self, k)
            self.confusions_, self.priors_, self.population_ = None, None, None
            self.loss_history_, self.n_iter_ = [], 0
            return self
        matrix = AnswerMatrix.build(answers, dtype=resolve_dtype(self.dtype, answers.n_answers))
        result, population = self.run(matrix, known, None if prior is None else prior.align(answers))
        self.probas_ = result.probas
        self.labels_ = np.argmax(result.probas, axis=1).astype(np.int64)
        self.confusions_ = np.exp(result.log_confusions)
        self.priors_ = np.exp(result.log_prior)
        self.population_ = population
        self.loss_history_ = result.loss_history
        self.n_iter_ = result.n_iter
        return self
