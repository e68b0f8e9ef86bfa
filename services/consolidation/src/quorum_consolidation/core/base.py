"""What every aggregation method looks like (crowd-kit's classification aggregator shape)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Self

import numpy as np

from quorum_consolidation.core.answers import Answers


@dataclass
class BaseClassificationAggregator(ABC):
    """Hyperparameters are dataclass fields; `fit` sets the trailing-underscore results.

    Results follow `answers.object_ids` order: `labels_` int64 [n_objects] (class indices) and `probas_`
    float64 [n_objects, n_classes] (rows sum to 1).
    """

    labels_: np.ndarray | None = field(init=False, default=None, repr=False)
    probas_: np.ndarray | None = field(init=False, default=None, repr=False)

    @abstractmethod
    def fit(self, answers: Answers) -> Self:
        """Estimate labels and posteriors from `answers`; returns self."""

    def fit_predict(self, answers: Answers) -> np.ndarray:
        """`labels_` after `fit(answers)`."""
        labels = self.fit(answers).labels_
        assert labels is not None
        return labels

    def fit_predict_proba(self, answers: Answers) -> np.ndarray:
        """`probas_` after `fit(answers)`."""
        probas = self.fit(answers).probas_
        assert probas is not None
        return probas

    def confidences(self) -> np.ndarray:
        """Posterior of the chosen class per object, float64 [n_objects] (needs `fit` first)."""
        if self.labels_ is None or self.probas_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        return self.probas_[np.arange(self.labels_.shape[0]), self.labels_]
