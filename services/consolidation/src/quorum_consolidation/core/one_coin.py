"""One-coin Dawid-Skene: one accuracy per worker, errors spread evenly over the other classes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np

from quorum_consolidation.core._sparse import (
    EPS,
    AnswerMatrix,
    Clamp,
    EMResult,
    column_sums,
    confusion_em,
    vote_shares,
)
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.dawid_skene import DType, _check_common, _empty, resolve_dtype
from quorum_consolidation.core.side_info import KnownLabels


@dataclass
class OneCoinDawidSkene(BaseClassificationAggregator):
    r"""Dawid-Skene with one parameter per worker (the "one-coin" model), fitted by MAP EM.

    Model: :math:`z_i \sim \mathrm{Cat}(p)`; worker w is right with probability :math:`s_w` and otherwise
    answers one of the K-1 wrong classes uniformly at random, i.e. the confusion matrix
    :math:`\pi_w[c, l] = s_w` if :math:`l = c`, :math:`(1 - s_w)/(K-1)` otherwise. Prior
    :math:`s_w \sim \mathrm{Beta}(1 + a, 1 + b)` (`correct_prior` a, `wrong_prior` b; 0 = maximum likelihood).

    EM: the E-step is Dawid-Skene's; the M-step sets
    :math:`s_w = (\sum_{i} T_{i, y_{iw}} + a) / (n_w + a + b)` (the expected share of w's answers that are
    right), clipped to :math:`[10^{-10}, 1 - 10^{-10}]`, and :math:`p_c \propto \sum_i T_{ic}`.
    Initialisation from majority-vote shares, as crowd-kit 1.4.2's ``OneCoinDawidSkene`` (which this matches
    with the default priors of 0).

    Y. Zhang, X. Chen, D. Zhou and M. I. Jordan. Spectral methods meet EM: a provably optimal algorithm for
    crowdsourcing. Journal of Machine Learning Research 17(102), 1-44, 2016.
    https://jmlr.org/papers/v17/14-511.html
    """

    n_iter: int = 100
    tol: float = 1e-5
    correct_prior: float = 0.0
    """Pseudo-count of right answers per worker."""
    wrong_prior: float = 0.0
    """Pseudo-count of wrong answers per worker."""
    dtype: DType = "auto"

    skills_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Per-worker accuracy :math:`s_w`, ``[n_workers]``."""
    priors_: np.ndarray | None = field(init=False, default=None, repr=False)
    loss_history_: list[float] = field(init=False, default_factory=list, repr=False)
    n_iter_: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        _check_common(self.n_iter, self.tol, self.dtype)
        for name in ("correct_prior", "wrong_prior"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")

    def run(self, matrix: AnswerMatrix, known: KnownLabels | None = None) -> EMResult:
        k = matrix.n_classes
        a, b = self.correct_prior, self.wrong_prior
        eye = np.eye(k, dtype=bool)

        def m_step(counts: np.ndarray, probas: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
            right = np.trace(counts, axis1=1, axis2=2)
            total = counts.sum(axis=(1, 2))
            skill = np.clip((right + a) / np.maximum(total + a + b, EPS), EPS, 1 - EPS)
            wrong = np.clip((1.0 - skill) / (k - 1), EPS, 1 - EPS)
            conf = np.where(eye[None], skill[:, None, None], wrong[:, None, None])
            mass = column_sums(probas)
            prior = np.maximum(mass / mass.sum(), EPS)
            penalty = float(a * np.log(skill).sum() + b * np.log1p(-skill).sum()) if a or b else 0.0
            return np.log(conf), np.log(prior), penalty

        clamp = None if known is None or known.objects.shape[0] == 0 else Clamp(known.objects, known.classes)
        return confusion_em(matrix, m_step, vote_shares(matrix), self.n_iter, self.tol, clamp)

    def fit(self, answers: Answers, known: KnownLabels | None = None) -> Self:
        k = answers.n_classes
        if answers.n_answers == 0:
            _empty(self, k)
            self.skills_, self.priors_, self.loss_history_, self.n_iter_ = None, None, [], 0
            return self
        dtype = resolve_dtype(self.dtype, answers.n_answers)
        result = self.run(AnswerMatrix.build(answers, dtype=dtype), known)
        self.probas_ = result.probas
        self.labels_ = np.argmax(result.probas, axis=1).astype(np.int64)
        self.skills_ = np.exp(result.log_confusions[:, 0, 0])
        self.priors_ = np.exp(result.log_prior)
        self.loss_history_ = result.loss_history
        self.n_iter_ = result.n_iter
        return self

    @property
    def confusions_(self) -> np.ndarray | None:
        """The implied ``[n_workers, K, K]`` confusion matrices (row = true class)."""
        if self.skills_ is None or self.priors_ is None:
            return None
        k = self.priors_.shape[0]
        wrong = (1.0 - self.skills_) / (k - 1)
        return np.where(np.eye(k, dtype=bool)[None], self.skills_[:, None, None], wrong[:, None, None])
