"""Worker priors carried over from earlier jobs of the same team.

After a job's worker model is fitted, `learned_skills` summarises what the fit learned about each worker from
this job's answers alone: the expected confusion counts under the job's posteriors (``counts[c, l]``: how many
of the worker's answers were l when the truth was c, in expectation), hence their expected number of correct
answers. The service stores one `WorkerSkill` per (team, worker, job).

When a later job of the team is fitted, `team_prior` turns the stored skills of its workers (from the team's
*other* jobs: a job's own answers are never counted twice) into a `ConfusionPrior`, Dirichlet pseudo-counts
added to the job's own expected counts:

- earlier jobs with the same category set (in any order) give their confusion counts, permuted into this
  job's category order;
- earlier jobs with other categories give only a one-coin skill above chance,
  ``(accuracy - 1/K') / (1 - 1/K')`` for their K', which this job's K turns back into an accuracy and a
  diagonal-heavy K x K matrix (right with that accuracy, otherwise uniformly wrong; an adversarial worker's
  negative skill gives an accuracy below chance);
- the total is scaled down to at most `max_weight` answers' worth per worker, so that a worker's behaviour in
  this job dominates once they have answered more than that here.

Pure numpy; no loop over answers (one bincount per class).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.side_info import ConfusionPrior

#: Default bound on a worker's carried-over pseudo-counts (answers' worth).
DEFAULT_MAX_WEIGHT = 20.0

#: Accuracies derived from a cross-category skill are kept inside [_ACC_FLOOR, 1 - _ACC_FLOOR].
_ACC_FLOOR = 0.02


@dataclass(frozen=True, eq=False)
class WorkerSkill:
    """What one job's fit learned about one worker, from that job's answers alone."""

    worker_id: str
    job_id: str
    categories: tuple[str, ...]
    n_answers: int
    counts: np.ndarray  # float [K, K], expected confusion counts (row = true class); sums to n_answers
    # (a nested list is accepted and stored as an array)

    def __post_init__(self) -> None:
        k = len(self.categories)
        counts = np.asarray(self.counts, dtype=np.float64)
        if k < 2 or counts.shape != (k, k):
            raise ValueError(f"counts must be [{k}, {k}] for {k} >= 2 categories, got {counts.shape}")
        if (counts < 0).any() or not np.isfinite(counts).all():
            raise ValueError("confusion counts must be finite and non-negative")
        if self.n_answers < 0:
            raise ValueError(f"n_answers must be >= 0, got {self.n_answers}")
        object.__setattr__(self, "counts", counts)

    @property
    def correct(self) -> float:
        """Expected number of right answers."""
        return float(np.trace(self.counts))

    @property
    def accuracy(self) -> float:
        """Expected share of right answers (chance level, 1/K, without answers)."""
        total = float(self.counts.sum())
        return self.correct / total if total > 0 else 1.0 / len(self.categories)

    @property
    def skill(self) -> float:
        """One-coin skill above chance: 0 = chance, 1 = always right, negative = worse than chance."""
        k = len(self.categories)
        return (self.accuracy - 1.0 / k) / (1.0 - 1.0 / k)


def learned_skills(answers: Answers, probas: np.ndarray, job_id: str = "") -> list[WorkerSkill]:
    """Per worker of `answers` (their `worker_ids` order), the expected confusion counts under `probas`
    ``[n_objects, K]`` (the job's posteriors, known-answer objects clamped): ``counts[w, c, l] = sum over w's
    answers l of P(object's class = c)``."""
    n, k, w = answers.n_objects, answers.n_classes, answers.n_workers
    probas = np.asarray(probas, dtype=np.float64)
    if probas.shape != (n, k):
        raise ValueError(f"probas must be [{n}, {k}], got {probas.shape}")
    if answers.n_answers == 0:
        return []
    cell = answers.workers * k + answers.classes  # (worker, answered class)
    counts = np.empty((w, k, k))
    for c in range(k):
        counts[:, c, :] = np.bincount(cell, weights=probas[answers.objects, c], minlength=w * k).reshape(w, k)
    per_worker = np.bincount(answers.workers, minlength=w)
    cats = tuple(answers.categories)
    return [
        WorkerSkill(str(wid), job_id, cats, int(per_worker[i]), counts[i])
        for i, wid in enumerate(answers.worker_ids.tolist())
        if per_worker[i] > 0
    ]


def _skill_matrix(skill: float, k: int) -> np.ndarray:
    """``[K, K]`` rows of a one-coin worker with this skill above chance (each row sums to 1)."""
    accuracy = float(np.clip(1.0 / k + skill * (1.0 - 1.0 / k), _ACC_FLOOR, 1.0 - _ACC_FLOOR))
    m = np.full((k, k), (1.0 - accuracy) / (k - 1))
    np.fill_diagonal(m, accuracy)
    return m


def team_prior(
    skills: Iterable[WorkerSkill],
    worker_ids: Sequence[str] | np.ndarray,
    categories: Sequence[str],
    *,
    max_weight: float = DEFAULT_MAX_WEIGHT,
    exclude_job: str | None = None,
) -> ConfusionPrior | None:
    """The `ConfusionPrior` of a job with these workers and categories from the team's stored skills (those of
    `exclude_job`, the job itself, are left out), or None when none of its workers has any.

    Per worker: the confusion counts of earlier jobs with the same category set (permuted into `categories`'
    order), plus, for jobs with other categories, their answers' worth of a one-coin matrix of the worker's
    answer-weighted skill above chance (spread evenly over the K true classes); the sum scaled to at most
    `max_weight` answers' worth.
    """
    if not np.isfinite(max_weight) or max_weight <= 0:
        raise ValueError(f"max_weight must be a finite number > 0, got {max_weight}")
    cats = tuple(str(c) for c in categories)
    k = len(cats)
    if k < 2:
        raise ValueError(f"need at least 2 categories, got {k}")
    index = {c: i for i, c in enumerate(cats)}
    wanted = {str(w) for w in np.asarray(worker_ids).tolist()}
    same: dict[str, np.ndarray] = {}
    other_n: dict[str, float] = {}
    other_skill: dict[str, float] = {}  # answer-weighted sum of skills
    for s in skills:
        if s.worker_id not in wanted or (exclude_job is not None and s.job_id == exclude_job):
            continue
        if s.n_answers == 0:
            continue
        if len(s.categories) == k and set(s.categories) == set(cats):
            order = np.fromiter((index[c] for c in s.categories), dtype=np.int64, count=k)
            permuted = np.zeros((k, k))
            permuted[np.ix_(order, order)] = s.counts
            same[s.worker_id] = same.get(s.worker_id, np.zeros((k, k))) + permuted
        else:
            other_n[s.worker_id] = other_n.get(s.worker_id, 0.0) + s.n_answers
            other_skill[s.worker_id] = other_skill.get(s.worker_id, 0.0) + s.n_answers * s.skill
    known = sorted(set(same) | set(other_n))
    if not known:
        return None
    counts = np.zeros((len(known), k, k))
    for j, wid in enumerate(known):
        if wid in same:
            counts[j] += same[wid]
        n_other = other_n.get(wid, 0.0)
        if n_other > 0:
            counts[j] += (n_other / k) * _skill_matrix(other_skill[wid] / n_other, k)
        total = counts[j].sum()
        if total > max_weight:
            counts[j] *= max_weight / total
    return ConfusionPrior(np.asarray(known, dtype=object), counts)
