"""Per-worker quality estimates from a fitted aggregation method (pure: answers and a model in, stats out).

Every method yields, per worker: the number of answers, a K x K confusion matrix (row = true class), the
expected accuracy under the model ``sum_k prior_k * confusion[k, k]`` and the share of the worker's answers
that equal the consolidated label. Where the method has its own worker model it is used as is (Dawid-Skene
and its one-coin and automatic variants, MACE); otherwise (GLAD) the confusion is the worker's expected
answer counts under the posteriors, and for majority vote the empirical confusion against the majority
labels, with accuracy = agreement with the majority (majority vote has no per-worker model).

Jobs with known-answer (gold) objects: methods that take known answers (`auto`, `ds`, `one_coin_ds`, GLAD,
MACE) are fitted with them clamped, and every worker's observed accuracy on the known-answer objects is
reported beside the model's estimate (`WorkerStats.known_answers`, `known_accuracy`).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quorum_consolidation.core.adaptive import ADAPTIVE_DS_PARAMS
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.auto import AutoDawidSkene
from quorum_consolidation.core.base import BaseClassificationAggregator
from quorum_consolidation.core.mace import MACE
from quorum_consolidation.core.majority_vote import MajorityVote
from quorum_consolidation.core.registry import make_aggregator
from quorum_consolidation.core.side_info import KnownLabels
from quorum_consolidation.core.streaming import answers_for

#: Method reported when a request names none.
DEFAULT_METHOD = "ds"

#: What `accuracy` and `agreement` mean for classification jobs (structured types: core.structured_quality).
CLASSIFICATION_ACCURACY = (
    "expected accuracy under the worker model: sum over classes of prior x P(right answer)"
)
MV_ACCURACY = "share of answers equal to the majority label (majority vote has no worker model)"
CLASSIFICATION_AGREEMENT = "share of answers equal to the consolidated label"


@dataclass(frozen=True, eq=False)
class WorkerStats:
    worker_id: str
    answers: int
    accuracy: float
    confusion: np.ndarray  # float64 [K, K], row = true class, rows sum to 1
    agreement: float  # share of the worker's answers equal to the consolidated label
    known_answers: int = 0  # answers to known-answer objects
    known_accuracy: float = 0.0  # share of those equal to the known class (0 when known_answers is 0)


def _soft_confusions(answers: Answers, truth: np.ndarray) -> np.ndarray:
    """Row-normalised expected counts ``[W, K, K]``: ``N_w[c, l] = sum_{i: y_iw = l} truth[i, c]``.

    A row without mass (the worker never saw an object of that class) takes the pooled row of all workers,
    or uniform when nobody did."""
    k, w = answers.n_classes, answers.n_workers
    cell = answers.workers * k + answers.classes
    counts = np.empty((w, k, k))
    for c in range(k):
        counts[:, c, :] = np.bincount(cell, weights=truth[answers.objects, c], minlength=w * k).reshape(w, k)
    pooled = counts.sum(axis=0)
    pooled_mass = pooled.sum(axis=1, keepdims=True)
    pooled = np.where(pooled_mass > 0, pooled / np.where(pooled_mass > 0, pooled_mass, 1.0), 1.0 / k)
    mass = counts.sum(axis=2, keepdims=True)
    empty = mass <= 0
    out = counts / np.where(empty, 1.0, mass)
    return np.where(empty, pooled[None], out)


def _model_confusions(model: BaseClassificationAggregator) -> np.ndarray | None:
    """The method's own per-worker confusion matrices ``[W, K, K]``, if it has any."""
    if isinstance(model, AutoDawidSkene):
        return None if model.model_ is None else _model_confusions(model.model_)
    if isinstance(model, MACE):
        if model.spamming_ is None or model.strategies_ is None:
            return None
        theta, xi = model.spamming_, model.strategies_
        k = xi.shape[1]
        return (1.0 - theta)[:, None, None] * np.eye(k)[None] + theta[:, None, None] * xi[:, None, :]
    conf = getattr(model, "confusions_", None)
    return None if conf is None else np.asarray(conf, dtype=np.float64)


def _class_prior(model: BaseClassificationAggregator, truth: np.ndarray) -> np.ndarray:
    inner = model.model_ if isinstance(model, AutoDawidSkene) else model
    prior = getattr(inner, "priors_", None)
    if prior is None:
        prior = truth.mean(axis=0)
    prior = np.asarray(prior, dtype=np.float64)
    return prior / prior.sum()


def worker_stats(model: BaseClassificationAggregator, answers: Answers) -> list[WorkerStats]:
    """Per worker of `answers` (on which `model` was fitted), sorted by answers desc then worker id."""
    if model.labels_ is None or model.probas_ is None:
        raise RuntimeError(f"{type(model).__name__} is not fitted; call fit() first")
    if answers.n_answers == 0:
        return []
    k, w = answers.n_classes, answers.n_workers
    labels = model.labels_
    n = np.bincount(answers.workers, minlength=w).astype(np.int64)
    agree = np.bincount(
        answers.workers, weights=(answers.classes == labels[answers.objects]).astype(np.float64), minlength=w
    ) / np.maximum(n, 1)

    hard = np.eye(k)[labels]
    if isinstance(model, MajorityVote):
        conf = _soft_confusions(answers, hard)
        accuracy = agree
    else:
        conf = _model_confusions(model)
        if conf is None:
            conf = _soft_confusions(answers, model.probas_)
        prior = _class_prior(model, model.probas_)
        accuracy = np.einsum("k,wkk->w", prior, conf)

    ids = [str(v) for v in answers.worker_ids.tolist()]
    order = sorted(range(w), key=lambda i: (-int(n[i]), ids[i]))
    return [
        WorkerStats(
            worker_id=ids[i],
            answers=int(n[i]),
            accuracy=float(accuracy[i]),
            confusion=conf[i],
            agreement=float(agree[i]),
        )
        for i in order
    ]


def method_params(method: str) -> Mapping[str, Any] | None:
    """Parameters a method is fitted with for worker quality: Dawid-Skene as the streaming job model."""
    return ADAPTIVE_DS_PARAMS if method == "ds" else None


def check_method(method: str) -> None:
    """Raises ConsolidationInputError (reason "unknown_method") for a method the registry lacks."""
    make_aggregator(method, method_params(method))


def fit_worker_quality(
    answers: Answers, method: str = DEFAULT_METHOD, known: KnownLabels | None = None
) -> list[WorkerStats]:
    """Fit `method` (from the registry) on a job's answers and return its per-worker stats; with `known`
    (known-answer objects), methods that take them are fitted with them clamped and every worker's accuracy
    on them is added."""
    model = make_aggregator(method, method_params(method))
    if known is not None and known.objects.shape[0] and "known" in inspect.signature(model.fit).parameters:
        model.fit(answers, known=known)  # type: ignore[call-arg]
    else:
        model.fit(answers)
    stats = worker_stats(model, answers)
    if known is None or known.objects.shape[0] == 0:
        return stats
    n_known, right = known_answer_counts(answers, known)
    index = {str(w): i for i, w in enumerate(answers.worker_ids.tolist())}
    return [
        dataclasses.replace(
            s,
            known_answers=int(n_known[index[s.worker_id]]),
            known_accuracy=float(right[index[s.worker_id]] / max(n_known[index[s.worker_id]], 1)),
        )
        for s in stats
    ]


def known_answer_counts(answers: Answers, known: KnownLabels) -> tuple[np.ndarray, np.ndarray]:
    """Per worker of `answers`: how many known-answer objects they answered, and how many of those with
    the known class (int64 [W] each)."""
    truth = np.full(answers.n_objects, -1, dtype=np.int64)
    truth[known.objects] = known.classes
    on_known = truth[answers.objects] >= 0
    right = on_known & (answers.classes == truth[answers.objects])
    w = answers.n_workers
    return (
        np.bincount(answers.workers[on_known], minlength=w).astype(np.int64),
        np.bincount(answers.workers[right], minlength=w).astype(np.int64),
    )


def dominant_categories(category_sets: Iterable[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The category set most answers were given under (a job normally has one); None for no answers."""
    counts = Counter(category_sets)
    if not counts:
        return None
    return max(counts.items(), key=lambda item: (item[1], item[0]))[0]


@dataclass(frozen=True, eq=False)
class JobWorkerQuality:
    method: str  # the aggregation method; for structured task types, the task type
    categories: tuple[str, ...]
    workers: list[WorkerStats]
    accuracy_measure: str = CLASSIFICATION_ACCURACY  # what WorkerStats.accuracy means
    agreement_measure: str = CLASSIFICATION_AGREEMENT  # what WorkerStats.agreement means
    task_type: str = ""  # the job's task type, where the caller knows it
    known_objects: int = 0  # known-answer objects with answers (their stats are in WorkerStats.known_*)


def job_worker_quality(
    object_ids: Sequence[Any],
    worker_ids: Sequence[str],
    labels: Sequence[str],
    categories: Sequence[tuple[str, ...]],
    method: str = DEFAULT_METHOD,
    known: Mapping[Any, str] | None = None,
) -> JobWorkerQuality | None:
    """Worker quality from a job's stored answers (parallel columns, with each answer's category set).

    Fits on the answers given under the job's dominant category set (labels outside it are dropped);
    None when no usable answer is left. `known`: the known class of the job's known-answer objects (by
    object id). Raises ConsolidationInputError for an unknown method."""
    method = method or DEFAULT_METHOD
    check_method(method)
    cats = dominant_categories(categories)
    if cats is None:
        return None
    keep = [i for i, c in enumerate(categories) if c == cats]
    answers = answers_for(
        [object_ids[i] for i in keep], [worker_ids[i] for i in keep], [labels[i] for i in keep], cats
    )
    if answers.n_answers == 0:
        return None
    usable = {oid: label for oid, label in (known or {}).items() if label in cats}
    known_labels = KnownLabels.from_ids(answers, usable) if usable else None
    return JobWorkerQuality(
        method=method,
        categories=cats,
        workers=fit_worker_quality(answers, method, known_labels),
        accuracy_measure=MV_ACCURACY if method == "mv" else CLASSIFICATION_ACCURACY,
        known_objects=0 if known_labels is None else int(known_labels.objects.shape[0]),
    )


@dataclass(frozen=True)
class TeamWorkerStats:
    """One worker over a team's jobs: answers summed, accuracy and agreement weighted by answers per job."""

    worker_id: str
    answers: int
    jobs: int
    accuracy: float
    agreement: float
    known_answers: int = 0  # answers to known-answer objects, over the jobs
    known_accuracy: float = 0.0  # share of those equal to the known class (0 when known_answers is 0)


def team_worker_quality(reports: Iterable[JobWorkerQuality]) -> list[TeamWorkerStats]:
    """Combine per-job worker estimates into one line per worker, most answers first.

    Jobs can have different categories, so confusion matrices are not pooled; a job's estimate of a worker
    counts in proportion to the answers the worker gave in it (a handful of answers in one job hardly moves an
    estimate built on hundreds in others). Known-answer accuracy is observed, not estimated: it is pooled over
    the worker's answers to known-answer objects in every job."""
    answers: Counter[str] = Counter()
    jobs: Counter[str] = Counter()
    known: Counter[str] = Counter()
    acc_sum: dict[str, float] = {}
    agree_sum: dict[str, float] = {}
    known_right: dict[str, float] = {}
    for report in reports:
        for w in report.workers:
            answers[w.worker_id] += w.answers
            jobs[w.worker_id] += 1
            acc_sum[w.worker_id] = acc_sum.get(w.worker_id, 0.0) + w.accuracy * w.answers
            agree_sum[w.worker_id] = agree_sum.get(w.worker_id, 0.0) + w.agreement * w.answers
            known[w.worker_id] += w.known_answers
            known_right[w.worker_id] = known_right.get(w.worker_id, 0.0) + w.known_accuracy * w.known_answers
    return [
        TeamWorkerStats(
            worker_id=worker,
            answers=n,
            jobs=jobs[worker],
            accuracy=acc_sum[worker] / n,
            agreement=agree_sum[worker] / n,
            known_answers=known[worker],
            known_accuracy=known_right[worker] / known[worker] if known[worker] else 0.0,
        )
        for worker, n in sorted(answers.items(), key=lambda item: (-item[1], item[0]))
        if n > 0
    ]
