"""What a job may know besides its answers: known-answer objects, workers' confusions from earlier jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quorum_consolidation.core.answers import Answers, ConsolidationInputError


@dataclass(frozen=True)
class KnownLabels:
    """Objects whose true class is known (gold / known-answer objects), as indices into an `Answers`.

    Aggregators that take them clamp these objects' posteriors to the known class in every E-step, so the
    workers' estimated skills are anchored by them; the objects come out with their known label.
    """

    objects: np.ndarray  # int64 indices into answers.object_ids
    classes: np.ndarray  # int64 indices into answers.categories

    @classmethod
    def from_ids(cls, answers: Answers, known: Mapping[Any, str]) -> KnownLabels:
        """Index ``{object_id: label}``; objects without answers in `answers` are ignored.

        Raises ConsolidationInputError for a label outside the categories.
        """
        if not known:
            return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        ids = np.asarray(list(known.keys()))
        labels = [str(v) for v in known.values()]
        cat_index = {c: i for i, c in enumerate(answers.categories)}
        unknown = sorted({lab for lab in labels if lab not in cat_index})
        if unknown:
            raise ConsolidationInputError(
                f"known label not in categories {list(answers.categories)!r}: {unknown[:5]!r}",
                reason="unknown_label",
            )
        classes = np.fromiter((cat_index[lab] for lab in labels), dtype=np.int64, count=len(labels))
        if answers.n_objects == 0:
            return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        oids = answers.object_ids
        try:
            pos = np.clip(np.searchsorted(oids, ids), 0, len(oids) - 1)
        except TypeError as err:  # ids of another type than the answers' object ids
            raise ConsolidationInputError(
                f"known object ids must have the answers' id type: {err}", reason="bad_known_labels"
            ) from err
        found = oids[pos] == ids
        return cls(pos[found].astype(np.int64), classes[found])

    def __post_init__(self) -> None:
        if self.objects.shape != self.classes.shape or self.objects.ndim != 1:
            raise ValueError("known objects and classes must be 1-D arrays of equal length")


@dataclass(frozen=True)
class ConfusionPrior:
    """Workers' confusion counts from earlier jobs of the same team: ``counts[j, c, l]`` is how often worker
    ``worker_ids[j]`` answered l when the truth was c (true class = row). Used as Dirichlet pseudo-counts,
    added to this job's expected counts (crowd-kit's ``initial_error_strategy="addition"``)."""

    worker_ids: Sequence[Any] | np.ndarray
    counts: np.ndarray  # float [n_known_workers, K, K]

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim != 3 or counts.shape[1] != counts.shape[2] or counts.shape[0] != len(self.worker_ids):
            raise ValueError(
                f"counts must have shape (len(worker_ids), K, K), got {counts.shape} for "
                f"{len(self.worker_ids)} workers"
            )
        if (counts < 0).any() or not np.isfinite(counts).all():
            raise ValueError("prior confusion counts must be finite and non-negative")

    def align(self, answers: Answers) -> np.ndarray:
        """Pseudo-counts ``[n_workers, K, K]`` for the workers of `answers` (zeros for workers not known)."""
        k, w = answers.n_classes, answers.n_workers
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.shape[1] != k:
            size = counts.shape[1]
            raise ValueError(f"prior confusion matrices are {size}x{size}; the job has K={k}")
        out = np.zeros((w, k, k))
        if w == 0 or counts.shape[0] == 0:
            return out
        ids = np.asarray(self.worker_ids)
        wids = answers.worker_ids
        pos = np.clip(np.searchsorted(wids, ids), 0, w - 1)
        found = wids[pos] == ids
        np.add.at(out, pos[found], counts[found])
        return out
