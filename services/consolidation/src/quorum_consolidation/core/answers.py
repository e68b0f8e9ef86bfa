"""The vectorised input every aggregation method takes: one row per answer, as integer indices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: How many offending values an error message quotes before it says "...".
_QUOTED = 5


class ConsolidationInputError(ValueError):
    """Bad input to the core; `reason` is the stable snake_case code the service forwards to callers."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _quote(values: np.ndarray) -> str:
    shown = ", ".join(repr(v) for v in values[:_QUOTED].tolist())
    return shown + (", ..." if len(values) > _QUOTED else "")


def validate_categories(categories: Sequence[str]) -> tuple[str, ...]:
    cats = tuple(categories)
    if len(cats) < 2:
        raise ConsolidationInputError(
            f"need at least 2 categories, got {len(cats)}: {list(cats)!r}",
            reason="too_few_categories",
        )
    uniq, counts = np.unique(np.asarray(cats, dtype=object).astype(str), return_counts=True)
    if (counts > 1).any():
        raise ConsolidationInputError(
            f"categories must be unique; repeated: {_quote(uniq[counts > 1])}", reason="duplicate_category"
        )
    if any(c == "" for c in cats):
        raise ConsolidationInputError("categories must be non-empty strings", reason="empty_category")
    return cats


@dataclass(frozen=True, eq=False)
class Answers:
    """Answers as parallel integer arrays (crowd-kit's task/worker/label frame, without pandas).

    Contract: `objects[i]`, `workers[i]`, `classes[i]` describe answer i; indices lie in
    `[0, len(object_ids))`, `[0, len(worker_ids))`, `[0, len(categories))`; every object has at least one
    answer; a worker answers an object at most once; there are at least 2 categories. Objects are sorted by
    id (the order of `object_ids`), and every result array of a method follows that order.
    """

    objects: np.ndarray  # int64 [n_answers]
    workers: np.ndarray  # int64 [n_answers]
    classes: np.ndarray  # int64 [n_answers]
    object_ids: np.ndarray  # [n_objects], sorted
    worker_ids: np.ndarray  # [n_workers], sorted
    categories: tuple[str, ...]

    @property
    def n_answers(self) -> int:
        return int(self.objects.shape[0])

    @property
    def n_objects(self) -> int:
        return int(self.object_ids.shape[0])

    @property
    def n_workers(self) -> int:
        return int(self.worker_ids.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    def answer_counts(self) -> np.ndarray:
        """Answers per object, int64 [n_objects]."""
        return np.bincount(self.objects, minlength=self.n_objects).astype(np.int64)

    def votes(self) -> np.ndarray:
        """Vote counts, int64 [n_objects, n_classes]."""
        k = self.n_classes
        flat = np.bincount(self.objects * k + self.classes, minlength=self.n_objects * k)
        return flat.reshape(self.n_objects, k).astype(np.int64)

    @classmethod
    def from_arrays(
        cls,
        object_ids: Sequence[Any] | np.ndarray,
        worker_ids: Sequence[Any] | np.ndarray,
        labels: Sequence[str] | np.ndarray,
        categories: Sequence[str],
    ) -> Answers:
        """Index columns of (object id, worker id, label); raises ConsolidationInputError on bad input.

        Object and worker ids may be ints or strings (one type per column); labels must be in `categories`.
        """
        cats = validate_categories(categories)
        obj_col, wrk_col, lab_col = np.asarray(object_ids), np.asarray(worker_ids), np.asarray(labels)
        n = obj_col.shape[0]
        if obj_col.ndim != 1 or wrk_col.shape != (n,) or lab_col.shape != (n,):
            raise ConsolidationInputError(
                f"object, worker and label columns must be 1-D and of equal length, got shapes "
                f"{obj_col.shape}, {wrk_col.shape}, {lab_col.shape}",
                reason="ragged_answers",
            )
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, obj_col, wrk_col, cats)

        # Labels -> class indices by binary search over the sorted categories (no per-answer dict lookup).
        cat_arr = np.asarray(cats, dtype=str)
        order = np.argsort(cat_arr)
        sorted_cats = cat_arr[order]
        lab_str = lab_col.astype(str)
        pos = np.clip(np.searchsorted(sorted_cats, lab_str), 0, len(cats) - 1)
        known = sorted_cats[pos] == lab_str
        if not known.all():
            raise ConsolidationInputError(
                f"label not in categories {list(cats)!r}: {_quote(np.unique(lab_str[~known]))}",
                reason="unknown_label",
            )
        classes = order[pos].astype(np.int64)

        uniq_objects, objects = np.unique(obj_col, return_inverse=True)
        uniq_workers, workers = np.unique(wrk_col, return_inverse=True)
        objects = objects.astype(np.int64).ravel()
        workers = workers.astype(np.int64).ravel()

        pair = objects * len(uniq_workers) + workers
        uniq_pairs, pair_counts = np.unique(pair, return_counts=True)
        if (pair_counts > 1).any():
            dup = uniq_pairs[pair_counts > 1]
            n_workers = len(uniq_workers)
            shown = ", ".join(
                f"({uniq_objects[p // n_workers].item()!r}, {uniq_workers[p % n_workers].item()!r})"
                for p in dup[:_QUOTED].tolist()
            )
            raise ConsolidationInputError(
                f"a worker answered an object more than once (object, worker): {shown}"
                + (", ..." if len(dup) > _QUOTED else ""),
                reason="duplicate_answer",
            )
        return cls(objects, workers, classes, uniq_objects, uniq_workers, cats)

    @classmethod
    def from_triples(cls, triples: Iterable[tuple[Any, Any, str]], categories: Sequence[str]) -> Answers:
        """Index (object_id, worker_id, label) triples; see `from_arrays`."""
        rows = list(triples)
        if not rows:
            return cls.from_arrays([], [], [], categories)
        if any(len(row) != 3 for row in rows):
            raise ConsolidationInputError(
                "each answer must be an (object_id, worker_id, label) triple", reason="malformed_answer"
            )
        object_ids, worker_ids, labels = zip(*rows, strict=True)
        return cls.from_arrays(object_ids, worker_ids, labels, categories)
