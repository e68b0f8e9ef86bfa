"""Label verification (binary verdicts + comments) and bounding-box adjustment jobs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from quorum_consolidation.core.answers import Answers, ConsolidationInputError
from quorum_consolidation.core.boxes import Box, BoxAnswers, BoxConsolidator, _box_row
from quorum_consolidation.core.dawid_skene import DawidSkene


@dataclass
class VerificationConsolidator:
    r"""Consolidate verdicts on a previous label (Ground Truth's label-verification output).

    Verdicts are a classification over `categories` (by default Ground Truth's console pair): they are
    aggregated with Dawid-Skene (:class:`~quorum_consolidation.core.dawid_skene.DawidSkene`, per-worker
    confusion matrices fitted by MAP EM, with `diagonal_prior` / `confusion_prior` pseudo-counts so that the
    few verdicts of a verification job do not give extreme matrices). Confidence = posterior of the chosen
    class. The workers' comments are collected per object as ``worker-feedback`` ([{"comment": ...}],
    empty comments skipped; the key is left out of `metadata_` when there are none).

    A. P. Dawid and A. M. Skene, Maximum likelihood estimation of observer error-rates using the EM
    algorithm, JRSS C 28(1), 20-28, 1979.
    """

    categories: tuple[str, ...] = ("good", "bad")
    """The verdict classes; the label written is the index into this tuple (as a string, like GT)."""
    n_iter: int = 100
    """Maximum EM iterations."""
    diagonal_prior: float = 2.0
    """Pseudo-counts on each worker's diagonal (a belief that workers beat chance)."""
    confusion_prior: float = 1.0
    """Pseudo-count on every confusion cell."""

    object_ids_: np.ndarray | None = field(init=False, default=None, repr=False)
    labels_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Per object (`object_ids_` order), the chosen verdict's index."""
    confidences_: np.ndarray | None = field(init=False, default=None, repr=False)
    worker_ids_: np.ndarray | None = field(init=False, default=None, repr=False)
    confusions_: np.ndarray | None = field(init=False, default=None, repr=False)
    """``[n_workers, K, K]`` from DawidSkene."""
    model_: DawidSkene | None = field(init=False, default=None, repr=False)
    """The Dawid-Skene model fitted on the verdicts (worker quality reads it)."""
    answers_: Answers | None = field(init=False, default=None, repr=False)
    """The verdicts as indexed answers (the order of `model_`'s objects and workers)."""
    worker_feedback_: list[list[dict[str, str]]] = field(init=False, default_factory=list, repr=False)
    metadata_: list[dict[str, Any]] = field(init=False, default_factory=list, repr=False)
    """Per object: {"class-name", "confidence", and "worker-feedback" when any comment was left}."""

    def __post_init__(self) -> None:
        if len(self.categories) < 2:
            raise ValueError(f"categories needs at least 2 verdicts, got {list(self.categories)!r}")
        if self.n_iter < 1:
            raise ValueError(f"n_iter must be >= 1, got {self.n_iter}")

    def fit(self, verdicts: Iterable[tuple[Any, Any, str] | tuple[Any, Any, str, str | None]]) -> Self:
        """`verdicts`: (object_id, worker_id, verdict) or (object_id, worker_id, verdict, comment)."""
        rows = list(verdicts)
        for r in rows:
            if len(r) not in (3, 4):
                raise ConsolidationInputError(
                    "each verdict must be (object_id, worker_id, verdict[, comment])",
                    reason="malformed_answer",
                )
        answers = Answers.from_triples([(r[0], r[1], r[2]) for r in rows], self.categories)
        ds = DawidSkene(
            n_iter=self.n_iter, diagonal_prior=self.diagonal_prior, confusion_prior=self.confusion_prior
        )
        ds.fit(answers)
        self.model_, self.answers_ = ds, answers
        self.object_ids_, self.worker_ids_, self.confusions_ = (
            answers.object_ids,
            answers.worker_ids,
            ds.confusions_,
        )
        self.labels_, self.confidences_ = ds.labels_, ds.confidences()
        feedback: dict[Any, list[dict[str, str]]] = {}
        for r in sorted(rows, key=lambda r: str(r[1])):
            comment = r[3] if len(r) == 4 else None
            if comment is not None and str(comment).strip():
                feedback.setdefault(r[0], []).append({"comment": str(comment)})
        self.worker_feedback_ = [feedback.get(o, []) for o in answers.object_ids.tolist()]
        self.metadata_ = []
        for lab, conf, fb in zip(
            self.labels_.tolist(), self.confidences_.tolist(), self.worker_feedback_, strict=True
        ):
            meta: dict[str, Any] = {"class-name": self.categories[lab], "confidence": round(float(conf), 2)}
            if fb:
                meta["worker-feedback"] = fb
            self.metadata_.append(meta)
        return self


@dataclass
class BoxAdjustmentConsolidator:
    """Consolidate a bounding-box adjustment job: workers start from a pre-filled label and adjust it.

    The adjusted submissions are fused exactly as a labeling job (`boxes`, a
    :class:`~quorum_consolidation.core.boxes.BoxConsolidator`); ``adjustment-status`` is ``"adjusted"`` when
    at least one worker's boxes differ from the original (a box added, removed, re-classed, or any
    coordinate moved by more than `tolerance` pixels, after matching the boxes one to one), else
    ``"unadjusted"``.
    """

    boxes: BoxConsolidator = field(default_factory=BoxConsolidator)
    """The fusion applied to the adjusted boxes."""
    tolerance: float = 0.5
    """Coordinate change (pixels) below which a box counts as unchanged (rounding of pre-filled ints)."""

    adjustment_status_: list[str] = field(init=False, default_factory=list, repr=False)
    """Per image (`BoxAnswers.image_ids` order): "adjusted" or "unadjusted"."""
    changed_by_: list[list[Any]] = field(init=False, default_factory=list, repr=False)
    """Per image, the ids of the workers who changed something."""

    def fit(self, answers: BoxAnswers, originals: Mapping[Any, Sequence[Box]]) -> Self:
        """`answers`: the adjusted submissions; `originals[image_id]`: the pre-filled boxes of each image."""
        missing = [i for i in answers.image_ids.tolist() if i not in originals]
        if missing:
            raise ConsolidationInputError(
                f"no original boxes for images {missing[:5]!r}", reason="missing_original"
            )
        self.boxes.fit(answers)
        self.adjustment_status_, self.changed_by_ = [], []
        for i, image_id in enumerate(answers.image_ids.tolist()):
            rows = np.asarray(
                [_box_row(b, f"{j} of original {image_id!r}") for j, b in enumerate(originals[image_id])]
            )
            orig = rows.reshape(-1, 5)
            orig_c = np.concatenate([orig[:, :1], orig[:, 1:3], orig[:, 1:3] + orig[:, 3:5]], axis=1)
            changed = []
            for w in answers.sub_workers[answers.sub_images == i].tolist():
                m = (answers.images == i) & (answers.workers == w)
                mine = np.concatenate([answers.classes[m, None].astype(float), answers.corners[m]], axis=1)
                if not _same_boxes(mine, orig_c, self.tolerance):
                    changed.append(answers.worker_ids[w].item())
            self.changed_by_.append(changed)
            self.adjustment_status_.append("adjusted" if changed else "unadjusted")
        return self

    @property
    def annotations_(self) -> list[list[dict[str, int]]]:
        return self.boxes.annotations_

    @property
    def objects_(self) -> list[list[dict[str, float]]]:
        return self.boxes.objects_


def _same_boxes(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Whether two sets of (class, x1, y1, x2, y2) rows are equal up to `tol`, in any order."""
    if a.shape[0] != b.shape[0]:
        return False
    if a.shape[0] == 0:
        return True
    from scipy.optimize import linear_sum_assignment

    cost = np.abs(a[:, None, 1:] - b[None, :, 1:]).max(axis=2) + 1e9 * (a[:, None, 0] != b[None, :, 0])
    r, c = linear_sum_assignment(cost)
    return bool((cost[r, c] <= tol).all())
