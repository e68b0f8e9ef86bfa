"""The automated-labeling loop's decisions (pure core of the jobs service)."""

from __future__ import annotations

import re

import pytest

from quorum_jobs.core.autolabel import (
    GT_MIN_DATASET_SIZE,
    AutoLabelSpec,
    Decision,
    DrawAnswers,
    auto_label_errors,
    auto_label_spec,
    dataset_size_error,
    decide,
    draw_answers,
    next_look_reachable,
    plan_first_batch,
    plan_loop,
    scoring_sample,
    true_accuracy_estimate,
)
from quorum_jobs.core.batching import DataObject
from quorum_jobs.core.spec import JobSpecInput, validate_spec
from quorum_jobs.errors import InvalidArgument

PLAN = plan_loop(2000, 10)  # first batch 100, batches of 50
ON = AutoLabelSpec(enabled=True)


def test_plan_scales_with_classes_and_size_and_respects_the_budget() -> None:
    plan = plan_loop(1797, 10)
    assert (plan.first_batch_size, plan.batch_size, plan.max_iterations) == (100, 50, 40)
    plan = plan_loop(10_000, 2)
    assert (plan.first_batch_size, plan.batch_size) == (200, 200)
    assert plan_loop(50, 10).first_batch_size == 50
    assert plan_loop(10_000, 2, max_human_labeled=120).first_batch_size == 120
    for n, k in [(100, 2), (150, 20), (1797, 10), (10_662, 2)]:
        p = plan_loop(n, k)
        assert 0 < p.first_batch_size <= n and p.validation_size + p.first_train_size == p.first_batch_size


def test_first_batch_is_seeded_random_and_disjoint() -> None:
    ids = list(range(1000))
    plan = plan_loop(1000, 4)
    a = plan_first_batch(ids, plan, seed=3)
    assert a == plan_first_batch(ids, plan, seed=3)
    assert a != plan_first_batch(ids, plan, seed=4)
    assert len(a.validation) == plan.validation_size and len(a.training) == plan.first_train_size
    assert not set(a.validation) & set(a.training)
    # Not the first objects of the manifest: the batch is spread over it.
    assert max(a.validation + a.training) > plan.first_batch_size


def test_decide_continues_with_a_batch_while_much_is_left() -> None:
    nxt = decide(1, remaining=1500, sent_to_humans=400, plan=PLAN, spec=ON)
    assert nxt.decision == Decision.CONTINUE and nxt.to_humans == PLAN.batch_size and nxt.to_fail == 0


def test_batches_grow_with_the_human_labels_so_far() -> None:
    # 10 % of what humans labeled, never below the base batch: 50 until 500 were sent, then growing.
    assert PLAN.batch_after(0) == PLAN.batch_after(500) == 50
    assert PLAN.batch_after(501) == 51 and PLAN.batch_after(1200) == 120
    nxt = decide(9, remaining=1500, sent_to_humans=1200, plan=PLAN, spec=ON)
    assert (nxt.decision, nxt.to_humans) == (Decision.CONTINUE, 120)
    # Less than the grown batch and a base batch left: the rest goes to humans now, not in one more iteration.
    nxt = decide(9, remaining=169, sent_to_humans=1200, plan=PLAN, spec=ON)
    assert (nxt.decision, nxt.to_humans) == (Decision.REST_TO_HUMANS, 169)
    nxt = decide(9, remaining=170, sent_to_humans=1200, plan=PLAN, spec=ON)
    assert (nxt.decision, nxt.to_humans) == (Decision.CONTINUE, 120)
    # The budget still caps a grown batch.
    spec = AutoLabelSpec(enabled=True, max_human_labeled=1250)
    nxt = decide(9, remaining=1500, sent_to_humans=1200, plan=PLAN, spec=spec)
    assert (nxt.decision, nxt.to_humans) == (Decision.CONTINUE, 50)


def test_a_dataset_is_used_up_well_before_the_iteration_cap() -> None:
    # Even when the model never machine-labels anything, growing batches spend the pool in fewer iterations
    # than the cap (the cap is a safety net, not what ends a normal job).
    for n, k in [(1797, 10), (5952, 6), (10_662, 2), (100_000, 2)]:
        plan = plan_loop(n, k)
        sent, iteration = plan.first_batch_size, 1
        while True:
            nxt = decide(iteration, n - sent, sent, plan, ON)
            sent += nxt.to_humans
            if nxt.decision != Decision.CONTINUE:
                break
            iteration += 1
        assert sent == n and iteration < plan.max_iterations, (n, k, iteration)


def test_scoring_sample_is_seeded_uniform_and_keeps_order() -> None:
    ids = list(range(10, 5010))
    a = scoring_sample(ids, 300, seed=1)
    assert a == scoring_sample(ids, 300, seed=1) and a != scoring_sample(ids, 300, seed=2)
    assert len(set(a)) == 300 and set(a) <= set(ids) and a == sorted(a)
    assert min(a) < 1000 and max(a) > 4000  # spread over the pool, not its head
    assert scoring_sample(ids[:50], 300, seed=1) == ids[:50]


def test_decide_sends_the_rest_to_humans_when_little_is_left_or_at_the_last_iteration() -> None:
    nxt = decide(1, remaining=PLAN.batch_size, sent_to_humans=400, plan=PLAN, spec=ON)
    assert (nxt.decision, nxt.to_humans) == (Decision.REST_TO_HUMANS, PLAN.batch_size)
    nxt = decide(PLAN.max_iterations, remaining=900, sent_to_humans=400, plan=PLAN, spec=ON)
    assert (nxt.decision, nxt.to_humans, nxt.to_fail) == (Decision.REST_TO_HUMANS, 900, 0)


def test_decide_is_done_when_nothing_is_left() -> None:
    assert decide(3, remaining=0, sent_to_humans=400, plan=PLAN, spec=ON).decision == Decision.DONE


def test_decide_respects_the_human_label_budget() -> None:
    spec = AutoLabelSpec(enabled=True, max_human_labeled=450)
    nxt = decide(1, remaining=1500, sent_to_humans=400, plan=PLAN, spec=spec)
    assert (nxt.decision, nxt.to_humans) == (Decision.CONTINUE, 50)
    nxt = decide(2, remaining=1400, sent_to_humans=450, plan=PLAN, spec=spec)
    assert (nxt.decision, nxt.to_humans, nxt.to_fail) == (Decision.BUDGET_SPENT, 0, 1400)
    nxt = decide(PLAN.max_iterations, remaining=80, sent_to_humans=430, plan=PLAN, spec=spec)
    assert (nxt.decision, nxt.to_humans, nxt.to_fail) == (Decision.BUDGET_SPENT, 20, 60)


def test_settings_default_to_ground_truth_values() -> None:
    spec = auto_label_spec(True, 0.0, 0, 0)
    assert spec.target_accuracy == 0.95 and spec.min_dataset_size == GT_MIN_DATASET_SIZE
    assert auto_label_spec(False, 0.9, 200, 5).enabled is False


@pytest.mark.parametrize(
    ("task_type", "target", "min_size", "budget", "needle"),
    [
        ("bounding-box", 0.0, 0, 0, "auto_labeling is for text-classification and image-classification"),
        ("text-classification", 1.0, 0, 0, "target_accuracy must be 0 (default 0.95) or between 0.5 and 1"),
        ("text-classification", 0.4, 0, 0, "got 0.4"),
        ("text-classification", float("nan"), 0, 0, "target_accuracy"),
        ("text-classification", 0.0, 99, 0, "min_dataset_size must be 0 (default 1250) or at least 100"),
        ("text-classification", 0.0, 0, -1, "max_human_labeled must be 0 (no limit) or more"),
    ],
)
def test_bad_settings_are_named(
    task_type: str, target: float, min_size: int, budget: int, needle: str
) -> None:
    errors = auto_label_errors(task_type, True, target, min_size, budget)
    assert any(needle in e for e in errors), errors
    assert auto_label_errors(task_type, False, target, min_size, budget) == []


def _spec(task_type: str = "text-classification", **auto: object) -> JobSpecInput:
    """A 3-worker job spec with automated labeling on and the given auto_* fields."""
    return JobSpecInput(
        task_type=task_type,
        name="reviews",
        categories=["a", "b"],
        workers_per_object=3,
        task_time_limit_s=60,
        price_per_task_usd=0.01,
        team_id="t",
        auto_labeling=True,
        **auto,  # type: ignore[arg-type]
    )


def test_job_spec_carries_auto_labeling_and_rejects_it_on_other_task_types() -> None:
    spec = validate_spec(_spec(auto_target_accuracy=0.9))
    assert spec.auto_labeling == AutoLabelSpec(True, 0.9, GT_MIN_DATASET_SIZE, 0)
    with pytest.raises(InvalidArgument, match="auto_labeling is for"):
        validate_spec(_spec("image-classification-multilabel"))


@pytest.mark.parametrize(
    ("validation_workers", "ok"), [(0, True), (3, True), (5, True), (10, True), (2, False), (11, False)]
)
def test_validation_workers_are_zero_or_from_the_jobs_count_to_ten(validation_workers: int, ok: bool) -> None:
    spec = _spec(auto_validation_workers=validation_workers)
    if ok:
        assert validate_spec(spec).auto_labeling.validation_workers == validation_workers
    else:
        message = (
            "auto_labeling.validation_workers_per_object must be 0 (workers_per_object + 2) or between "
            f"workers_per_object (3) and 10, got {validation_workers}"
        )
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            validate_spec(spec)


def test_random_draws_get_the_jobs_count_at_once_and_more_only_while_their_workers_disagree() -> None:
    # Default: the job's 3 at once, up to 2 more one at a time until the label's posterior reaches half the
    # target's error rate; in an adaptive job too (its other objects may stop at 1).
    extra = DrawAnswers(required=5, min_answers=3, target_confidence=pytest.approx(0.975))
    assert draw_answers(ON, 3, adaptive=False) == draw_answers(ON, 3, adaptive=True) == extra
    at_80 = draw_answers(AutoLabelSpec(enabled=True, target_accuracy=0.8), 3, adaptive=False)
    assert at_80.target_confidence == pytest.approx(0.9)
    seven = AutoLabelSpec(enabled=True, validation_workers=7)
    assert draw_answers(seven, 3, adaptive=False).required == 7
    # validation_workers = the job's count: exactly that many (the job's own rule, or all of them in an
    # adaptive job); the default never goes past 10 answers.
    three = AutoLabelSpec(enabled=True, validation_workers=3)
    assert draw_answers(three, 3, adaptive=False).required == 0
    assert draw_answers(three, 3, adaptive=True).required == 3
    assert draw_answers(ON, 10, adaptive=False).required == 0 and draw_answers(ON, 9, False).required == 10
    spec = validate_spec(_spec(auto_validation_workers=5))
    assert spec.auto_labeling.validation_workers == 5


def test_the_default_never_asks_a_draw_for_more_answers_than_the_team_has_workers() -> None:
    # A team of 4: one extra answer at most; of 3 or fewer: none (the job's count, as the job asks anyway).
    assert draw_answers(ON, 3, adaptive=False, team_size=4).required == 4
    assert draw_answers(ON, 3, adaptive=False, team_size=3).required == 0
    assert draw_answers(ON, 1, adaptive=False, team_size=1).required == 0
    assert draw_answers(ON, 3, adaptive=True, team_size=2).required == 3
    assert draw_answers(ON, 3, adaptive=False, team_size=50).required == 5
    # An explicit count is the requester's: kept.
    assert (
        draw_answers(AutoLabelSpec(enabled=True, validation_workers=5), 3, False, team_size=3).required == 5
    )


def test_a_stored_draw_goes_to_workforce_with_its_early_stop() -> None:
    draws = draw_answers(ON, 3, adaptive=False)
    obj = DataObject(7, "text")
    assert draws.apply(obj, 0) == obj  # not a draw
    early = DataObject(7, "text", required_answers=5, min_answers=3, target_confidence=0.975)
    assert draws.apply(obj, 5) == early
    # Stored with 4 (a smaller team then): it stops early from 3 as well; with the job's 3 (an adaptive job's
    # draws without extra answers), all of them at once.
    assert draws.apply(obj, 4) == DataObject(
        7, "text", required_answers=4, min_answers=3, target_confidence=0.975
    )
    assert draws.apply(obj, 3) == DataObject(7, "text", required_answers=3)


def test_too_small_a_dataset_is_refused_with_its_size() -> None:
    message = dataset_size_error(AutoLabelSpec(True, 0.95, 1250, 0), 300)
    assert message is not None and "1250" in message and "300" in message
    assert dataset_size_error(AutoLabelSpec(True, 0.95, 200, 0), 300) is None
    assert dataset_size_error(AutoLabelSpec(), 3) is None


def test_label_noise_for_inference_comes_from_the_consolidated_confidences() -> None:
    from quorum_jobs.autolabeling import expected_label_noise

    assert expected_label_noise([0.9, 0.8, 1.0]) == pytest.approx(0.1)
    assert expected_label_noise([0.0, 0.0]) == 0.0  # unknown: inference estimates it
    assert expected_label_noise([0.9, 0.0]) == pytest.approx(0.1)
    assert expected_label_noise([0.3]) == 0.45  # capped below the 0.5 that inference accepts


def test_true_accuracy_is_estimated_from_agreement_with_noisy_labels() -> None:
    # A model right 98% of the time agrees with 10%-noisy labels on 10 classes 0.98 * 0.9 + 0.02 * 0.1 / 9.
    agreement = 0.98 * 0.9 + 0.02 * 0.1 / 9
    assert true_accuracy_estimate(agreement, 0.1, 10) == pytest.approx(0.98)
    assert true_accuracy_estimate(0.93, 0.0, 2) == 0.93
    assert true_accuracy_estimate(0.99, 0.1, 2) == 1.0  # clipped


def test_training_objects_carry_their_consolidated_confidence() -> None:
    """Each human label's own confidence goes to inference (per-object label noise), clipped to [0, 1]."""
    from quorum_jobs.autolabeling import loop_object

    text = loop_object(7, '{"source": "Rain tonight"}', "weather", False, 0.93).proto()
    assert (text.object_id, text.text, text.label) == ("7", "Rain tonight", "weather")
    assert text.label_confidence == 0.93
    image = loop_object(8, '{"source-ref": "s3://b/x.png"}', "cat", True, 1.2).proto()
    assert (image.image_uri, image.validation, image.label_confidence) == ("s3://b/x.png", True, 1.0)
    assert loop_object(9, '{"source": "x"}').proto().label_confidence == 0.0  # unknown / to score


def test_a_pick_named_twice_never_keeps_an_object_from_humans() -> None:
    from quorum_jobs.autolabeling import _split
    from quorum_jobs.core.autolabel import Decision, Next

    # The last iteration sends the whole rest; a model pick repeated must not push an object out of the batch.
    to_humans, to_fail = _split(Next(Decision.REST_TO_HUMANS, 3, 0), [2, 2, 5], [1, 2, 5])
    assert to_humans == [2, 5, 1] and to_fail == []


def test_the_loop_goes_on_only_while_the_pool_can_bring_the_next_look() -> None:
    batch = list(range(100))
    drawn = list(range(75)) + [5000]  # 75 % of the batch's picks are draws (one pick was not sent)
    # 0: the next training may look, whatever is left.
    assert next_look_reachable(0.0, batch, drawn, 0, PLAN)
    # The batch's 75 draws and 75 % of the pool beyond a base batch (PLAN.batch_size = 50): 75 + 0.75 * 950.
    assert next_look_reachable(787.0, batch, drawn, 1000, PLAN)
    assert not next_look_reachable(788.0, batch, drawn, 1000, PLAN)
    # Once the pool is used up, only the batch's own draws can count.
    assert next_look_reachable(75.0, batch, drawn, 10, PLAN)
    assert not next_look_reachable(76.0, batch, drawn, 10, PLAN)
    # An uncertified job draws every pick: the whole pool counts.
    assert next_look_reachable(1050.0, batch, batch, 1000, PLAN)
