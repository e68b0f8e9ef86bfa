"""Per-worker quality for structured task types from a consolidator fitted on a job (pure: models in).

Each structured core already learns how reliable each worker is while it consolidates; this module reads that
estimate off the fitted model as the worker's ``accuracy`` and adds an agreement measure with the consolidated
labels that needs no model. What the two numbers mean differs by task type, so every function returns them
with a one-line description (``ACCURACY_MEASURES`` / ``AGREEMENT_MEASURES``, shown by the console):

- bounding boxes (:class:`BoxConsolidator`): accuracy = its reliability, mean IoU of the worker's matched
  boxes with the fused boxes x sqrt(precision x recall) (each shrunk toward the core's priors); agreement =
  mean F1 per image of the worker's boxes against the consolidated boxes (a box matches when the core put it
  in a kept cluster: same class, IoU >= the core's threshold; an image where both are empty counts 1).
- named entities (:class:`SpanConsolidator`): accuracy = its reliability, label accuracy on matched spans x
  sqrt(precision x recall); agreement = mean F1 per text of exact spans (start, end, label) against the
  consolidated entities.
- semantic segmentation (:class:`SegmentationConsolidator`): accuracy = the core's per-worker pixel accuracy,
  the share of the worker's pixels equal to the consolidated mask (shrunk toward its prior by a few pixels);
  agreement = mean IoU with the consolidated mask per image, over the classes of the consolidated mask (a
  class only the worker drew counts through the IoU it takes from the others).
- multi-label (:class:`MultiLabelDawidSkene`): accuracy = mean over classes of the worker's expected
  per-class accuracy, rho_k x sensitivity_wk + (1 - rho_k) x specificity_wk; agreement = share of the
  worker's answers whose label set equals the consolidated set.
- label verification (:class:`VerificationConsolidator`, Dawid-Skene on the verdicts): the classification
  stats (expected accuracy sum_k prior_k x confusion[k, k], the confusion matrix over the verdict
  categories, share of verdicts equal to the consolidated verdict).
- custom templates: no worker model; accuracy = agreement = share of the worker's answers equal (as
  canonical JSON) to the object's majority answer.

Only verification has a confusion matrix; the other types return an empty one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quorum_consolidation.core.boxes import BoxAnswers, BoxConsolidator
from quorum_consolidation.core.custom import canonical_answer, consolidate_custom
from quorum_consolidation.core.multilabel import MultiLabelAnswers, MultiLabelDawidSkene
from quorum_consolidation.core.segmentation import SegmentationConsolidator
from quorum_consolidation.core.spans import SpanAnswers, SpanConsolidator
from quorum_consolidation.core.verification import VerificationConsolidator
from quorum_consolidation.core.worker_quality import WorkerStats, worker_stats

_EMPTY = np.zeros((0, 0))

#: What `accuracy` means, per kind of consolidator.
ACCURACY_MEASURES = {
    "boxes": "box reliability: mean IoU with the consolidated boxes x sqrt(precision x recall)",
    "spans": "span reliability: label accuracy on matched spans x sqrt(precision x recall)",
    "segmentation": "pixel accuracy: share of the worker's pixels equal to the consolidated mask",
    "multilabel": "mean per-class accuracy under the per-class model: "
    "prior x sensitivity + (1 - prior) x specificity",
    "verification": "expected accuracy of the verdicts under Dawid-Skene: "
    "sum over verdicts of prior x P(right verdict)",
    "custom": "share of answers equal to the majority answer (custom templates have no worker model)",
}
#: What `agreement` means, per kind of consolidator.
AGREEMENT_MEASURES = {
    "boxes": "mean F1 per image against the consolidated boxes "
    f"(same class, IoU >= {BoxConsolidator.iou_threshold:g})",
    "spans": "mean F1 per text of exact spans (start, end, label) against the consolidated entities",
    "segmentation": "mean IoU per image with the consolidated mask (over its classes)",
    "multilabel": "share of answers whose label set equals the consolidated set",
    "verification": "share of verdicts equal to the consolidated verdict",
    "custom": "share of answers equal to the majority answer",
}


def _f1(matched: np.ndarray, n_mine: np.ndarray, n_consensus: np.ndarray) -> np.ndarray:
    """Per submission: 2m / (mine + consensus), 1 where both are empty."""
    total = n_mine + n_consensus
    return np.where(total > 0, 2.0 * matched / np.maximum(total, 1), 1.0)


def _sorted_stats(
    worker_ids: Sequence[Any], answers: np.ndarray, accuracy: np.ndarray, agreement: np.ndarray
) -> list[WorkerStats]:
    ids = [str(w) for w in worker_ids]
    order = sorted(range(len(ids)), key=lambda i: (-int(answers[i]), ids[i]))
    return [
        WorkerStats(
            worker_id=ids[i],
            answers=int(answers[i]),
            accuracy=float(accuracy[i]),
            confusion=_EMPTY,
            agreement=float(agreement[i]),
        )
        for i in order
        if answers[i] > 0
    ]


def box_worker_stats(model: BoxConsolidator, answers: BoxAnswers) -> list[WorkerStats]:
    """Per worker of `answers` (on which `model` was fitted); `answers` = images the worker submitted."""
    if model.reliability_ is None or model.assignment_ is None:
        raise RuntimeError("BoxConsolidator is not fitted; call fit() first")
    n_w = answers.n_workers
    sub = answers.sub_images * n_w + answers.sub_workers
    box_sub = answers.images * n_w + answers.workers
    size = answers.n_images * n_w
    n_mine = np.bincount(box_sub, minlength=size)[sub]
    matched = np.bincount(box_sub, weights=(model.assignment_ >= 0).astype(float), minlength=size)[sub]
    n_consensus = np.asarray([c.shape[0] for c in model.corners_], dtype=float)[answers.sub_images]
    f1 = _f1(matched, n_mine, n_consensus)
    n_subs = np.bincount(answers.sub_workers, minlength=n_w)
    agreement = np.bincount(answers.sub_workers, weights=f1, minlength=n_w) / np.maximum(n_subs, 1)
    return _sorted_stats(answers.worker_ids.tolist(), n_subs, model.reliability_, agreement)


def span_worker_stats(model: SpanConsolidator, answers: SpanAnswers) -> list[WorkerStats]:
    """Per worker of `answers` (on which `model` was fitted); `answers` = texts the worker submitted."""
    if model.reliability_ is None:
        raise RuntimeError("SpanConsolidator is not fitted; call fit() first")
    n_w = answers.n_workers
    mine: dict[tuple[int, int], set[tuple[int, int, int]]] = {}
    for t, w, s, e, lab in zip(
        answers.texts.tolist(),
        answers.workers.tolist(),
        answers.starts.tolist(),
        answers.ends.tolist(),
        answers.labels.tolist(),
        strict=True,
    ):
        mine.setdefault((t, w), set()).add((int(s), int(e), int(lab)))
    consensus = [{tuple(int(v) for v in row) for row in sp.tolist()} for sp in model.spans_]
    n_subs = np.bincount(answers.sub_workers, minlength=n_w)
    f1_sum = np.zeros(n_w)
    for t, w in zip(answers.sub_texts.tolist(), answers.sub_workers.tolist(), strict=True):
        a, c = mine.get((t, w), set()), consensus[t]
        f1_sum[w] += float(_f1(np.asarray(len(a & c)), np.asarray(len(a)), np.asarray(len(c))))
    return _sorted_stats(
        answers.worker_ids.tolist(), n_subs, model.reliability_, f1_sum / np.maximum(n_subs, 1)
    )


def _mean_iou(mask: np.ndarray, consensus: np.ndarray, n_classes: int) -> float:
    a = mask.ravel() * n_classes + consensus.ravel()
    joint = np.bincount(a, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    inter = np.diag(joint).astype(float)
    union = joint.sum(axis=0) + joint.sum(axis=1) - inter
    present = joint.sum(axis=0) > 0  # classes of the consolidated mask
    return float((inter[present] / union[present]).mean()) if present.any() else 1.0


def segmentation_worker_stats(
    model: SegmentationConsolidator, images: Sequence[Sequence[tuple[Any, np.ndarray]]]
) -> list[WorkerStats]:
    """Per worker of `images` (the (worker_id, mask) lists `model` was fitted on); `answers` = masks."""
    if model.accuracy_ is None or model.worker_ids_ is None:
        raise RuntimeError("SegmentationConsolidator is not fitted; call fit() first")
    index = {w: i for i, w in enumerate(model.worker_ids_.tolist())}
    n_w = len(index)
    n = np.zeros(n_w, dtype=np.int64)
    iou_sum = np.zeros(n_w)
    for image, consensus in zip(images, model.labels_, strict=True):
        for worker, mask in image:
            i = index[worker]
            n[i] += 1
            iou_sum[i] += _mean_iou(np.asarray(mask, dtype=np.int64), consensus, model.n_classes)
    return _sorted_stats(model.worker_ids_.tolist(), n, model.accuracy_, iou_sum / np.maximum(n, 1))


def multilabel_worker_stats(model: MultiLabelDawidSkene, answers: MultiLabelAnswers) -> list[WorkerStats]:
    """Per worker of `answers` (on which `model` was fitted); `answers` = objects the worker answered."""
    if model.sensitivity_ is None or model.specificity_ is None or model.class_priors_ is None:
        raise RuntimeError("MultiLabelDawidSkene is not fitted; call fit() first")
    rho = model.class_priors_[None, :]
    accuracy = (rho * model.sensitivity_ + (1 - rho) * model.specificity_).mean(axis=1)
    n_w, k = answers.n_workers, len(answers.categories)
    consensus = np.zeros((answers.n_objects, k), dtype=bool)
    for i, labels in enumerate(model.labels_):
        consensus[i, labels] = True
    same = (answers.chosen == consensus[answers.objects]).all(axis=1)
    n = np.bincount(answers.workers, minlength=n_w)
    agreement = np.bincount(answers.workers, weights=same.astype(float), minlength=n_w) / np.maximum(n, 1)
    return _sorted_stats(answers.worker_ids.tolist(), n, accuracy, agreement)


def verification_worker_stats(model: VerificationConsolidator) -> list[WorkerStats]:
    """The classification stats of the Dawid-Skene model `model` fitted on the verdicts (with confusions)."""
    if model.model_ is None or model.answers_ is None:
        raise RuntimeError("VerificationConsolidator is not fitted; call fit() first")
    return worker_stats(model.model_, model.answers_)


def custom_worker_stats(objects: Sequence[Sequence[tuple[str, dict[str, Any]]]]) -> list[WorkerStats]:
    """`objects`: per object, its (worker_id, answer) pairs in submission order (the custom consolidation's
    input); a worker agrees when its answer is the object's majority answer."""
    n: dict[str, int] = {}
    agree: dict[str, int] = {}
    for answers in objects:
        if not answers:
            continue
        majority = canonical_answer(consolidate_custom(answers).majority)
        for worker, answer in answers:
            n[worker] = n.get(worker, 0) + 1
            agree[worker] = agree.get(worker, 0) + (canonical_answer(answer) == majority)
    ids = sorted(n)
    counts = np.asarray([n[w] for w in ids], dtype=np.int64)
    share = np.asarray([agree[w] / n[w] for w in ids], dtype=float)
    return _sorted_stats(ids, counts, share, share)
