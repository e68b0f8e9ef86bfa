"""MACE: each worker either knows the answer or spams from a personal label distribution."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Self

import numpy as np
from scipy.special import digamma

from quorum_consolidation.core._sparse import AnswerMatrix, Clamp, EMResult, confusion_em, row_softmax_
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.dawid_skene import DType, _check_common, _empty, resolve_dtype
from quorum_consolidation.core.side_info import KnownLabels


@dataclass
class MACE(BaseClassificationAggregator):
    r"""MACE (Multi-Annotator Competence Estimation; Hovy et al. 2013), by variational Bayes or EM.

    Model: :math:`z_i` uniform over K classes; for each answer, worker w spams with probability
    :math:`\theta_w` (``spamming_[w]``) and then answers :math:`l \sim \mathrm{Cat}(\xi_w)`
    (``strategies_[w]``), else answers the true class. So w's confusion matrix is
    :math:`\pi_w[c, l] = (1 - \theta_w)[l = c] + \theta_w \xi_w[l]`, and the E-step is Dawid-Skene's.
    Priors (``method="vb"``): :math:`\theta_w \sim \mathrm{Beta}(\alpha, \beta)`,
    :math:`\xi_w \sim \mathrm{Dir}(\gamma)`; the variational M-step uses :math:`\exp E[\log \cdot]`
    (digamma) of the posteriors. ``method="em"`` is maximum likelihood with additive smoothing 0.01/K. The
    M-step needs only Dawid-Skene's expected counts :math:`N_w[c, l]`: the expected number of w's answers l
    given while knowing is :math:`N_w[l, l] (1-\theta_w) / (1-\theta_w + \theta_w\xi_w[l])`, the rest are
    spam. `n_restarts` random initialisations (seeds ``seed, seed+1, ...``), keeping the one
    with the best log marginal likelihood (crowd-kit 1.4.2 reuses one seed for all its restarts).

    D. Hovy, T. Berg-Kirkpatrick, A. Vaswani and E. Hovy. Learning whom to trust with MACE. NAACL-HLT 2013,
    1120-1130. https://aclanthology.org/N13-1132
    """

    n_restarts: int = 10
    n_iter: int = 50
    tol: float = 1e-6
    method: Literal["vb", "em"] = "vb"
    smoothing: float | None = None
    """Additive smoothing of the EM M-step; None = 0.01 / K."""
    default_noise: float = 0.5
    """Spread of the random initial parameters."""
    alpha: float = 0.5
    """Beta prior pseudo-count on spamming."""
    beta: float = 0.5
    """Beta prior pseudo-count on knowing."""
    strategy_prior: float = 10.0
    """Dirichlet prior pseudo-count per class on the spam strategy."""
    seed: int = 0
    dtype: DType = "auto"

    spamming_: np.ndarray | None = field(init=False, default=None, repr=False)
    """:math:`\\theta_w`, probability that w spams, ``[n_workers]``."""
    strategies_: np.ndarray | None = field(init=False, default=None, repr=False)
    """:math:`\\xi_w`, ``[n_workers, K]``."""
    log_marginal_likelihood_: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        _check_common(self.n_iter, self.tol, self.dtype)
        if self.n_restarts < 1:
            raise ValueError(f"n_restarts must be >= 1, got {self.n_restarts}")
        if self.method not in ("vb", "em"):
            raise ValueError(f"method must be 'vb' or 'em', got {self.method!r}")
        for name in ("alpha", "beta", "strategy_prior"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.smoothing is not None and not self.smoothing >= 0:
            raise ValueError(f"smoothing must be >= 0, got {self.smoothing}")

    @staticmethod
    def _confusions(spam: np.ndarray, know: np.ndarray, strategy: np.ndarray) -> np.ndarray:
        k = strategy.shape[1]
        return (spam[:, None, None] * strategy[:, None, :]) + know[:, None, None] * np.eye(k)[None]

    def _m_step_params(self, counts: np.ndarray, spam: np.ndarray, know: np.ndarray, strategy: np.ndarray):  # noqa: ANN202
        k = counts.shape[1]
        given = counts.sum(axis=1)  # [W, K] answers l given
        diag = np.diagonal(counts, axis1=1, axis2=2)  # [W, K] answered l when truth is l
        p_know = know[:, None] / np.maximum(know[:, None] + spam[:, None] * strategy, 1e-300)
        knowing = (diag * p_know).sum(axis=1)
        spam_counts = np.maximum(given - diag * p_know, 0.0)
        spamming = spam_counts.sum(axis=1)
        if self.method == "vb":
            total = digamma(knowing + spamming + self.alpha + self.beta)
            new_spam = np.exp(digamma(spamming + self.alpha) - total)
            new_know = np.exp(digamma(knowing + self.beta) - total)
            strat_total = digamma(spamming + self.strategy_prior * k)
            new_strategy = np.exp(digamma(spam_counts + self.strategy_prior) - strat_total[:, None])
        else:
            sm = 0.01 / k if self.smoothing is None else self.smoothing
            pair = knowing + spamming + 2 * sm
            new_spam, new_know = (spamming + sm) / pair, (knowing + sm) / pair
            new_strategy = (spam_counts + sm) / (spam_counts + sm).sum(axis=1, keepdims=True)
        return new_spam, new_know, new_strategy

    def _restart(self, matrix: AnswerMatrix, seed: int, clamp: Clamp | None) -> tuple[EMResult, tuple]:
        w, k = matrix.n_workers, matrix.n_classes
        rng = np.random.default_rng(seed)
        pair = rng.uniform(1.0, 2.0 + self.default_noise, size=(w, 2))
        pair /= pair.sum(axis=1, keepdims=True)
        strat = rng.uniform(1.0, 2.0 + self.default_noise, size=(w, k))
        strat /= strat.sum(axis=1, keepdims=True)
        state = {"params": (pair[:, 0], pair[:, 1], strat)}
        log_uniform = np.full(k, -np.log(k))

        def m_step(counts: np.ndarray, probas: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
            params = self._m_step_params(counts, *state["params"])
            state["params"] = params
            return np.log(np.maximum(self._confusions(*params), 1e-300)), log_uniform, 0.0

        init = matrix.logits(np.log(self._confusions(*state["params"])), log_uniform)
        row_softmax_(init)
        if clamp is not None:
            clamp.apply_(init)
        result = confusion_em(matrix, m_step, init, self.n_iter, self.tol, clamp)
        return result, state["params"]

    def fit(self, answers: Answers, known: KnownLabels | None = None) -> Self:
        k = answers.n_classes
        if answers.n_answers == 0:
            _empty(self, k)
            self.spamming_, self.strategies_, self.log_marginal_likelihood_ = None, None, None
            return self
        matrix = AnswerMatrix.build(answers, dtype=resolve_dtype(self.dtype, answers.n_answers))
        clamp = None if known is None or known.objects.shape[0] == 0 else Clamp(known.objects, known.classes)
        best: tuple[float, EMResult, tuple] | None = None
        for r in range(self.n_restarts):
            result, params = self._restart(matrix, self.seed + r, clamp)
            score = result.loss_history[-1]
            if best is None or score > best[0]:
                best = (score, result, params)
        assert best is not None
        score, result, (spam, know, strategy) = best
        # The posteriors of the best run's last E-step; parameters as probabilities (VB's are sub-normalised).
        self.probas_ = result.probas
        self.labels_ = np.argmax(result.probas, axis=1).astype(np.int64)
        self.spamming_ = spam / (spam + know)
        self.strategies_ = strategy / strategy.sum(axis=1, keepdims=True)
        self.log_marginal_likelihood_ = score * matrix.n_answers
        return self

    @property
    def confusions_(self) -> np.ndarray | None:
        """The implied ``[n_workers, K, K]`` confusion matrices (row = true class)."""
        if self.spamming_ is None or self.strategies_ is None:
            return None
        return self._confusions(self.spamming_, 1.0 - self.spamming_, self.strategies_)
