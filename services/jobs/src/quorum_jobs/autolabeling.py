"""The automated-labeling loop of the jobs service (the decisions are in core.autolabel).

A background task steps every running automated-labeling job: when the objects sent to humans are all
labeled, it trains a model on every human label (inference TrainModel), scores the objects nobody has
labeled yet (Predict with a selection of the next human batch), and commits the iteration in one
transaction: machine labels, the objects sent to humans, budget failures, the iteration's record. Only then
are the new objects put into workforce; an iteration whose objects are not there yet is retried until they
are, so a crash anywhere loses nothing and labels nothing twice (a second commit of an iteration is refused).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from quorum_common.logging import get_logger
from quorum_jobs.adapters.autolabel_store import AutoLabelStore, IterationOutcome, IterationRow, LoopCounts
from quorum_jobs.adapters.inference import InferenceClient, InferenceError, LoopObject
from quorum_jobs.adapters.store import JobRecord, JobStore
from quorum_jobs.adapters.workforce import WorkforceClient, WorkforceError
from quorum_jobs.core.autolabel import (
    SELECTION_SAMPLE,
    Decision,
    Next,
    cost_saving_percent,
    decide,
    draw_answers,
    next_look_reachable,
    plan_loop,
    scoring_sample,
    true_accuracy_estimate,
)
from quorum_jobs.core.batching import DataObject
from quorum_jobs.core.model_annotator import model_labels
from quorum_jobs.core.states import JobStatus
from quorum_jobs.errors import FailedPrecondition
from quorum_jobs.settings import JobsSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AutoLabelReport:
    job: JobRecord
    iterations: list[IterationRow]
    counts: LoopCounts
    human_answers: int

    @property
    def cost_usd(self) -> float:
        return round(self.human_answers * self.job.spec.price_per_task_usd, 6)

    @property
    def all_human_cost_usd(self) -> float:
        spec = self.job.spec
        return round(self.job.counters.total * spec.workers_per_object * spec.price_per_task_usd, 6)

    @property
    def cost_saving_percent(self) -> float:
        return cost_saving_percent(self.cost_usd, self.all_human_cost_usd)

    @property
    def human_objects_saving_percent(self) -> float:
        total = self.job.counters.total
        return round(100.0 * (1.0 - self.counts.sent / total), 2) if total else 0.0


def expected_label_noise(confidences: list[float]) -> float:
    """How often the consolidated human labels are wrong, by their own confidences (the consolidation
    model's posteriors); 0 (let inference estimate it) when none is known."""
    known = [c for c in confidences if c > 0]
    if not known:
        return 0.0
    return min(0.45, max(0.0, 1.0 - sum(known) / len(known)))


def loop_object(
    object_id: int, line: str, label: str = "", validation: bool = False, label_confidence: float = 0.0
) -> LoopObject:
    data = json.loads(line)
    source = data.get("source")
    if isinstance(source, str):
        return LoopObject(
            object_id, text=source, label=label, validation=validation, label_confidence=label_confidence
        )
    return LoopObject(
        object_id,
        image_uri=str(data.get("source-ref") or ""),
        label=label,
        validation=validation,
        label_confidence=label_confidence,
    )


class AutoLabeler:
    def __init__(
        self,
        settings: JobsSettings,
        store: JobStore,
        workforce: WorkforceClient,
        inference: InferenceClient,
    ) -> None:
        self.settings = settings
        self.store = store
        self.loop = AutoLabelStore(store)
        self.workforce = workforce
        self.inference = inference

    async def run(self) -> None:
        while True:
            try:
                await self.step_all()
            except Exception:
                log.exception("autolabel_round_failed")
            await asyncio.sleep(self.settings.autolabel_interval_s)

    async def step_all(self) -> None:
        for job_id in await self.loop.running_job_ids():
            job = await self.store.get_job(job_id)
            if job is None or job.status != JobStatus.IN_PROGRESS:
                continue
            try:
                await self.step(job)
            except (InferenceError, WorkforceError) as err:
                log.warning("autolabel_step_deferred", job_id=job_id, error=str(err))

    async def step(self, job: JobRecord) -> None:
        """Advance one job by at most one iteration."""
        last = await self.loop.last_iteration(job.job_id)
        if last is None:
            return
        if not last.released:
            await self._release(job, last.iteration)
            return
        counts = await self.loop.counts(job.job_id)
        if counts.pending or not counts.remaining or last.decision != Decision.CONTINUE:
            return
        await self._iterate(job, last.iteration + 1, counts)

    async def _iterate(self, job: JobRecord, iteration: int, counts: LoopCounts) -> None:
        spec = job.spec
        plan = plan_loop(job.counters.total, len(spec.categories), spec.auto_labeling.max_human_labeled)
        humans = await self.loop.human_labels(job.job_id)
        # Each label's consolidated confidence travels with it: inference certifies thresholds with the error
        # rate of the labels above them (human errors cluster on hard objects), `noise` being the fallback.
        train = [loop_object(h.object_id, h.line, h.label, h.validation, h.confidence) for h in humans]
        unsent = await self.loop.unsent_lines(job.job_id)
        unsent_objects = [loop_object(oid, line) for oid, line in unsent]
        has_validation = any(o.validation for o in train)
        machine: list[tuple[int, str, float]] = []
        selected: list[int] = []
        predicted: dict[int, str] = {}
        drawn: list[int] = []
        metrics: dict[str, object] = {}
        version, model_id = 0, ""
        batch = plan.batch_after(counts.sent)  # what `decide` will send when the loop goes on
        if spec.auto_labeling.max_human_labeled:
            batch = max(0, min(batch, spec.auto_labeling.max_human_labeled - counts.sent))
        if has_validation and len(train) > sum(o.validation for o in train) and unsent_objects:
            try:
                noise = expected_label_noise([h.confidence for h in humans])
                model = await self.inference.train(
                    job.job_id,
                    train,
                    spec.categories,
                    spec.auto_labeling.target_accuracy,
                    label_noise=noise,
                    machine_labeled_versions=await self.loop.machine_labeled_versions(job.job_id),
                )
                to_score = unsent_objects
                if not _certifies(model.metrics):
                    # Nothing to machine-label: a uniform sample of the pool is enough to pick the batch from.
                    sample = set(
                        scoring_sample([o.object_id for o in unsent_objects], SELECTION_SAMPLE, iteration)
                    )
                    to_score = [o for o in unsent_objects if o.object_id in sample]
                # The pool's size weighs the random draws in later bounds (a sample's draws are rarer).
                scored = await self.inference.score(
                    job.job_id, model.version, to_score, batch, train, pool_size=len(unsent_objects)
                )
            except InferenceError as err:
                if err.retryable:
                    raise
                # The model cannot be built on these objects (e.g. images it cannot read): humans label
                # the rest, as without automated labeling.
                log.error("autolabel_model_failed", job_id=job.job_id, iteration=iteration, error=str(err))
                metrics = {"error": str(err)}
            else:
                version, model_id, metrics = model.version, model.model_id, dict(model.metrics)
                # The validation figures are agreement with human labels, which are wrong at `noise` on
                # average, and less often on the objects the model is sure of: the correction uses the error
                # rate of the labels of the machine-labeled validation objects when inference reports it.
                metrics["human_label_noise"] = noise
                auto_noise = noise
                if metrics.get("per_object_label_noise"):
                    auto_noise = float(metrics.get("validation_auto_label_noise", noise))
                metrics["estimated_accuracy"] = true_accuracy_estimate(
                    float(metrics.get("validation_auto_accuracy", 0.0)), auto_noise, len(spec.categories)
                )
                machine = [(m.object_id, m.label, m.confidence) for m in scored.machine_labels]
                selected = scored.selected
                predicted, drawn = scored.predicted, scored.random
        current = await self.store.get_job(job.job_id)
        if current is None or current.status != JobStatus.IN_PROGRESS:
            return  # stopped while the model trained: nothing more to label or send
        labeled_now = {oid for oid, _, _ in machine}
        rest = [oid for oid, _ in unsent if oid not in labeled_now]
        nxt = decide(iteration, len(rest), counts.sent, plan, spec.auto_labeling)
        to_humans, to_fail = _split(nxt, selected, rest)
        # The loop goes on only with a model and while a later look can still come; else humans take the rest.
        to_next = float(metrics.get("draws_to_next_look", 0.0))
        if nxt.decision == Decision.CONTINUE and not (
            model_id and next_look_reachable(to_next, to_humans, drawn, len(rest) - len(to_humans), plan)
        ):
            if model_id:
                log.info(
                    "autolabel_no_look_left", job_id=job.job_id, iteration=iteration, draws_needed=to_next
                )
            nxt = decide(plan.max_iterations, len(rest), counts.sent, plan, spec.auto_labeling)
            to_humans, to_fail = _split(nxt, selected, rest)
        # Draws get their own answer count only while a later training may certify on them.
        draws_kept = drawn if nxt.decision == Decision.CONTINUE else []
        # The model's opinion of each object it sends to humans (not of its random draws) goes with it: the
        # consolidation counts it as one answer of a pseudo-worker whose reliability it learns.
        annotated = model_labels(to_humans, predicted, drawn) if self.settings.model_annotator else {}
        # The draws' answers at most, capped by the team's workers now (core/autolabel.draw_answers).
        team_size = await self.workforce.team_size(job.requester_id, spec.team_id) if draws_kept else 0
        draws = draw_answers(spec.auto_labeling, spec.workers_per_object, spec.adaptive, team_size)
        committed = await self.loop.commit_iteration(
            job.job_id,
            IterationOutcome(
                iteration=iteration,
                model_version=version,
                model_id=model_id,
                metrics=metrics,
                machine_labels=machine,
                to_humans=to_humans,
                to_fail=to_fail,
                decision=nxt.decision.value,
                model_labels=annotated,
                # The random draws certify later models: their own answer count (core/autolabel.draw_answers).
                draws=draws_kept,
                draw_answers=draws.required,
            ),
        )
        if not committed:
            return
        log.info(
            "autolabel_iteration",
            job_id=job.job_id,
            iteration=iteration,
            model_version=version,
            trained_on=len(train),
            machine_labeled=len(machine),
            to_humans=len(to_humans),
            model_labeled=len(annotated),
            failed=len(to_fail),
            decision=nxt.decision.value,
        )
        if to_humans:
            await self._release(job, iteration)

    async def _release(self, job: JobRecord, iteration: int) -> None:
        """Put the iteration's human batch into workforce (idempotent) and record that it is there."""
        objects = []
        spec = job.spec
        draws = draw_answers(spec.auto_labeling, spec.workers_per_object, spec.adaptive)
        # The model labels were stored with the iteration: a retried release sends the same ones.
        for oid, line, model_label, required in await self.loop.sent_objects(job.job_id, iteration):
            data = json.loads(line)
            source, ref = data.get("source") or "", data.get("source-ref") or ""
            objects.append(draws.apply(DataObject(oid, source, ref, model_label=model_label), required))
        if objects:
            await self.workforce.put_objects(job.job_id, objects)
        await self.loop.mark_released(job.job_id, iteration)
        log.info("autolabel_batch_released", job_id=job.job_id, iteration=iteration, objects=len(objects))

    async def report(self, job: JobRecord, human_answers: int) -> AutoLabelReport:
        """`human_answers`: the job's answer count (JobsApp reads it from workforce, with its fallback)."""
        if not job.spec.auto_labeling.enabled:
            raise FailedPrecondition(
                f"job {job.job_id} does not use automated labeling", reason="auto_labeling_off"
            )
        iterations = await self.loop.iterations(job.job_id)
        counts = await self.loop.counts(job.job_id)
        return AutoLabelReport(job, iterations, counts, human_answers)


def _certifies(metrics: dict[str, object]) -> bool:
    """Whether a trained version's metrics give any class a threshold (it may machine-label something)."""
    thresholds = metrics.get("thresholds") or []
    return any(isinstance(t, dict) and t.get("has_threshold") for t in thresholds)  # type: ignore[union-attr]


def _split(nxt: Next, selected: list[int], rest: list[int]) -> tuple[list[int], list[int]]:
    """Which of `rest` go to humans (the model's picks first) and which fail."""
    if nxt.decision == Decision.DONE:
        return [], []
    rest_set = set(rest)
    order = list(dict.fromkeys(oid for oid in selected if oid in rest_set))  # each once, in pick order
    chosen = set(order)
    order += [oid for oid in rest if oid not in chosen]
    return order[: nxt.to_humans], order[nxt.to_humans : nxt.to_humans + nxt.to_fail]
