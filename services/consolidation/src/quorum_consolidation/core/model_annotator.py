"""The automated-labeling model as one more annotator of a classification job (pure).

When the jobs loop sends an object to humans, the model of that iteration has already predicted its class,
before any human saw it: an independent opinion. It comes with the object's answer events
(`AnswerSubmitted.model_label`) and is stored as one answer of the pseudo-worker `MODEL_WORKER_ID`, so that
every worker model (Dawid-Skene, `auto`, ...) learns its confusion matrix like any worker's and weighs it
accordingly. It is never a human answer: it does not count towards an object's required or minimum answers,
nor in a label's `answer_count` / `worker_ids` (the helpers below take it out), and no team prior is kept
for it (it is a different model in every job).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from quorum_consolidation.core.answers import Answers

#: The worker id of the automated-labeling model's answers (reserved: a human answer under it is refused).
MODEL_WORKER_ID = "quorum-model"


def is_model(worker_id: str) -> bool:
    return worker_id == MODEL_WORKER_ID


def model_answer_id(job_id: str, object_id: int) -> str:
    """The answer id of the object's model answer: the same for every event that carries it (at most 64
    characters), so replays and duplicates store it once."""
    digest = hashlib.sha256(f"{job_id}\x00{object_id}".encode()).hexdigest()
    return f"{MODEL_WORKER_ID}:{digest[:40]}"


def human_workers(worker_ids: Iterable[str]) -> list[str]:
    """`worker_ids` without the model (in order)."""
    return [w for w in worker_ids if not is_model(w)]


def human_answer_counts(answers: Answers) -> np.ndarray:
    """Human answers per object of `answers` (its `answer_counts` without the model's), int64 [n_objects]."""
    counts = answers.answer_counts()
    hit = np.flatnonzero(answers.worker_ids.astype(str) == MODEL_WORKER_ID) if answers.n_workers else []
    if len(hit) == 0:
        return counts
    from_model = np.bincount(answers.objects[answers.workers == int(hit[0])], minlength=answers.n_objects)
    return counts - from_model.astype(np.int64)
