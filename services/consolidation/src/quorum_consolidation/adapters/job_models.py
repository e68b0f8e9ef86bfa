"""Per-job Dawid-Skene worker models for streaming consolidation, cached in process (an LRU over jobs).

The cache is only an optimisation: every entry can be rebuilt from the `answers` table, which is what a
restarted service (or a replica that never saw the job) does on the job's first ready object.

Refit policy: an entry is refitted when it is missing, when the job's stored answers grew by more than
`refit_growth` (a share) since the fit, or when it is older than `refit_max_age_s` and any answer arrived
since. Fallback rule: a job with fewer than `core.streaming.MIN_OVERLAP_OBJECTS` objects holding two or more
answers gets no model (`get` returns None) and its objects are labeled by majority vote.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from quorum_common.logging import get_logger
from quorum_consolidation.adapters import store
from quorum_consolidation.core import adaptive
from quorum_consolidation.core.streaming import WorkerModel, answers_for, can_fit, fit_worker_model

log = get_logger(__name__)

CacheKey = tuple[str, tuple[str, ...]]  # (job id, categories)


@dataclass
class JobModels:
    refit_growth: float = 0.2
    refit_max_age_s: float = 30.0
    max_jobs: int = 256
    clock: Callable[[], float] = time.monotonic
    _cache: OrderedDict[CacheKey, WorkerModel] = field(default_factory=OrderedDict, init=False, repr=False)
    fits: int = field(default=0, init=False)  # refits done (tests and metrics)

    def __len__(self) -> int:
        return len(self._cache)

    def is_stale(self, model: WorkerModel, n_answers: int) -> bool:
        if n_answers > model.n_answers * (1.0 + self.refit_growth):
            return True
        return n_answers != model.n_answers and self.clock() - model.fitted_at > self.refit_max_age_s

    def peek(self, job_id: str, categories: tuple[str, ...]) -> WorkerModel | None:
        return self._cache.get((job_id, categories))

    async def get(
        self, session: AsyncSession, job_id: str, categories: tuple[str, ...], n_answers: int
    ) -> WorkerModel | None:
        """The job's model, refitted from the `answers` table when missing or stale (`n_answers` is the job's
        current stored count); None when the job is too small for Dawid-Skene (majority vote then)."""
        key = (job_id, categories)
        model = self._cache.get(key)
        if model is not None and not self.is_stale(model, n_answers):
            self._cache.move_to_end(key)
            return model
        rows = await store.job_answers(session, job_id)
        data = answers_for(rows.object_ids, rows.worker_ids, rows.labels, categories)
        if not can_fit(data):
            self._cache.pop(key, None)
            return None
        started = time.perf_counter()
        fitted = await asyncio.to_thread(fit_worker_model, data)
        model = WorkerModel(
            categories=fitted.categories,
            worker_index=fitted.worker_index,
            log_confusions=fitted.log_confusions,
            log_prior=fitted.log_prior,
            log_population=fitted.log_population,
            n_answers=len(rows.labels),
            fitted_at=self.clock(),
        )
        self.fits += 1
        log.debug(
            "job_model_fitted",
            job_id=job_id,
            answers=data.n_answers,
            workers=model.n_workers,
            ms=round(1000 * (time.perf_counter() - started), 1),
        )
        self._cache[key] = model
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_jobs:
            self._cache.popitem(last=False)
        return model


@dataclass
class AdaptiveModels:
    """Per-job worker models of adaptive jobs (`core.adaptive`), cached like `JobModels` (same refit policy).

    Unlike `JobModels`, there is always a model: one-coin while the job has few overlapping answers
    (`adaptive.fit_worker_model` decides), then Dawid-Skene, warm-started from the previous fit.
    """

    refit_growth: float = 0.2
    refit_max_age_s: float = 30.0
    max_jobs: int = 256
    clock: Callable[[], float] = time.monotonic
    _cache: OrderedDict[CacheKey, tuple[adaptive.WorkerModel, float]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )
    fits: int = field(default=0, init=False)

    def is_stale(self, model: adaptive.WorkerModel, fitted_at: float, n_answers: int) -> bool:
        if n_answers > model.n_answers * (1.0 + self.refit_growth):
            return True
        return n_answers != model.n_answers and self.clock() - fitted_at > self.refit_max_age_s

    async def get(
        self, session: AsyncSession, job_id: str, categories: tuple[str, ...], n_answers: int
    ) -> adaptive.WorkerModel:
        key = (job_id, categories)
        cached = self._cache.get(key)
        if cached is not None and not self.is_stale(cached[0], cached[1], n_answers):
            self._cache.move_to_end(key)
            return cached[0]
        rows = await store.job_answers(session, job_id)
        data = answers_for(rows.object_ids, rows.worker_ids, rows.labels, categories)
        previous = cached[0] if cached is not None else None
        started = time.perf_counter()
        model = await asyncio.to_thread(adaptive.fit_worker_model, data, previous=previous)
        self.fits += 1
        log.debug(
            "adaptive_model_fitted",
            job_id=job_id,
            answers=data.n_answers,
            source=model.source,
            ms=round(1000 * (time.perf_counter() - started), 1),
        )
        self._cache[key] = (model, self.clock())
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_jobs:
            self._cache.popitem(last=False)
        return model
