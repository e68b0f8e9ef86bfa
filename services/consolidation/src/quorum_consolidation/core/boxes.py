"""Bounding boxes: match boxes across workers by IoU assignment, keep a quorum, fuse by reliability."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import numpy as np
from scipy.optimize import linear_sum_assignment

from quorum_consolidation.core._geometry import (
    corners_to_int_xywh,
    paired_iou,
    pairwise_iou,
    weighted_median,
    xywh_to_corners,
)
from quorum_consolidation.core.answers import ConsolidationInputError

#: A box as Ground Truth writes it ({"class_id", "left", "top", "width", "height"}) or a 5-tuple in the same
#: order (class_id, left, top, width, height).
Box = Mapping[str, Any] | Sequence[float]

_GT_KEYS = ("class_id", "left", "top", "width", "height")


def _box_row(box: Box, where: str) -> tuple[float, ...]:
    if isinstance(box, Mapping):
        missing = [k for k in _GT_KEYS if k not in box]
        if missing:
            raise ConsolidationInputError(f"box {where} lacks keys {missing}", reason="malformed_box")
        row = tuple(box[k] for k in _GT_KEYS)
    else:
        row = tuple(box)
        if len(row) != 5:
            raise ConsolidationInputError(
                f"box {where} must have 5 values (class_id, left, top, width, height), got {len(row)}",
                reason="malformed_box",
            )
    try:
        return tuple(float(v) for v in row)
    except (TypeError, ValueError):
        raise ConsolidationInputError(
            f"box {where} has a non-numeric value: {row!r}", reason="malformed_box"
        ) from None


@dataclass(frozen=True, eq=False)
class BoxAnswers:
    """Every worker's boxes on every image, as parallel arrays (boxes as corners x1, y1, x2, y2 in pixels).

    Box b belongs to image `images[b]`, worker `workers[b]`, class `classes[b]`. Submissions (including
    those with zero boxes) are the pairs (`sub_images[s]`, `sub_workers[s]`); every box's (image, worker)
    is a submission, and a worker submits an image at most once. Indices refer to the sorted
    `image_ids` / `worker_ids`; results follow `image_ids` order.
    """

    images: np.ndarray  # int64 [n_boxes]
    workers: np.ndarray  # int64 [n_boxes]
    classes: np.ndarray  # int64 [n_boxes]
    corners: np.ndarray  # float64 [n_boxes, 4]
    sub_images: np.ndarray  # int64 [n_submissions]
    sub_workers: np.ndarray  # int64 [n_submissions]
    image_ids: np.ndarray
    worker_ids: np.ndarray

    @property
    def n_images(self) -> int:
        return int(self.image_ids.shape[0])

    @property
    def n_workers(self) -> int:
        return int(self.worker_ids.shape[0])

    @property
    def n_boxes(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def from_submissions(cls, submissions: Iterable[tuple[Any, Any, Sequence[Box]]]) -> BoxAnswers:
        """Index (image_id, worker_id, boxes) submissions; a submission may hold no boxes.

        Boxes are GT dicts or (class_id, left, top, width, height) tuples in pixels. Raises
        ConsolidationInputError (reasons: malformed_submission, malformed_box, invalid_box, invalid_class,
        duplicate_submission).
        """
        sub_img: list[Any] = []
        sub_wrk: list[Any] = []
        rows: list[tuple[float, ...]] = []
        owner: list[int] = []
        for s, sub in enumerate(submissions):
            if not isinstance(sub, tuple | list) or len(sub) != 3:
                raise ConsolidationInputError(
                    f"submission {s} must be an (image_id, worker_id, boxes) triple",
                    reason="malformed_submission",
                )
            image_id, worker_id, boxes = sub
            sub_img.append(image_id)
            sub_wrk.append(worker_id)
            for j, box in enumerate(boxes):
                rows.append(_box_row(box, f"{j} of ({image_id!r}, {worker_id!r})"))
                owner.append(s)
        data = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        return cls.from_arrays(sub_img, sub_wrk, np.asarray(owner, dtype=np.int64), data[:, 0], data[:, 1:])

    @classmethod
    def from_arrays(
        cls,
        sub_image_ids: Sequence[Any] | np.ndarray,
        sub_worker_ids: Sequence[Any] | np.ndarray,
        box_submission: np.ndarray,
        box_classes: np.ndarray,
        box_xywh: np.ndarray,
        box_format: Literal["xywh", "corners"] = "xywh",
    ) -> BoxAnswers:
        """Index submissions (`sub_image_ids[s]`, `sub_worker_ids[s]`) and boxes (box b is in submission
        `box_submission[b]`, class `box_classes[b]`, coordinates `box_xywh[b]`: left, top, width, height,
        or x1, y1, x2, y2 with ``box_format="corners"``)."""
        img_col, wrk_col = np.asarray(sub_image_ids), np.asarray(sub_worker_ids)
        n_sub = img_col.shape[0]
        if img_col.ndim != 1 or wrk_col.shape != (n_sub,):
            raise ConsolidationInputError(
                f"image and worker columns must be 1-D and of equal length, got "
                f"{img_col.shape}, {wrk_col.shape}",
                reason="malformed_submission",
            )
        owner = np.asarray(box_submission, dtype=np.int64).reshape(-1)
        n_box = owner.shape[0]
        cls_col = np.asarray(box_classes, dtype=np.float64).reshape(-1)
        coords = np.asarray(box_xywh, dtype=np.float64).reshape(-1, 4)
        if cls_col.shape != (n_box,) or coords.shape[0] != n_box:
            raise ConsolidationInputError(
                f"box columns must have equal length, got {owner.shape}, {cls_col.shape}, {coords.shape}",
                reason="malformed_box",
            )
        if n_box and (owner.min() < 0 or owner.max() >= n_sub):
            raise ConsolidationInputError("box_submission index out of range", reason="malformed_box")
        if not np.isfinite(coords).all():
            raise ConsolidationInputError("box coordinates must be finite", reason="invalid_box")
        if not (np.isfinite(cls_col).all() and (cls_col >= 0).all() and (cls_col == np.round(cls_col)).all()):
            raise ConsolidationInputError("class_id must be an integer >= 0", reason="invalid_class")
        corners = xywh_to_corners(coords) if box_format == "xywh" else coords.copy()
        if box_format not in ("xywh", "corners"):
            raise ValueError(f"box_format must be 'xywh' or 'corners', got {box_format!r}")
        bad = (corners[:, 2] < corners[:, 0]) | (corners[:, 3] < corners[:, 1])
        if bad.any():
            raise ConsolidationInputError(
                f"box width and height must be >= 0; {int(bad.sum())} box(es) are not", reason="invalid_box"
            )
        if n_sub == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, np.zeros((0, 4)), empty, empty, img_col, wrk_col)
        image_ids, sub_images = np.unique(img_col, return_inverse=True)
        worker_ids, sub_workers = np.unique(wrk_col, return_inverse=True)
        sub_images, sub_workers = sub_images.astype(np.int64).ravel(), sub_workers.astype(np.int64).ravel()
        pair = sub_images * len(worker_ids) + sub_workers
        uniq, counts = np.unique(pair, return_counts=True)
        if (counts > 1).any():
            p = int(uniq[counts > 1][0])
            raise ConsolidationInputError(
                f"a worker submitted an image more than once (image, worker): "
                f"({image_ids[p // len(worker_ids)].item()!r}, {worker_ids[p % len(worker_ids)].item()!r})",
                reason="duplicate_submission",
            )
        return cls(
            sub_images[owner],
            sub_workers[owner],
            cls_col.astype(np.int64),
            corners,
            sub_images,
            sub_workers,
            image_ids,
            worker_ids,
        )


def _assign(
    corners: np.ndarray,
    classes: np.ndarray,
    centres: np.ndarray,
    centre_classes: np.ndarray,
    threshold: float,
) -> np.ndarray:
    """Optimal one-to-one matching of one worker's boxes to centres (max total IoU, class-aware); -1 where
    a box has no partner with IoU >= threshold."""
    out = np.full(corners.shape[0], -1, dtype=np.int64)
    if corners.shape[0] == 0 or centres.shape[0] == 0:
        return out
    iou = pairwise_iou(corners, centres)
    iou[classes[:, None] != centre_classes[None, :]] = 0.0
    rows, cols = linear_sum_assignment(iou, maximize=True)
    ok = iou[rows, cols] >= threshold
    out[rows[ok]] = cols[ok]
    return out


@dataclass
class BoxConsolidator:
    r"""Consolidate bounding boxes from several workers per image (Ground Truth's object-detection output).

    Per image, with the workers who submitted it (zero-box submissions count):

    1. **Matching.** Workers are visited in decreasing reliability; each worker's boxes are matched to the
       current clusters by an optimal assignment (Hungarian algorithm, maximum total IoU, boxes of different
       classes never match) and join a cluster when their IoU with its reliability-weighted mean box is at
       least `iou_threshold`; unmatched boxes open new clusters. A second pass re-assigns every worker's
       boxes against the fused boxes of the first pass, so the result does not depend on visiting order.
       A worker contributes at most one box to a cluster.
    2. **Quorum.** A cluster is kept when the workers who drew it are more than `quorum` of the workers who
       submitted the image (by count, or by reliability with ``quorum_weighting="reliability"``).
    3. **Fusion.** Each corner coordinate is the reliability-weighted median (or mean) of the members'.
    4. **Confidence**, an estimate of the fused box's IoU with the truth (0 for a box that is not there):
       :math:`\hat c = \mathrm{clip}(\text{agreement}^{\gamma} \cdot \sigma(\beta_0 + \beta_1 s), 0, 1)` with
       the agreement the mean IoU of the members with the fused box, s the share of workers who drew it, and
       :math:`\gamma, \beta` calibrated on the Caltech pedestrians crowd data
       (bench/consolidation_boxes.py).
       With one worker on the image, Ground Truth writes confidence 0 (`single_worker_confidence`).
    5. **Worker reliability** (EM-style, `n_rounds` rounds of steps 1-4): per worker, the mean IoU of its
       boxes with the fused boxes they were matched to, its precision (share of its boxes in kept clusters)
       and recall (share of kept clusters on its images it drew), each smoothed by `prior_strength`
       pseudo-observations; reliability = mean IoU x sqrt(precision x recall). It weights the fusion, the
       matching order and (optionally) the quorum of the next round.

    Ground Truth's documented method "finds the most similar boxes from different workers based on the
    Jaccard index (IoU) and averages them"; the assignment matching follows the crowd box-aggregation
    literature: S. Branson, G. Van Horn and P. Perona, Lean Crowdsourcing: Combining Humans and Machines in an
    Online System, CVPR 2017; and D. Tkachenko et al., Crowd-Kit (BoxesSegmentation / weighted box fusion).
    """

    iou_threshold: float = 0.5
    """Minimum IoU of a box with a cluster's current box for it to join that cluster."""
    quorum: float = 0.5
    """Keep a cluster when its workers are more than this share of the image's workers (0.5 = majority)."""
    quorum_weighting: Literal["count", "reliability"] = "count"
    """Count workers once each, or by their reliability, in the quorum."""
    fusion: Literal["median", "mean"] = "median"
    """How the members' corners are fused (reliability-weighted)."""
    n_rounds: int = 3
    """EM-style rounds (matching, fusion, reliability); 1 = no reliability weighting."""
    prior_strength: float = 2.0
    """Pseudo-observations pulling each worker's IoU, precision and recall to the priors below."""
    prior_iou: float = 0.7
    """Prior mean IoU of a worker's box with the fused box."""
    prior_rate: float = 0.8
    """Prior precision and recall of a worker."""
    confidence_gamma: float = 0.83
    """gamma: exponent of the agreement in the confidence."""
    confidence_beta: tuple[float, float] = (-2.43, 6.85)
    """(beta_0, beta_1): logistic of the workers' share, the probability the box is real."""
    single_worker_confidence: float = 0.0
    """Confidence of every box of an image that only one worker submitted (Ground Truth writes 0)."""

    corners_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per image, fused boxes ``[m, 4]`` float corners x1, y1, x2, y2."""
    classes_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per image, class index per fused box ``[m]``."""
    confidences_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per image, confidence per fused box ``[m]`` (estimated IoU with the truth)."""
    support_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per image, share of the image's workers who drew each fused box ``[m]``."""
    agreement_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per image, mean IoU of each fused box's members with it ``[m]``."""
    assignment_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Per input box, the index of the fused box (in its image) it was matched to, or -1 (dropped)."""
    worker_iou_: np.ndarray | None = field(init=False, default=None, repr=False)
    worker_precision_: np.ndarray | None = field(init=False, default=None, repr=False)
    worker_recall_: np.ndarray | None = field(init=False, default=None, repr=False)
    reliability_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Per worker (`worker_ids` order): mean IoU x sqrt(precision x recall)."""
    annotations_: list[list[dict[str, int]]] = field(init=False, default_factory=list, repr=False)
    """Per image, Ground Truth's ``annotations`` list of {class_id, left, top, width, height} (ints)."""
    objects_: list[list[dict[str, float]]] = field(init=False, default_factory=list, repr=False)
    """Per image, Ground Truth's metadata ``objects`` list of {"confidence": x}, parallel to annotations_."""

    def __post_init__(self) -> None:
        if not 0 < self.iou_threshold <= 1:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if not 0 <= self.quorum < 1:
            raise ValueError(f"quorum must be in [0, 1), got {self.quorum}")
        if self.quorum_weighting not in ("count", "reliability"):
            raise ValueError(
                f"quorum_weighting must be 'count' or 'reliability', got {self.quorum_weighting!r}"
            )
        if self.fusion not in ("median", "mean"):
            raise ValueError(f"fusion must be 'median' or 'mean', got {self.fusion!r}")
        if self.n_rounds < 1:
            raise ValueError(f"n_rounds must be >= 1, got {self.n_rounds}")
        if not self.prior_strength > 0:
            raise ValueError(f"prior_strength must be > 0, got {self.prior_strength}")
        for name in ("prior_iou", "prior_rate"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0 <= self.single_worker_confidence <= 1:
            raise ValueError(
                f"single_worker_confidence must be in [0, 1], got {self.single_worker_confidence}"
            )

    # -- one image ---------------------------------------------------------------------------------------
    def _fuse(self, corners: np.ndarray, weights: np.ndarray) -> np.ndarray:
        if self.fusion == "median":
            return weighted_median(corners, weights)
        return (weights[:, None] * corners).sum(axis=0) / weights.sum()

    def _cluster_image(
        self, corners: np.ndarray, classes: np.ndarray, by_worker: list[np.ndarray], weight: np.ndarray
    ) -> np.ndarray:
        """Cluster label per box of one image (`by_worker`: box positions per worker, in visiting order)."""
        labels = np.full(corners.shape[0], -1, dtype=np.int64)
        sums = np.zeros((0, 4))
        mass = np.zeros(0)
        cen_cls = np.zeros(0, dtype=np.int64)
        for pos in by_worker:  # pass 1: sequential assignment against running weighted means
            if pos.shape[0] == 0:
                continue
            centres = sums / np.maximum(mass, 1e-300)[:, None]
            match = _assign(corners[pos], classes[pos], centres, cen_cls, self.iou_threshold)
            new = match < 0
            n_new = int(new.sum())
            match[new] = mass.shape[0] + np.arange(n_new)
            sums = np.concatenate([sums, np.zeros((n_new, 4))])
            mass = np.concatenate([mass, np.zeros(n_new)])
            cen_cls = np.concatenate([cen_cls, classes[pos][new]])
            w = weight[pos]
            np.add.at(sums, match, w[:, None] * corners[pos])
            np.add.at(mass, match, w)
            labels[pos] = match
        if labels.shape[0] == 0:
            return labels
        # pass 2: re-assign every worker against the fused boxes of pass 1 (order-independent)
        n_c = mass.shape[0]
        fused = np.stack([self._fuse(corners[labels == c], weight[labels == c]) for c in range(n_c)])
        out = np.full_like(labels, -1)
        n_extra = 0
        for pos in by_worker:
            if pos.shape[0] == 0:
                continue
            match = _assign(corners[pos], classes[pos], fused, cen_cls, self.iou_threshold)
            new = match < 0
            match[new] = n_c + n_extra + np.arange(int(new.sum()))
            n_extra += int(new.sum())
            out[pos] = match
        _, out = np.unique(out, return_inverse=True)
        return out.astype(np.int64).ravel()

    # -- fit ---------------------------------------------------------------------------------------------
    def fit(self, answers: BoxAnswers) -> Self:
        """Match, fuse and score the boxes of every image in `answers`; returns self."""
        n_img, n_wrk = answers.n_images, answers.n_workers
        reliability = np.ones(n_wrk)
        # boxes grouped by image, then worker (stable); submissions grouped by image
        box_order = np.lexsort((answers.workers, answers.images))
        box_start = np.searchsorted(answers.images[box_order], np.arange(n_img + 1))
        sub_order = np.lexsort((answers.sub_workers, answers.sub_images))
        sub_start = np.searchsorted(answers.sub_images[sub_order], np.arange(n_img + 1))
        result: tuple[Any, ...] = ()
        for _ in range(self.n_rounds):
            result = self._round(answers, reliability, box_order, box_start, sub_order, sub_start)
            stats = self._worker_stats(answers, result)
            reliability = stats[3]
        corners, classes, conf, support, agreement, assignment, kept_seen = result
        self.corners_, self.classes_, self.confidences_ = corners, classes, conf
        self.support_, self.agreement_, self.assignment_ = support, agreement, assignment
        self.worker_iou_, self.worker_precision_, self.worker_recall_, self.reliability_ = stats
        self.annotations_, self.objects_ = [], []
        for c, k, p in zip(corners, classes, conf, strict=True):
            xywh = corners_to_int_xywh(c)
            self.annotations_.append(
                [
                    {
                        "class_id": int(ki),
                        "left": int(b[0]),
                        "top": int(b[1]),
                        "width": int(b[2]),
                        "height": int(b[3]),
                    }
                    for ki, b in zip(k.tolist(), xywh.tolist(), strict=True)
                ]
            )
            self.objects_.append([{"confidence": round(float(x), 2)} for x in p.tolist()])
        return self

    def _round(
        self,
        answers: BoxAnswers,
        reliability: np.ndarray,
        box_order: np.ndarray,
        box_start: np.ndarray,
        sub_order: np.ndarray,
        sub_start: np.ndarray,
    ) -> tuple[Any, ...]:
        n_img = answers.n_images
        weight_of_box = np.maximum(reliability[answers.workers], 1e-6)
        assignment = np.full(answers.n_boxes, -1, dtype=np.int64)
        # per worker: kept clusters on the images it submitted (for recall)
        kept_seen = np.zeros(answers.n_workers)
        out_c: list[np.ndarray] = []
        out_k: list[np.ndarray] = []
        out_p: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        out_a: list[np.ndarray] = []
        beta0, beta1 = self.confidence_beta
        for i in range(n_img):
            bidx = box_order[box_start[i] : box_start[i + 1]]
            subs = answers.sub_workers[sub_order[sub_start[i] : sub_start[i + 1]]]
            n_sub = subs.shape[0]
            if bidx.shape[0] == 0:
                out_c.append(np.zeros((0, 4)))
                out_k.append(np.zeros(0, dtype=np.int64))
                for arr in (out_p, out_s, out_a):
                    arr.append(np.zeros(0))
                continue
            corners, classes, wk = answers.corners[bidx], answers.classes[bidx], answers.workers[bidx]
            w = weight_of_box[bidx]
            visit = sorted(np.unique(wk).tolist(), key=lambda x: (-reliability[x], x))
            by_worker = [np.flatnonzero(wk == x) for x in visit]
            labels = self._cluster_image(corners, classes, by_worker, w)
            n_c = int(labels.max()) + 1
            count = np.bincount(labels, minlength=n_c)
            if self.quorum_weighting == "count":
                keep = count > self.quorum * n_sub + 1e-9
            else:
                total = np.maximum(reliability[subs], 1e-6).sum()
                keep = np.bincount(labels, weights=w, minlength=n_c) > self.quorum * total + 1e-9
            kept = np.flatnonzero(keep)
            fused = np.zeros((kept.shape[0], 4))
            agree = np.zeros(kept.shape[0])
            cls_k = np.zeros(kept.shape[0], dtype=np.int64)
            remap = np.full(n_c, -1, dtype=np.int64)
            remap[kept] = np.arange(kept.shape[0])
            for j, c in enumerate(kept.tolist()):
                m = labels == c
                fused[j] = self._fuse(corners[m], w[m])
                agree[j] = paired_iou(corners[m], np.broadcast_to(fused[j], (int(m.sum()), 4))).mean()
                cls_k[j] = classes[m][0]
            support = count[kept] / max(n_sub, 1)
            if n_sub <= 1:
                conf = np.full(kept.shape[0], self.single_worker_confidence)
            else:
                p_real = 1.0 / (1.0 + np.exp(-(beta0 + beta1 * support)))
                conf = np.clip(agree**self.confidence_gamma * p_real, 0.0, 1.0)
            # sort output boxes left to right, then top to bottom (stable, reproducible order)
            order = np.lexsort((fused[:, 1], fused[:, 0])) if kept.shape[0] else np.zeros(0, dtype=np.int64)
            inv = np.empty_like(order)
            inv[order] = np.arange(order.shape[0])
            box_cluster = remap[labels]
            if kept.shape[0]:
                assignment[bidx] = np.where(box_cluster >= 0, inv[np.maximum(box_cluster, 0)], -1)
            kept_seen[subs] += kept.shape[0]
            out_c.append(fused[order])
            out_k.append(cls_k[order])
            out_p.append(conf[order])
            out_s.append(support[order])
            out_a.append(agree[order])
        return out_c, out_k, out_p, out_s, out_a, assignment, kept_seen

    def _worker_stats(self, answers: BoxAnswers, result: tuple[Any, ...]) -> tuple[np.ndarray, ...]:
        corners, _, _, _, _, assignment, kept_seen = result
        n_w = answers.n_workers
        matched = assignment >= 0
        iou = np.zeros(answers.n_boxes)
        if matched.any():
            # fused box of each matched input box
            offsets = np.concatenate([[0], np.cumsum([c.shape[0] for c in corners])])
            flat = np.concatenate(corners) if corners else np.zeros((0, 4))
            target = flat[offsets[answers.images[matched]] + assignment[matched]]
            iou[matched] = paired_iou(answers.corners[matched], target)
        n_boxes = np.bincount(answers.workers, minlength=n_w).astype(float)
        n_match = np.bincount(answers.workers, weights=matched.astype(float), minlength=n_w)
        iou_sum = np.bincount(answers.workers, weights=iou, minlength=n_w)
        s = self.prior_strength
        mean_iou = (iou_sum + s * self.prior_iou) / (n_match + s)
        precision = (n_match + s * self.prior_rate) / (n_boxes + s)
        recall = (n_match + s * self.prior_rate) / (kept_seen + s)
        recall = np.minimum(recall, 1.0)
        reliability = mean_iou * np.sqrt(precision * recall)
        return mean_iou, precision, recall, reliability
