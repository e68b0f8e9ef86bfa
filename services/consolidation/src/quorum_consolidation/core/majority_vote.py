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
    * one accuracy for every worker, the share of answers that agree with their object's majority,
      :math:`\hat p = \mathrm{clip}(\sum_i n_{i l_i} / \sum_i n_i,\ 1/K + \epsilon,\ p_{max})`, estimated
      over the answers given (the clip keeps a vote evidence for its class and never certain);
    * posterior under a uniform class prior, each worker right with probability :math:`\hat p` and
      otherwise uniformly wrong:
      :math:`P(y_i = k) \propto \hat p^{n_{ik}} ((1-\hat p)/(K-1))^{n_i - n_{ik}}`,
      i.e. :math:`\mathrm{softmax}_k(n_{ik} \log(\hat p (K-1) / (1-\hat p)))`;
    * confidence :math:`P(y_i = l_i)`. With one answer per object this equals :math:`\hat p`.
    """

    seed: int = 0
    """Seed of the tie-breaking generator."""
    eps: float = 1e-3
    """Margin above chance (1/K) for the lowest accuracy estimate."""
    max_accuracy: float = 0.99
    """Highest accuracy estimate, so unanimous data never yields a confidence of exactly 1."""

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

        agreeing = votes[np.arange(votes.shape[0]), labels].sum()
        low = min(1.0 / k + self.eps, self.max_accuracy)
        accuracy = float(np.clip(agreeing / answers.n_answers, low, self.max_accuracy))

        logits = votes * np.log(accuracy * (k - 1) / (1.0 - accuracy))
        logits -= logits.max(axis=1, keepdims=True)
        probas = np.exp(logits)
        probas /= probas.sum(axis=1, keepdims=True)

        self.labels_, self.probas_, self.accuracy_ = labels, probas, accuracy
        return self
