"""Majority vote with a one-coin confidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np

from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.base import BaseClassificationAggregator


@dataclass
class MajorityVote(BaseClassificationAggregator):
    r"""Per object, the class with the most votes; confidence from a symmetric one-coin model.

    With votes :math:`n_{ik}` for class k on object i, :math:`n_i = \sum_k n_{ik}` and K classes:

    * label :math:`l_i = \arg\max_k n_{ik}`; ties are broken uniformly at random by a generator seeded
      with `seed` (same input and seed -> same labels; not biased to the first class);
    * one accuracy p for every worker, from how often two answers to the same object agree: under the
      model a pair agrees with probability :math:`a = p^2 + (1-p)^2/(K-1)`, so
      :math:`p = (1 + \sqrt{1 - K + aK(K-1)})/K`. The agreement rate a is pooled over all pairs of answers
      on each object, plus `prior_pairs` pseudo-pairs at the agreement implied by `prior_accuracy` (so
      a handful of answers, or none paired, falls back toward the prior rather than to certainty), then
      clipped to :math:`[1/K + \epsilon, p_{max}]`. Agreement with the majority itself would be biased
      upward (each answer votes in its own majority), which is why pairs are used;
    * posterior under a uniform class prior, each worker right with probability :math:`\hat p` and
      otherwise uniformly wrong:
      :math:`P(y_i = k) \propto \hat p^{n_{ik}} ((1-\hat p)/(K-1))^{n_i - n_{ik}}`,
      i.e. :math:`\mathrm{softmax}_k(n_{ik} \log(\hat p (K-1) / (1-\hat p)))`;
    * confidence :math:`P(y_i = l_i)`. With one answer per object no pair exists, p is the prior
      accuracy and so is the confidence.
    """

    seed: int = 0
    """Seed of the tie-breaking generator."""
    eps: float = 1e-3
    """Margin above chance (1/K) for the lowest accuracy estimate."""
    max_accuracy: float = 0.99
    """Highest accuracy estimate, so unanimous data never yields a confidence of exactly 1."""
    prior_accuracy: float = 0.7
    """Accuracy assumed before any pair of answers is seen (Ground Truth's MDS starts at 0.7 too)."""
    prior_pairs: float = 2.0
    """Weight of that prior, in pairs of answers."""

    accuracy_: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not 0 < self.eps < 0.5:
            raise ValueError(f"eps must be in (0, 0.5), got {self.eps}")
        if not 0.5 < self.max_accuracy < 1:
            raise ValueError(f"max_accuracy must be in (0.5, 1), got {self.max_accuracy}")

    def fit(self, answers: Answers) -> Self:
        k = answers.n_classes
        if answers.n_answers == 0:  # early exit: nothing to estimate
            self.labels_ = np.zeros(0, dtype=np.int64)
            self.probas_ = np.zeros((0, k), dtype=np.float64)
            self.accuracy_ = None
            return self

        votes = answers.votes()
        top = votes == votes.max(axis=1, keepdims=True)
        noise = np.random.default_rng(self.seed).random(votes.shape)
        labels = np.argmax(np.where(top, noise, -1.0), axis=1).astype(np.int64)

        accuracy = self._pairwise_accuracy(votes, k)

        logits = votes * np.log(accuracy * (k - 1) / (1.0 - accuracy))
        logits -= logits.max(axis=1, keepdims=True)
        probas = np.exp(logits)
        probas /= probas.sum(axis=1, keepdims=True)

        self.labels_, self.probas_, self.accuracy_ = labels, probas, accuracy
        return self

    def _pairwise_accuracy(self, votes: np.ndarray, k: int) -> float:
        n = votes.sum(axis=1)
        agreeing_pairs = float((votes * (votes - 1)).sum()) / 2
        all_pairs = float((n * (n - 1)).sum()) / 2
        p0 = self.prior_accuracy
        prior_agreement = p0 * p0 + (1 - p0) ** 2 / (k - 1)
        agreement = (agreeing_pairs + self.prior_pairs * prior_agreement) / (all_pairs + self.prior_pairs)
        root = max(0.0, 1.0 - k + agreement * k * (k - 1))
        accuracy = (1.0 + np.sqrt(root)) / k
        low = min(1.0 / k + self.eps, self.max_accuracy)
        return float(np.clip(accuracy, low, self.max_accuracy))
