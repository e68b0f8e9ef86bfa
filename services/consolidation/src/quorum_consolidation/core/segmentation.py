"""Semantic segmentation: reliability-weighted per-pixel votes, spatially smoothed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from scipy.ndimage import uniform_filter

from quorum_consolidation.core.answers import ConsolidationInputError

#: One image's answers: (worker_id, mask) pairs, each mask an int array [H, W] of class indices.
ImageMasks = Sequence[tuple[Any, np.ndarray]]


@dataclass
class SegmentationConsolidator:
    r"""Consolidate semantic-segmentation masks (Ground Truth's semantic-segmentation output).

    Each pixel is a K-class classification with the workers' masks as votes (Ground Truth's documented
    view). Per image, with one-hot masks :math:`M_w \in \{0,1\}^{K \times H \times W}` and worker weights
    :math:`v_w`, the vote map :math:`V = \sum_w v_w M_w` is smoothed by a `smoothing` x `smoothing` box
    filter per class (scipy.ndimage.uniform_filter; borders reflect), so isolated disagreeing pixels follow
    their neighbourhood; the pixel posterior is :math:`P = \tilde V / \sum_k \tilde V_k` and the label its
    argmax (ties to the lowest class index). Worker weights (`n_rounds` rounds): accuracy :math:`a_w` = the
    share of the worker's pixels, over all its images, that agree with the consensus, smoothed by
    `prior_pixels` pseudo-pixels at `prior_accuracy`; weight = one-coin log-odds
    :math:`\log\frac{a_w (K-1)}{1-a_w}`, floored at `min_weight` (a worker at chance counts for little).
    Confidence per image = mean posterior of the chosen class; 0 when one worker labelled the image
    (Ground Truth writes 0 then).

    A. P. Dawid and A. M. Skene, JRSS C 28(1), 1979 (votes weighted by estimated reliability); the spatial
    prior as a simple smoothing of the vote field, cf. D. Tkachenko et al., Crowd-Kit (SegmentationEM), 2021.
    """

    n_classes: int
    """K: number of classes (mask values lie in [0, K))."""
    smoothing: int = 3
    """Side of the box filter applied to each class's vote map (1 = no smoothing)."""
    n_rounds: int = 3
    """Rounds of voting + reliability re-estimation (1 = unweighted)."""
    prior_accuracy: float = 0.8
    """Prior pixel accuracy of a worker."""
    prior_pixels: float = 100.0
    """Weight of that prior, in pixels."""
    min_weight: float = 0.05
    """Smallest weight of a worker."""
    single_worker_confidence: float = 0.0
    """Confidence of an image only one worker labelled."""

    labels_: list[np.ndarray] = field(init=False, default_factory=list, repr=False)
    """Per image, the consolidated mask ``[H, W]`` int64."""
    confidences_: list[float] = field(init=False, default_factory=list, repr=False)
    """Per image, the mean posterior of the chosen class."""
    worker_ids_: np.ndarray | None = field(init=False, default=None, repr=False)
    """Sorted worker ids; the order of `accuracy_` and `weights_`."""
    accuracy_: np.ndarray | None = field(init=False, default=None, repr=False)
    weights_: np.ndarray | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if self.smoothing < 1 or self.smoothing % 2 == 0:
            raise ValueError(f"smoothing must be an odd integer >= 1, got {self.smoothing}")
        if self.n_rounds < 1:
            raise ValueError(f"n_rounds must be >= 1, got {self.n_rounds}")
        if not 1.0 / self.n_classes < self.prior_accuracy < 1:
            raise ValueError(f"prior_accuracy must be in (1/n_classes, 1), got {self.prior_accuracy}")
        if not self.min_weight > 0:
            raise ValueError(f"min_weight must be > 0, got {self.min_weight}")

    def _validate(
        self, images: Sequence[ImageMasks]
    ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
        ids: list[Any] = []
        stacks: list[np.ndarray] = []
        for i, image in enumerate(images):
            if len(image) == 0:
                raise ConsolidationInputError(f"image {i} has no masks", reason="no_answers")
            masks = [np.asarray(m) for _, m in image]
            shape = masks[0].shape
            if len(shape) != 2 or any(m.shape != shape for m in masks):
                raise ConsolidationInputError(
                    f"image {i}: masks must be 2-D and of one shape, got {[m.shape for m in masks]}",
                    reason="mask_shape",
                )
            stack = np.stack(masks)
            if not np.issubdtype(stack.dtype, np.integer):
                raise ConsolidationInputError(f"image {i}: masks must be integer arrays", reason="mask_dtype")
            if stack.size and (stack.min() < 0 or stack.max() >= self.n_classes):
                raise ConsolidationInputError(
                    f"image {i}: mask values must lie in [0, {self.n_classes}), got "
                    f"[{stack.min()}, {stack.max()}]",
                    reason="unknown_label",
                )
            wids = [w for w, _ in image]
            if len(set(wids)) != len(wids):
                raise ConsolidationInputError(
                    f"image {i}: a worker submitted more than one mask", reason="duplicate_answer"
                )
            ids.extend(wids)
            stacks.append(stack.astype(np.int64))
        worker_ids = np.unique(np.asarray(ids)) if ids else np.zeros(0)
        index = [np.searchsorted(worker_ids, np.asarray([w for w, _ in image])) for image in images]
        return stacks, index, worker_ids

    def fit(self, images: Sequence[ImageMasks]) -> Self:
        """Consolidate every image's masks; `images[i]` is a list of (worker_id, mask) pairs."""
        stacks, index, worker_ids = self._validate(images)
        k, n_w = self.n_classes, worker_ids.shape[0]
        weights = np.ones(n_w)
        accuracy = np.full(n_w, self.prior_accuracy)
        labels: list[np.ndarray] = []
        confs: list[float] = []
        for _ in range(self.n_rounds):
            agree = np.zeros(n_w)
            pixels = np.zeros(n_w)
            labels, confs = [], []
            for stack, widx in zip(stacks, index, strict=True):
                onehot = stack[:, None, :, :] == np.arange(k)[None, :, None, None]  # [n, K, H, W]
                votes = np.tensordot(weights[widx], onehot, axes=(0, 0))  # [K, H, W]
                if self.smoothing > 1:
                    votes = uniform_filter(votes, size=(1, self.smoothing, self.smoothing), mode="reflect")
                post = votes / np.maximum(votes.sum(axis=0, keepdims=True), 1e-300)
                label = np.argmax(post, axis=0)
                labels.append(label)
                if stack.shape[0] <= 1:
                    confs.append(self.single_worker_confidence)
                else:
                    confs.append(
                        float(np.take_along_axis(post, label[None], axis=0).mean()) if label.size else 0.0
                    )
                np.add.at(agree, widx, (stack == label[None]).reshape(stack.shape[0], -1).sum(axis=1))
                np.add.at(pixels, widx, label.size)
            accuracy = (agree + self.prior_pixels * self.prior_accuracy) / (pixels + self.prior_pixels)
            acc = np.clip(accuracy, 1e-6, 1 - 1e-6)
            weights = np.maximum(np.log(acc * (k - 1) / (1 - acc)), self.min_weight)
        self.labels_, self.confidences_ = labels, confs
        self.worker_ids_, self.accuracy_, self.weights_ = worker_ids, accuracy, weights
        return self

    def internal_color_map(
        self, image: int, class_names: Sequence[str], hex_colors: Sequence[str]
    ) -> dict[str, Any]:
        """Ground Truth's ``internal-color-map`` for image `image`: every class, one confidence per image."""
        if len(class_names) != self.n_classes or len(hex_colors) != self.n_classes:
            raise ValueError(
                f"need {self.n_classes} class names and colours, got {len(class_names)}, {len(hex_colors)}"
            )
        conf = round(float(self.confidences_[image]), 2)
        return {
            str(j): {"class-name": n, "confidence": conf, "hex-color": c}
            for j, (n, c) in enumerate(zip(class_names, hex_colors, strict=True))
        }
