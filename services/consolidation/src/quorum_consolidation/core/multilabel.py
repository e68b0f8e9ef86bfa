"""Multi-label classification: one binary two-coin Dawid-Skene per class, fitted for all classes at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import numpy as np
import scipy.sparse as sp

from quorum_consolidation.core.answers import ConsolidationInputError, validate_categories

_CLIP = 1e-6


@dataclass(frozen=True, eq=False)
class MultiLabelAnswers:
    """Each worker's chosen set of classes per object, as a boolean matrix.

    Answer a is worker `workers[a]` on object `objects[a]`; `chosen[a, k]` says whether it chose class k
    (an empty set is an answer too: "none of these"). Indices refer to the sorted `object_ids` /
    `worker_ids`; results follow `object_ids` order.
    """

    objects: np.ndarray  # int64 [n_answers]
    workers: np.ndarray  # int64 [n_answers]
    chosen: np.ndarray  # bool [n_answers, n_classes]
    object_ids: np.ndarray
    worker_ids: np.ndarray
    categories: tuple[str, ...]

    @property
    def n_objects(self) -> int:
        return int(self.object_ids.shape[0])

    @property
    def n_workers(self) -> int:
        return int(self.worker_ids.shape[0])

    @property
    def n_answers(self) -> int:
        return int(self.objects.shape[0])

    @classmethod
    def from_triples(
        cls, triples: Iterable[tuple[Any, Any, Sequence[str]]], categories: Sequence[str]
    ) -> MultiLabelAnswers:
        """Index (object_id, worker_id, chosen class names) triples; raises ConsolidationInputError (reasons:
        malformed_answer, unknown_label, duplicate_label, duplicate_answer)."""
        cats = validate_categories(categories)
        index = {c: i for i, c in enumerate(cats)}
        obj: list[Any] = []
        wrk: list[Any] = []
        rows: list[np.ndarray] = []
        for a, row in enumerate(triples):
            if not isinstance(row, tuple | list) or len(row) != 3 or isinstance(row[2], str):
                raise ConsolidationInputError(
                    f"answer {a} must be an (object_id, worker_id, [labels]) triple",
                    reason="malformed_answer",
                )
            o, w, labels = row
            unknown = [x for x in labels if x not in index]
            if unknown:
                raise ConsolidationInputError(
                    f"label not in categories {list(cats)!r}: {unknown[:5]!r}", reason="unknown_label"
                )
            if len(set(labels)) != len(labels):
                raise ConsolidationInputError(
                    f"answer ({o!r}, {w!r}) repeats a label: {list(labels)!r}", reason="duplicate_label"
                )
            vec = np.zeros(len(cats), dtype=bool)
            vec[[index[x] for x in labels]] = True
            obj.append(o)
            wrk.append(w)
            rows.append(vec)
        chosen = np.asarray(rows, dtype=bool).reshape(-1, len(cats))
        o_col, w_col = np.asarray(obj), np.asarray(wrk)
        if o_col.shape[0] == 0:
            e = np.zeros(0, dtype=np.int64)
            return cls(e, e, chosen, o_col, w_col, cats)
        object_ids, objects = np.unique(o_col, return_inverse=True)
        worker_ids, workers = np.unique(w_col, return_inverse=True)
        objects, workers = objects.astype(np.int64).ravel(), workers.astype(np.int64).ravel()
        pair = objects * len(worker_ids) + workers
        uniq, counts = np.unique(pair, return_counts=True)
        if (counts > 1).any():
            p = int(uniq[counts > 1][0])
            raise ConsolidationInputError(
                f"a worker answered an object more than once (object, worker): "
                f"({object_ids[p // len(worker_ids)].item()!r}, {worker_ids[p % len(worker_ids)].item()!r})",
                reason="duplicate_answer",
            )
        return cls(objects, workers, chosen, object_ids, worker_ids, cats)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _CLIP, 1 - _CLIP)
    return np.log(p) - np.log1p(-p)


@dataclass
class MultiLabelDawidSkene:
    r"""Multi-label consolidation: an independent binary two-coin Dawid-Skene model per class, all classes
    fitted together in one vectorised EM.

    For object i and class k, the truth :math:`z_{ik} \sim \mathrm{Bernoulli}(\rho_k)`; worker w's vote
    :math:`y_{iwk}` (whether k is in w's chosen set) has :math:`P(y=1 \mid z=1) = \alpha_{wk}` (sensitivity)
    and :math:`P(y=0 \mid z=0) = \beta_{wk}` (specificity). Per-(worker, class) parameters are sparse, so
    each is shrunk toward the worker's pooled rate over all classes with `class_pooling` pseudo-counts, and
    every rate has a Beta prior of `prior_strength` pseudo-counts at `prior_sensitivity` /
    `prior_specificity`:

    .. math:: \alpha_{wk} = \frac{\sum_i T_{ik} y_{iwk} + c\,\bar\alpha_w + s\,a_0}{\sum_i T_{ik} + c + s}

    (likewise :math:`\beta` with :math:`1 - T` and :math:`1 - y`). E-step, in log-odds:
    :math:`\mathrm{logit}\,T_{ik} = \mathrm{logit}\,\rho_k + \sum_w y\log\frac{\alpha}{1-\beta}
    + (1-y)\log\frac{1-\alpha}{\beta}`. Initialised from the vote shares; stops after `n_iter` iterations or
    when no posterior moves by more than `tol`.

    `decision="posterior"` outputs the classes with posterior >= `threshold`; ``"union"`` reproduces Ground
    Truth's documented output (every class at least one worker chose), still with the posteriors as the
    confidence map.

    A. P. Dawid and A. M. Skene. Maximum likelihood estimation of observer error-rates using the EM
    algorithm. JRSS C 28(1), 20-28, 1979; V. C. Raykar et al., Learning from crowds, JMLR 11, 2010 (the
    two-coin sensitivity/specificity form).
    """

    decision: Literal["posterior", "union"] = "posterior"
    """Output classes: posterior >= threshold, or the union of the workers' choices (Ground Truth's)."""
    threshold: float = 0.5
    """Posterior from which a class is output (decision="posterior")."""
    n_iter: int = 50
    """Maximum EM iterations."""
    tol: float = 1e-6
    """Stop when no posterior changes by more than this."""
    prior_sensitivity: float = 0.8
    """a_0: prior sensitivity of a worker."""
    prior_specificity: float = 0.9
    """b_0: prior specificity of a worker."""
    prior_strength: float = 2.0
    """s: pseudo-counts of the Beta priors."""
    class_pooling: float = 5.0
    """c: pseudo-counts shrinking a worker's per-class rates toward their rates over all classes."""

    probas_: np.ndarray | None = field(init=False, default=None, repr=False)
    """``[n_objects, K]``: posterior that class k applies to object i."""
    labels_: list[list[int]] = field(init=False, default_factory=list, repr=False)
    """Per object, the output class indices (ascending)."""
    sensitivity_: np.ndarray | None = field(init=False, default=None, repr=False)
    """``[n_workers, K]`` alpha."""
    specificity_: np.ndarray | None = field(init=False, default=None, repr=False)
    """``[n_workers, K]`` beta."""
    class_priors_: np.ndarray | None = field(init=False, default=None, repr=False)
    """``[K]`` rho."""
    n_iter_: int = field(init=False, default=0)
    confidence_maps_: list[dict[str, float]] = field(init=False, default_factory=list, repr=False)
    """Per object, Ground Truth's ``confidence-map`` {"<class_id>": posterior} over the output classes."""
    class_maps_: list[dict[str, str]] = field(init=False, default_factory=list, repr=False)
    """Per object, Ground Truth's ``class-map`` {"<class_id>": name} over the output classes."""

    def __post_init__(self) -> None:
        if self.decision not in ("posterior", "union"):
            raise ValueError(f"decision must be 'posterior' or 'union', got {self.decision!r}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.n_iter < 1:
            raise ValueError(f"n_iter must be >= 1, got {self.n_iter}")
        for name in ("prior_sensitivity", "prior_specificity"):
            if not 0.5 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0.5, 1), got {getattr(self, name)}")
        for name in ("prior_strength", "class_pooling", "tol"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def fit(self, answers: MultiLabelAnswers) -> Self:
        """Fit on `answers`; returns self."""
        n, w, k = answers.n_objects, answers.n_workers, len(answers.categories)
        y = answers.chosen.astype(np.float64)
        ones = np.ones(answers.n_answers)
        by_obj = sp.csr_matrix(
            (ones, (answers.objects, np.arange(answers.n_answers))), shape=(n, answers.n_answers)
        )
        by_wrk = sp.csr_matrix(
            (ones, (answers.workers, np.arange(answers.n_answers))), shape=(w, answers.n_answers)
        )
        n_obj = np.asarray(by_obj.sum(axis=1)).ravel()
        probas = (by_obj @ y) / np.maximum(n_obj, 1)[:, None]  # vote shares
        s, c = self.prior_strength, self.class_pooling
        a0, b0 = self.prior_sensitivity, self.prior_specificity
        alpha = np.full((w, k), a0)
        beta = np.full((w, k), b0)
        rho = np.full(k, 0.5)
        self.n_iter_ = 0
        for it in range(self.n_iter):
            # M-step
            t = probas[answers.objects]  # [n_a, K]
            pos = by_wrk @ t  # expected positives seen [W, K]
            neg = by_wrk @ (1 - t)
            tp = by_wrk @ (t * y)
            tn = by_wrk @ ((1 - t) * (1 - y))
            pooled_a = (tp.sum(1) + s * a0) / (pos.sum(1) + s)
            pooled_b = (tn.sum(1) + s * b0) / (neg.sum(1) + s)
            alpha = (tp + c * pooled_a[:, None] + s * a0) / (pos + c + s)
            beta = (tn + c * pooled_b[:, None] + s * b0) / (neg + c + s)
            alpha, beta = np.clip(alpha, _CLIP, 1 - _CLIP), np.clip(beta, _CLIP, 1 - _CLIP)
            rho = (probas.sum(0) + 1.0) / (n + 2.0)
            # E-step
            on = np.log(alpha) - np.log1p(-beta)  # vote 1
            off = np.log1p(-alpha) - np.log(beta)  # vote 0
            contrib = y * on[answers.workers] + (1 - y) * off[answers.workers]
            new = 1.0 / (1.0 + np.exp(-(_logit(rho)[None, :] + by_obj @ contrib)))
            delta = float(np.abs(new - probas).max()) if n else 0.0
            probas = new
            self.n_iter_ = it + 1
            if delta <= self.tol:
                break
        self.probas_, self.sensitivity_, self.specificity_, self.class_priors_ = probas, alpha, beta, rho
        if self.decision == "union":
            out = (by_obj @ y) > 0
        else:
            out = probas >= self.threshold
        self.labels_ = [np.flatnonzero(row).tolist() for row in out]
        self.confidence_maps_ = [
            {str(j): round(float(probas[i, j]), 2) for j in lab} for i, lab in enumerate(self.labels_)
        ]
        self.class_maps_ = [{str(j): answers.categories[j] for j in lab} for lab in self.labels_]
        return self
