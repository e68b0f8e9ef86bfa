"""GLAD: worker ability times object easiness decides how often an answer is right."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np
from scipy.special import expit, log_expit

from quorum_consolidation.core._sparse import Clamp, row_softmax_
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.dawid_skene import _empty
from quorum_consolidation.core.side_info import KnownLabels


def glad_objective(
    x: np.ndarray,
    t: np.ndarray,
    obj: np.ndarray,
    wrk: np.ndarray,
    w: int,
    n: int,
    k: int,
    mu_a: float,
    mu_b: float,
) -> tuple[float, np.ndarray]:
    """Minus GLAD's M-step objective Q (with the Gaussian log priors, up to a constant) and its gradient, at
    ``x = [alpha (w), b (n)]`` with ``t[a] = T[obj[a], y_a]`` per answer."""
    alpha, b = x[:w], x[w:]
    beta = np.exp(b)
    xa = alpha[wrk] * beta[obj]
    log_k1 = np.log(k - 1)
    q = float((t * log_expit(xa) + (1.0 - t) * (log_expit(-xa) - log_k1)).sum())
    q -= 0.5 * float(((alpha - mu_a) ** 2).sum() + ((b - mu_b) ** 2).sum())
    resid = t - expit(xa)
    d_alpha = np.bincount(wrk, weights=resid * beta[obj], minlength=w) - (alpha - mu_a)
    d_b = np.bincount(obj, weights=resid * xa, minlength=n) - (b - mu_b)
    return -q, -np.concatenate([d_alpha, d_b])


@dataclass
class GLAD(BaseClassificationAggregator):
    r"""GLAD (Generative model of Labels, Abilities and Difficulties; Whitehill et al. 2009), by EM.

    Model: :math:`z_i \sim \mathrm{Cat}(p)` with a fixed prior p (uniform unless `class_prior` is given);
    worker w has ability :math:`\alpha_w \in \mathbb{R}`, object i easiness :math:`\beta_i = e^{b_i} > 0`, and
    w's answer on i is right with probability :math:`\sigma(\alpha_w \beta_i)`, otherwise uniformly one of the
    K-1 wrong classes. Priors :math:`\alpha_w \sim N(\mu_\alpha, 1)`, :math:`b_i \sim N(\mu_b, 1)`.

    E-step: :math:`\log T_{ic} = \log p_c + \sum_{w: y_{iw} = c} (\alpha_w\beta_i + \log(K-1))
    + \mathrm{const}_i` (one weighted bincount over the answers). M-step: maximise the expected complete
    log-likelihood :math:`Q = \sum_{(i,w)} t_{iw}\log\sigma(\alpha_w\beta_i)
    + (1-t_{iw})(\log(1-\sigma(\alpha_w\beta_i)) - \log(K-1))` plus the log priors, where
    :math:`t_{iw} = T_{i, y_{iw}}`, by conjugate gradients (`m_step_max_iter` steps) on its exact gradient,
    :math:`\partial Q/\partial\alpha_w = \sum_i (t_{iw} - \sigma_{iw})\beta_i - (\alpha_w - \mu_\alpha)` and
    :math:`\partial Q/\partial b_i = \sum_w (t_{iw} - \sigma_{iw})\alpha_w\beta_i - (b_i - \mu_b)`, both
    bincounts (`glad_objective`). Stops when Q per answer improves by less than `tol`. Defaults follow
    crowd-kit 1.4.2's ``GLAD``.

    J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma and J. Movellan. Whose vote should count more: optimal
    integration of labels from labelers of unknown expertise. NeurIPS 2009, 2035-2043.
    https://papers.nips.cc/paper/3644-whose-vote-should-count-more-optimal-integration-of-labels-from-labelers-of-unknown-expertise
    """

    n_iter: int = 100
    tol: float = 1e-5
    m_step_max_iter: int = 25
    m_step_tol: float = 1e-2
    alpha_prior_mean: float = 1.0
    beta_prior_mean: float = 1.0
    """Prior mean of :math:`b_i = \\log \\beta_i`."""
    class_prior: tuple[float, ...] | None = None

    alphas_: np.ndarray | None = field(init=False, default=None, repr=False)
    betas_: np.ndarray | None = field(init=False, default=None, repr=False)
    """:math:`\\beta_i = e^{b_i}` per object."""
    loss_history_: list[float] = field(init=False, default_factory=list, repr=False)
    n_iter_: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.n_iter < 1 or self.m_step_max_iter < 1:
            raise ValueError(
                f"n_iter and m_step_max_iter must be >= 1, got {self.n_iter}, {self.m_step_max_iter}"
            )
        if not self.tol >= 0 or not self.m_step_tol > 0:
            raise ValueError("tol must be >= 0 and m_step_tol > 0")
        if self.class_prior is not None:
            prior = np.asarray(self.class_prior, dtype=np.float64)
            if prior.ndim != 1 or (prior <= 0).any() or not np.isclose(prior.sum(), 1.0):
                raise ValueError("class_prior must be positive and sum to 1")

    def fit(self, answers: Answers, known: KnownLabels | None = None) -> Self:
        n, w, k = answers.n_objects, answers.n_workers, answers.n_classes
        if answers.n_answers == 0:
            _empty(self, k)
            self.alphas_, self.betas_, self.loss_history_, self.n_iter_ = None, None, [], 0
            return self
        if self.class_prior is not None and len(self.class_prior) != k:
            raise ValueError(f"class_prior has {len(self.class_prior)} entries, job has K={k}")
        obj, wrk, cls = answers.objects, answers.workers, answers.classes
        cell = obj * k + cls
        log_k1 = float(np.log(k - 1))
        log_prior = np.log(np.full(k, 1.0 / k) if self.class_prior is None else np.asarray(self.class_prior))
        clamp = None if known is None or known.objects.shape[0] == 0 else Clamp(known.objects, known.classes)
        mu_a, mu_b = self.alpha_prior_mean, self.beta_prior_mean
        m = answers.n_answers

        def e_step(alpha: np.ndarray, b: np.ndarray) -> np.ndarray:
            weight = alpha[wrk] * np.exp(b)[obj] + log_k1
            logits = np.bincount(cell, weights=weight, minlength=n * k).reshape(n, k) + log_prior
            row_softmax_(logits)
            if clamp is not None:
                clamp.apply_(logits)
            return logits

        def q_and_grad(x: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
            return glad_objective(x, t, obj, wrk, w, n, k, mu_a, mu_b)

        # Imported here: scipy.optimize costs ~0.2 s to import, which every `quorum consolidate` run (whatever
        # its method) would pay through the method registry.
        from scipy.optimize import minimize  # noqa: PLC0415

        x = np.concatenate([np.ones(w), np.ones(n)])
        probas = e_step(x[:w], x[w:])
        history: list[float] = []
        last = -np.inf
        done = 0
        for _ in range(self.n_iter):
            done += 1
            probas = e_step(x[:w], x[w:])
            t = probas[obj, cls]
            res = minimize(
                q_and_grad,
                x,
                args=(t,),
                jac=True,
                method="CG",
                tol=self.m_step_tol,
                options={"maxiter": self.m_step_max_iter},
            )
            x = res.x
            q = -float(res.fun) / m
            history.append(q)
            if q - last < self.tol:
                break
            last = q
        probas = e_step(x[:w], x[w:])
        self.probas_ = probas
        self.labels_ = np.argmax(probas, axis=1).astype(np.int64)
        self.alphas_, self.betas_ = x[:w], np.exp(x[w:])
        self.loss_history_, self.n_iter_ = history, done
        return self
