"""Per-job worker models (`core.adaptive.WorkerModel`), cached in process (an LRU over jobs).

One cache serves both streamed labels and adaptive decisions. It is only an optimisation: every entry can be
rebuilt from the `answers` table, which is what a restarted service (or a replica that never saw the job)
does on the job's first ready object.

Refit policy: an entry is refitted when it is missing, when the job's stored answers grew by more than
`refit_growth` (a share) since the fit, or when it is older than `refit_max_age_s` and any answer arrived
since. Known-answer objects of the job (their known class came with their answer events) are passed to the
fit, which clamps them and, with enough of them, calibrates. The fit is `adaptive.fit_worker_model` with the
cache's `method` ("auto": the default method, priors
and temperature chosen per job; "ds": plain hierarchical Dawid-Skene, warm-started): a one-coin model (whose
labels are majority vote's) while the job has few objects with overlapping answers. Jobs refitted since the
caller last asked are remembered (`take_refitted`), so that the caller can revise the labels it gave earlier.

Team priors: after each fit, what the model learned about each worker from this job's answers (expected
confusion counts under its posteriors, `core.team_priors.learned_skills`) is stored per (team, worker, job)
when the job's team is known (`job_teams`, from the answer events). With `team_priors` on, a fit starts from
the stored skills of the job's workers in the team's other jobs (`team_prior`: at most `prior_weight` answers'
worth of pseudo-counts per worker; the job's own rows are never counted).

The job's answers include the automated-labeling model's (`core.model_annotator`, one per object it predicted
before humans saw it): the fit learns its confusion matrix like any worker's; no skill is stored for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from quorum_common.logging import get_logger
from quorum_consolidation.adapters import store
from quorum_consolidation.core import adaptive
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.model_annotator import is_model
from quorum_consolidation.core.side_info import ConfusionPrior, KnownLabels
from quorum_consolidation.core.streaming import answers_for
from quorum_consolidation.core.team_priors import DEFAULT_MAX_WEIGHT, WorkerSkill, learned_skills, team_prior

log = get_logger(__name__)

CacheKey = tuple[str, tuple[str, ...]]  # (job id, categories)


@dataclass
class JobModels:
    method: Literal["auto", "ds"] = "auto"
    refit_growth: float = 0.2
    refit_max_age_s: float = 30.0
    max_jobs: int = 256
    clock: Callable[[], float] = time.monotonic
    team_priors: bool = True  # start a job's fit from its workers' skills in the team's other jobs
    prior_weight: float = DEFAULT_MAX_WEIGHT  # at most this many answers' worth per worker
    # (model, when fitted, the job's stored answers then: all of them, including any the model had to drop)
    _cache: OrderedDict[CacheKey, tuple[adaptive.WorkerModel, float, int]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    _refitted: set[CacheKey] = field(default_factory=set, init=False, repr=False)
    fits: int = field(default=0, init=False)  # refits done (tests and metrics)

    def __len__(self) -> int:
        return len(self._cache)

    def is_stale(self, fitted_on: int, fitted_at: float, n_answers: int) -> bool:
        """Whether a model fitted on `fitted_on` stored answers at `fitted_at` is stale now that the job has
        `n_answers`."""
        if n_answers > fitted_on * (1.0 + self.refit_growth):
            return True
        return n_answers != fitted_on and self.clock() - fitted_at > self.refit_max_age_s

    def fitted_on(self, job_id: str, categories: tuple[str, ...]) -> int | None:
        """How many stored answers the job's cached model was fitted on (None: no cached model)."""
        cached = self._cache.get((job_id, categories))
        return None if cached is None else cached[2]

    def peek(self, job_id: str, categories: tuple[str, ...]) -> adaptive.WorkerModel | None:
        cached = self._cache.get((job_id, categories))
        return None if cached is None else cached[0]

    def cached_jobs(self) -> list[CacheKey]:
        return list(self._cache)

    def take_refitted(self) -> set[CacheKey]:
        """The jobs refitted since the last call (and forget them)."""
        refitted, self._refitted = self._refitted, set()
        return refitted

    async def get(
        self,
        session: AsyncSession,
        job_id: str,
        categories: tuple[str, ...],
        n_answers: int,
        *,
        force: bool = False,
    ) -> adaptive.WorkerModel:
        """The job's model, refitted from the `answers` table when missing, stale (`n_answers` is the job's
        current stored count) or `force`d."""
        key = (job_id, categories)
        cached = self._cache.get(key)
        if cached is not None and not force and not self.is_stale(cached[2], cached[1], n_answers):
            self._cache.move_to_end(key)
            return cached[0]
        rows = await store.job_answers(session, job_id)
        data = answers_for(rows.object_ids, rows.worker_ids, rows.labels, categories)
        known = known_labels_in(data, await store.known_labels(session, job_id))
        previous = cached[0] if cached is not None else None
        team = await store.job_team(session, job_id)
        prior: ConfusionPrior | None = None
        if self.team_priors and team and data.n_workers:
            workers = [str(w) for w in data.worker_ids.tolist()]
            skills = await store.team_skills(session, team, workers, exclude_job=job_id)
            prior = team_prior(skills, workers, categories, max_weight=self.prior_weight, exclude_job=job_id)
        started = time.perf_counter()

        def fit() -> tuple[adaptive.WorkerModel, list[WorkerSkill]]:
            fitted = adaptive.fit_worker_model(
                data, method=self.method, previous=previous, known=known, prior=prior
            )
            if not (team and data.n_answers):
                return fitted, []
            probas = adaptive.clamp_known(adaptive.posteriors(fitted, data, temper=False), known)
            # No team prior for the automated-labeling model: it is another model in every job.
            return fitted, [s for s in learned_skills(data, probas, job_id) if not is_model(s.worker_id)]

        model, learned = await asyncio.to_thread(fit)
        self.fits += 1
        await store.save_skills(session, team, learned)
        log.debug(
            "job_model_fitted",
            job_id=job_id,
            answers=data.n_answers,
            source=model.source,
            temperature=round(model.temperature, 3),
            known=0 if known is None else int(known.objects.shape[0]),
            prior_workers=0 if prior is None else len(prior.worker_ids),
            calibrated=model.calibrated,
            ms=round(1000 * (time.perf_counter() - started), 1),
        )
        self._cache[key] = (model, self.clock(), len(rows.labels))
        self._cache.move_to_end(key)
        self._refitted.add(key)
        while len(self._cache) > self.max_jobs:
            evicted, _ = self._cache.popitem(last=False)
            self._refitted.discard(evicted)
        return model


def known_labels_in(answers: Answers, known: dict[int, str]) -> KnownLabels | None:
    """The known-answer objects among `answers` (known classes outside its categories are ignored: they
    came with another category set), or None when there are none."""
    cats = set(answers.categories)
    usable = {oid: label for oid, label in known.items() if label in cats}
    if not usable or answers.n_objects == 0:
        return None
    found = KnownLabels.from_ids(answers, usable)
    return found if found.objects.shape[0] else None
