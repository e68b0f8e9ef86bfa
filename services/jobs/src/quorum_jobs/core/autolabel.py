"""Automated labeling: the decisions of Ground Truth's active-learning loop (GT-FORMATS.md section 2.5), pure.

The jobs service runs the loop; the inference service trains and scores. Per iteration:
  1. humans label a batch (the first one random: a validation set the model never trains on + a training
     set; later ones chosen by the model: uncertain and diverse);
  2. once the batch is labeled, a model is trained on every human label, thresholds are certified on the
     validation set (a lower confidence bound of the accuracy of above-threshold predictions reaches the
     requester's target), and every unlabeled object above its class threshold is machine-labeled;
  3. `decide` says what happens to the rest: another batch, everything left to humans, or (budget spent)
     nothing more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from quorum_common.task_types import IMAGE_CLASSIFICATION, TEXT_CLASSIFICATION
from quorum_jobs.core.batching import DataObject

DEFAULT_TARGET_ACCURACY = 0.95
GT_MIN_DATASET_SIZE = 1250  # Ground Truth refuses automated labeling below this
MIN_DATASET_SIZE_FLOOR = 100  # below it a validation set cannot certify anything
MIN_TARGET_ACCURACY, MAX_TARGET_ACCURACY = 0.5, 1.0  # exclusive
AUTO_LABELING_TASK_TYPES = (TEXT_CLASSIFICATION, IMAGE_CLASSIFICATION)


@dataclass(frozen=True, slots=True)
class AutoLabelSpec:
    """A requester's automated-labeling settings (validated: defaults applied)."""

    enabled: bool = False
    target_accuracy: float = DEFAULT_TARGET_ACCURACY
    min_dataset_size: int = GT_MIN_DATASET_SIZE
    max_human_labeled: int = 0  # 0 = no limit
    # Answers per random draw at most (the human labels that certify thresholds; draw_answers); 0 = the job's
    # workers_per_object + DRAW_EXTRA_ANSWERS.
    validation_workers: int = 0


OFF = AutoLabelSpec()


def auto_label_errors(
    task_type: str,
    enabled: bool,
    target_accuracy: float,
    min_dataset_size: int,
    max_human_labeled: int,
) -> list[str]:
    """Every problem with the settings, each naming its field and the allowed values."""
    if not enabled:
        return []
    errors: list[str] = []
    if task_type not in AUTO_LABELING_TASK_TYPES:
        errors.append(f"auto_labeling is for {' and '.join(AUTO_LABELING_TASK_TYPES)} jobs, not {task_type}")
    if math.isnan(target_accuracy) or not (
        target_accuracy == 0 or MIN_TARGET_ACCURACY < target_accuracy < MAX_TARGET_ACCURACY
    ):
        errors.append(
            f"auto_labeling.target_accuracy must be 0 (default {DEFAULT_TARGET_ACCURACY}) or between "
            f"{MIN_TARGET_ACCURACY:g} and {MAX_TARGET_ACCURACY:g} (exclusive), got {target_accuracy}"
        )
    if min_dataset_size != 0 and min_dataset_size < MIN_DATASET_SIZE_FLOOR:
        errors.append(
            f"auto_labeling.min_dataset_size must be 0 (default {GT_MIN_DATASET_SIZE}) or at least "
            f"{MIN_DATASET_SIZE_FLOOR}, got {min_dataset_size}"
        )
    if max_human_labeled < 0:
        errors.append(
            f"auto_labeling.max_human_labeled must be 0 (no limit) or more, got {max_human_labeled}"
        )
    return errors


def auto_label_spec(
    enabled: bool, target_accuracy: float, min_dataset_size: int, max_human: int, validation_workers: int = 0
) -> AutoLabelSpec:
    """Settings with defaults applied (call after auto_label_errors found nothing)."""
    if not enabled:
        return OFF
    return AutoLabelSpec(
        enabled=True,
        target_accuracy=target_accuracy or DEFAULT_TARGET_ACCURACY,
        min_dataset_size=min_dataset_size or GT_MIN_DATASET_SIZE,
        max_human_labeled=max_human,
        validation_workers=validation_workers,
    )


#: A random draw's answers may go this far beyond the job's workers_per_object (auto_labeling.
#: validation_workers_per_object = 0), one at a time while its workers disagree (draw_answers).
DRAW_EXTRA_ANSWERS = 2
#: Most answers an object gets (the jobs spec's MAX_WORKERS).
MAX_DRAW_ANSWERS = 10


@dataclass(frozen=True, slots=True)
class DrawAnswers:
    """The answers each random draw of the loop gets (DataObject's fields of the same names): `required`
    at most (0 = the job's rule); `min_answers` of them at once, then one at a time until the label's
    posterior reaches `target_confidence` (0 = all `required` at once)."""

    required: int = 0
    min_answers: int = 0
    target_confidence: float = 0.0

    def apply(self, obj: DataObject, required: int) -> DataObject:
        """`obj` as workforce gets it when the job stored it with `required` answers (> 0: a random draw;
        more than `min_answers`: it stops early)."""
        if required <= 0:
            return obj
        if 0 < self.min_answers < required:
            return replace(
                obj,
                required_answers=required,
                min_answers=self.min_answers,
                target_confidence=self.target_confidence,
            )
        return replace(obj, required_answers=required)


def draw_target_confidence(target_accuracy: float) -> float:
    """The posterior at which a random draw's label stops collecting answers: half the target's error rate
    (0.975 at 0.95). The draws' labels certify the thresholds, and a bound on the model's agreement with
    labels wrong at rate eps says little about its accuracy above 1 - eps (inference's core/thresholds.py)."""
    return 1.0 - (1.0 - target_accuracy) / 2.0


def draw_answers(
    auto: AutoLabelSpec, workers_per_object: int, adaptive: bool, team_size: int = 0
) -> DrawAnswers:
    """The answers each random draw of the loop gets. Its label certifies thresholds, and on real crowds the
    draws' label noise decides what a model can certify (trec6 machine-labeled 18 % of its objects with 3
    answers per draw, 52 % with 5: docs/benchmarks.md). So a draw gets the job's workers_per_object at once
    (even in an adaptive job, where noisier early-stopped labels would need many more draws for one bound)
    and then more, one at a time, while its label's posterior is below `draw_target_confidence`, up to
    `validation_workers` (default workers_per_object + DRAW_EXTRA_ANSWERS): extra answers go only where the
    workers disagree. `validation_workers` = workers_per_object: exactly that many (no extra answers).
    `team_size` (> 0: the job's team's workers now) caps the default: answers beyond the team would never
    come, and the draw would hold up the loop for good. `min_answers` and `target_confidence` are set either
    way (what a draw stored with more answers than workers_per_object stops at)."""
    default = min(MAX_DRAW_ANSWERS, workers_per_object + DRAW_EXTRA_ANSWERS)
    if team_size > 0:
        default = max(workers_per_object, min(default, team_size))
    most = auto.validation_workers or default
    target = draw_target_confidence(auto.target_accuracy)
    return DrawAnswers(most if adaptive or most > workers_per_object else 0, workers_per_object, target)


def dataset_size_error(spec: AutoLabelSpec, n_objects: int) -> str | None:
    if spec.enabled and n_objects < spec.min_dataset_size:
        return (
            f"automated labeling needs at least auto_labeling.min_dataset_size = {spec.min_dataset_size} "
            f"objects, the manifest has {n_objects} (lower min_dataset_size, at least "
            f"{MIN_DATASET_SIZE_FLOOR}, or turn auto_labeling off)"
        )
    return None


@dataclass(frozen=True, slots=True)
class LoopPlan:
    """Batch sizes of one job's loop."""

    validation_size: int  # of the first batch: held out by inference's `holdout` calibration only
    first_train_size: int  # the rest of the random first batch
    batch_size: int  # objects sent to humans per later iteration, at least
    max_iterations: int  # model iterations; after the last one what is left goes to humans
    batch_growth: float = 0.0  # later batches are at least this share of the objects sent to humans so far

    @property
    def first_batch_size(self) -> int:
        return self.validation_size + self.first_train_size

    def batch_after(self, sent_to_humans: int) -> int:
        """The next batch for humans once `sent_to_humans` objects went to them: `batch_size`, or
        `batch_growth` times that when larger (before the budget and what is left cap it)."""
        return max(self.batch_size, math.ceil(self.batch_growth * max(0, sent_to_humans)))


#: Model iterations at most: a safety net on a job's latency. The loop normally ends earlier, when the pool is
#: used up: batches grow with the human labels (BATCH_GROWTH), so the pool is spent in a few dozen iterations.
MAX_ITERATIONS = 40
#: Later batches are at least this share of the objects humans labeled so far. Another iteration never costs
#: human labels (what it sends would otherwise all go to humans at the end) but costs a training; batches that
#: grow with the labels keep the number of trainings logarithmic in the dataset's size while a model that
#: certifies late still gets the chance to.
BATCH_GROWTH = 0.1
#: Iterations whose model certified nothing score at most this many unlabeled objects (a seeded uniform
#: sample): there is nothing to machine-label, only a batch to pick, and scoring a large pool (e.g. embedding
#: 10,000 texts with a freshly fine-tuned encoder) would dominate the iteration's time.
SELECTION_SAMPLE = 3000


def plan_loop(n_objects: int, n_classes: int, max_human_labeled: int = 0) -> LoopPlan:
    """Sizes from the dataset's size and class count (measured with bench/autolabel_offline.py and
    `quorum autolabel-bench`).

    The inference service cross-fits (every human label trains the model and is held out once), so no
    validation set is spent: the random first batch, max(10 K, 2 % of the objects), is enough per class to
    learn and certify a first threshold. Later batches, max(5 K, 2 %), are small so that few human labels go
    to objects the next model would have machine-labeled, and grow with the human labels (BATCH_GROWTH). Half
    of the first batch is marked validation for the `holdout` calibration, which ignores nothing else. A
    human-label budget caps the first batch.
    """
    k = max(2, n_classes)
    first = min(n_objects, max(10 * k, math.ceil(0.02 * n_objects)))
    if max_human_labeled:
        first = min(first, max_human_labeled)
    batch = min(n_objects, max(5 * k, math.ceil(0.02 * n_objects)))
    validation = first // 2
    return LoopPlan(validation, first - validation, batch, MAX_ITERATIONS, BATCH_GROWTH)


def scoring_sample(object_ids: list[int], size: int, seed: int) -> list[int]:
    """A seeded uniform sample of `size` of `object_ids` (all of them when there are no more), in their order:
    what an iteration whose model certified nothing scores to pick its batch. Uniform, so the batch's random
    draws are still uniform draws of the whole pool."""
    if len(object_ids) <= size:
        return list(object_ids)
    keep = np.sort(np.random.default_rng(seed).choice(len(object_ids), size, replace=False))
    return [object_ids[i] for i in keep.tolist()]


@dataclass(frozen=True, slots=True)
class FirstBatch:
    validation: list[int]  # object ids
    training: list[int]


def plan_first_batch(object_ids: list[int], plan: LoopPlan, seed: int) -> FirstBatch:
    """A seeded uniformly random first batch (GT's), split into validation and training objects."""
    order = np.random.default_rng(seed).permutation(len(object_ids))
    size = min(len(object_ids), plan.first_batch_size)
    picked = [object_ids[i] for i in order[:size]]
    return FirstBatch(
        validation=sorted(picked[: plan.validation_size]), training=sorted(picked[plan.validation_size :])
    )


class Decision(StrEnum):
    CONTINUE = "continue"  # another model-chosen batch to humans, then another iteration
    REST_TO_HUMANS = "rest_to_humans"  # the last iteration: everything left goes to humans
    DONE = "done"  # nothing is left
    BUDGET_SPENT = "budget_spent"  # the human-label budget is spent: what is left ends failed


@dataclass(frozen=True, slots=True)
class Next:
    decision: Decision
    to_humans: int  # how many objects to send to humans now
    to_fail: int  # how many of the rest end failed (budget)


def decide(iteration: int, remaining: int, sent_to_humans: int, plan: LoopPlan, spec: AutoLabelSpec) -> Next:
    """What follows iteration `iteration` (>= 1) once its machine labels are applied.

    `remaining`: objects neither labeled nor sent to humans; `sent_to_humans`: objects ever sent to humans.
    """
    if remaining <= 0:
        return Next(Decision.DONE, 0, 0)
    budget = remaining
    if spec.max_human_labeled:
        budget = max(0, spec.max_human_labeled - sent_to_humans)
        if budget == 0:
            return Next(Decision.BUDGET_SPENT, 0, remaining)
    batch = plan.batch_after(sent_to_humans)
    # Less than a base batch would be left after this one: not worth another training, humans take it all now.
    if iteration >= plan.max_iterations or remaining < batch + plan.batch_size:
        send = min(remaining, budget)
        if send < remaining:
            return Next(Decision.BUDGET_SPENT, send, remaining - send)
        return Next(Decision.REST_TO_HUMANS, send, 0)
    return Next(Decision.CONTINUE, min(batch, budget), 0)


def next_look_reachable(
    draws_to_next_look: float, batch: list[int], drawn: list[int], pool_after: int, plan: LoopPlan
) -> bool:
    """Whether the loop can still reach a training that may look at certification (only a look machine-labels)
    while at least a base batch of the pool is left for it to label, after sending `batch` to humans with
    `drawn` among its picks (random draws) and `pool_after` objects still unsent.

    `draws_to_next_look` is inference's count of pool draws the job needs first (0: the next training may
    look). Later batches draw the same share of their picks as this one: the share only falls once a look
    has certified. When they cannot supply the draws, every later iteration would cost a training and its
    draws' extra answers (core/autolabel.draw_answers) for nothing: the loop ends and humans take the rest."""
    if draws_to_next_look <= 0:
        return True
    in_batch = len(set(drawn).intersection(batch))
    share = in_batch / len(batch) if batch else 1.0
    return in_batch + share * max(0, pool_after - plan.batch_size) >= draws_to_next_look


def cost_saving_percent(cost: float, all_human_cost: float) -> float:
    return round(100.0 * (1.0 - cost / all_human_cost), 2) if all_human_cost > 0 else 0.0


def true_accuracy_estimate(agreement: float, label_noise: float, n_classes: int) -> float:
    """Accuracy against the truth from agreement with human labels wrong at rate `label_noise` (a wrong
    label uniform over the other classes, errors independent of the model's): agreement =
    acc (1 - eps) + (1 - acc) eps / (K - 1), solved for acc and clipped to [0, 1]."""
    k = max(2, n_classes)
    shrink = 1.0 - label_noise * k / (k - 1)
    if label_noise <= 0.0 or shrink <= 0.0:
        return agreement
    return min(1.0, max(0.0, (agreement - label_noise / (k - 1)) / shrink))
