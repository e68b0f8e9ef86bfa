"""Streaming consolidation: label newly complete objects of a job from its cached worker model (one vectorised
E-step), the model being refitted now and then from all of the job's answers.

The worker model is `core.adaptive.WorkerModel` (fitted by `adaptive.fit_worker_model`, with the default
method `auto` in the service); the service keeps one per job (see `adapters.job_models`). This module is the
labeling step and the conversion of stored rows into `Answers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quorum_consolidation.core.adaptive import WorkerModel, clamp_known, posteriors
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.side_info import KnownLabels

#: Posteriors within this of the best count as tied (then broken by a seeded generator).
_TIE_EPS = 1e-12


def label_with_model(
    model: WorkerModel, answers: Answers, seed: int = 0, known: KnownLabels | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels int64, confidences, posteriors) per object of `answers`: argmax of the model's (tempered,
    calibrated) posterior, exact ties broken by a generator seeded with `seed`; the confidence is the label's
    posterior. Known-answer objects (`known`) get their known class with confidence 1."""
    probas = clamp_known(posteriors(model, answers), known)
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
