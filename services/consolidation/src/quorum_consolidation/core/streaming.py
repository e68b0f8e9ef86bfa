"""Streaming consolidation with a job-level worker model: fit Dawid-Skene on a job's answers once, then label
newly complete objects from the cached confusion matrices (one vectorised E-step), refitting now and then.

The service keeps one `WorkerModel` per job (see `adapters.job_models`); this module is the numerics only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.dawid_skene import DawidSkene

#: Dawid-Skene's settings for streaming fits: mild hierarchical priors so that workers with few answers
#: shrink toward the population (and toward their own MACE form, which K-class jobs need), a small belief that
#: workers beat chance, and a smoothed class prior. `AutoDawidSkene` starts its search at the same (s, u).
STREAMING_DS_PARAMS: Mapping[str, Any] = {
    "population_prior": 4.0,
    "spam_prior": 2.0,
    "diagonal_prior": 1.0,
    "class_prior": 1.0,
    "n_iter": 50,
    "tol": 1e-5,
}

#: Fallback rule: Dawid-Skene is fitted only when the job has at least this many objects with two or more
#: answers (worker confusions are identified by answers that overlap on an object); below that, majority vote.
MIN_OVERLAP_OBJECTS = 2

#: Posteriors within this of the best count as tied (then broken by a seeded generator).
_TIE_EPS = 1e-12


def overlap_objects(answers: Answers) -> int:
    """How many objects have two or more answers."""
    return int((answers.answer_counts() >= 2).sum())


def can_fit(answers: Answers) -> bool:
    return overlap_objects(answers) >= MIN_OVERLAP_OBJECTS


@dataclass(frozen=True, eq=False)
class WorkerModel:
    """A fitted job-level Dawid-Skene model: what labeling one more object needs."""

    categories: tuple[str, ...]
    worker_index: Mapping[Any, int]  # worker id -> row of `log_confusions`
    log_confusions: np.ndarray  # [W, K, K], row = true class
    log_prior: np.ndarray  # [K]
    log_population: np.ndarray  # [K, K], for workers the fit has not seen
    n_answers: int  # answers the model was fitted on
    fitted_at: float = field(default_factory=time.monotonic)  # time.monotonic() of the fit

    @property
    def n_workers(self) -> int:
        return int(self.log_confusions.shape[0])


def fit_worker_model(answers: Answers, params: Mapping[str, Any] | None = None) -> WorkerModel:
    """Fit `DawidSkene(**params)` (default `STREAMING_DS_PARAMS`) on all of a job's answers."""
    ds = DawidSkene(**dict(STREAMING_DS_PARAMS if params is None else params))
    ds.fit(answers)
    k = answers.n_classes
    if ds.confusions_ is None or ds.priors_ is None:  # no answers: an uninformative model
        conf = np.zeros((0, k, k))
        prior = np.full(k, 1.0 / k)
    else:
        conf, prior = ds.confusions_, ds.priors_
    population = ds.population_
    if population is None:  # population_prior == 0: the workers' mean matrix
        population = conf.mean(axis=0) if conf.shape[0] else np.full((k, k), 1.0 / k)
    population = np.maximum(population, 1e-10)
    population = population / population.sum(axis=1, keepdims=True)
    return WorkerModel(
        categories=answers.categories,
        worker_index={w: i for i, w in enumerate(answers.worker_ids.tolist())},
        log_confusions=np.log(np.maximum(conf, 1e-300)),
        log_prior=np.log(np.maximum(prior, 1e-300)),
        log_population=np.log(population),
        n_answers=answers.n_answers,
    )


def posteriors(model: WorkerModel, answers: Answers) -> np.ndarray:
    """Per object of `answers` (in its `object_ids` order), the posterior ``[n_objects, K]`` under the cached
    model: ``p(z=c) ∝ prior_c * prod_w pi_w[c, y_w]``; a worker the model has not seen answers with the
    population matrix. One gather and K bincounts, no loop over answers."""
    k = answers.n_classes
    if tuple(answers.categories) != model.categories:
        raise ValueError("answers' categories differ from the model's")
    index = np.array([model.worker_index.get(w, -1) for w in answers.worker_ids.tolist()], dtype=np.int64)
    # Stack the population matrix as one more "worker" row so unseen workers index it.
    table = np.concatenate([model.log_confusions, model.log_population[None]], axis=0)
    rows = index[answers.workers]
    rows[rows < 0] = table.shape[0] - 1
    columns = table[rows, :, answers.classes]  # [m, K]: log pi_w[c, y] for every class c
    n = answers.n_objects
    logits = np.empty((n, k))
    for c in range(k):
        logits[:, c] = np.bincount(answers.objects, weights=columns[:, c], minlength=n)
    logits += model.log_prior
    logits -= logits.max(axis=1, keepdims=True)
    probas = np.exp(logits)
    probas /= probas.sum(axis=1, keepdims=True)
    return probas


def label_with_model(
    model: WorkerModel, answers: Answers, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels int64, confidences, posteriors) per object: argmax of the posterior, exact ties broken by a
    generator seeded with `seed`; the confidence is the label's posterior."""
    probas = posteriors(model, answers)
    top = probas >= probas.max(axis=1, keepdims=True) - _TIE_EPS
    noise = np.random.default_rng(seed).random(probas.shape)
    labels = np.argmax(np.where(top, noise, -1.0), axis=1).astype(np.int64)
    return labels, probas[np.arange(labels.shape[0]), labels], probas


def answers_for(
    object_ids: Sequence[Any], worker_ids: Sequence[Any], labels: Sequence[str], categories: Sequence[str]
) -> Answers:
    """`Answers.from_arrays`, dropping answers whose label is not in `categories` (a job's stored answers
    may include events from another category set)."""
    cats = tuple(categories)
    lab = np.asarray(labels, dtype=object)
    keep = np.isin(lab.astype(str), np.asarray(cats, dtype=str)) if lab.shape[0] else np.zeros(0, bool)
    return Answers.from_arrays(
        np.asarray(object_ids)[keep],
        np.asarray(worker_ids, dtype=object)[keep].astype(str),
        lab[keep].astype(str),
        cats,
    )
