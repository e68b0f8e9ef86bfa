"""Known-answer objects in the service's job worker model: clamped labels, calibration carried into the
streaming model, adaptive decisions that keep asking, worker accuracy on known answers, event decoding."""

from __future__ import annotations

import dataclasses

import numpy as np
from aiokafka import ConsumerRecord

from quorum.common.v1 import common_pb2
from quorum.events.v1 import events_pb2
from quorum_common.events import envelope
from quorum_consolidation.adapters.answer_consumer import KNOWN_METHOD, decode_answer, with_known
from quorum_consolidation.adapters.job_models import known_labels_in
from quorum_consolidation.core import consolidate
from quorum_consolidation.core.adaptive import AdaptivePolicy, decide, fit_worker_model
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.side_info import KnownLabels
from quorum_consolidation.core.simulate import random_confusions, simulate
from quorum_consolidation.core.streaming import label_with_model
from quorum_consolidation.core.worker_quality import job_worker_quality


def crowd(n_objects: int = 300, seed: int = 0) -> tuple[Answers, np.ndarray]:
    rng = np.random.default_rng(seed)
    sim = simulate(random_confusions(rng, 12, 3, accuracy=(0.55, 0.9)), n_objects, 3, seed=seed)
    return sim.answers, sim.truth


def known_of(answers: Answers, truth: np.ndarray, share: float = 0.1) -> dict[int, str]:
    n = answers.n_objects
    picked = np.arange(0, n, int(round(1 / share)))
    return {int(answers.object_ids[i]): answers.categories[int(truth[i])] for i in picked}


def test_known_objects_come_out_with_their_known_class_and_confidence_one() -> None:
    answers, truth = crowd()
    known_ids = known_of(answers, truth)
    # Make some known answers disagree with every worker: the known class still wins.
    flipped = {
        oid: answers.categories[(answers.categories.index(lab) + 1) % 3] for oid, lab in known_ids.items()
    }
    known = known_labels_in(answers, flipped)
    assert known is not None and known.objects.shape[0] == len(flipped)
    model = fit_worker_model(answers, method="auto", known=known)
    labels, conf, _ = label_with_model(model, answers, known=known)
    index = {int(o): i for i, o in enumerate(answers.object_ids.tolist())}
    for oid, lab in flipped.items():
        assert answers.categories[labels[index[oid]]] == lab and conf[index[oid]] == 1.0
    others = np.setdiff1d(np.arange(answers.n_objects), known.objects)
    assert (conf[others] < 1.0).all()


def test_twenty_known_objects_calibrate_the_streaming_model_as_the_batch_fit() -> None:
    answers, truth = crowd(400, seed=3)
    few = known_labels_in(answers, dict(list(known_of(answers, truth).items())[:5]))
    enough = known_labels_in(answers, known_of(answers, truth))
    assert enough is not None and enough.objects.shape[0] >= 20
    assert not fit_worker_model(answers, method="auto", known=few).calibrated
    model = fit_worker_model(answers, method="auto", known=enough)
    assert model.calibrated
    from quorum_consolidation.core.auto import AutoDawidSkene  # noqa: PLC0415

    batch = AutoDawidSkene().fit(answers, known=enough)
    assert batch.probas_ is not None
    _, conf, probas = label_with_model(model, answers, known=enough)
    # The streaming posteriors are the batch fit's (same tempering, same calibration, same clamping), up to
    # the floors the streaming model puts on the confusion matrices.
    np.testing.assert_allclose(probas, batch.probas_, atol=2e-3)
    assert (probas.argmax(axis=1) == batch.probas_.argmax(axis=1)).all()
    uncalibrated = dataclasses.replace(model, calibration_slope=1.0, calibration_intercept=0.0)
    _, raw, _ = label_with_model(uncalibrated, answers, known=enough)
    assert np.abs(raw - conf).max() > 0.01  # the calibration did move the confidences


def test_plain_ds_job_models_are_anchored_by_known_objects_too() -> None:
    answers, truth = crowd(200, seed=5)
    known = KnownLabels.from_ids(answers, known_of(answers, truth, 0.2))
    model = fit_worker_model(answers, method="ds", known=known)
    assert model.source == "dawid_skene" and not model.calibrated


def test_adaptive_redundancy_keeps_asking_on_a_known_object_until_the_maximum() -> None:
    cats = ("a", "b")
    # Two objects, each with two agreeing answers; object 1 is a known-answer object.
    answers = Answers.from_arrays([0, 0, 1, 1], ["w1", "w2", "w1", "w2"], ["a", "a", "b", "b"], cats)
    model = fit_worker_model(answers, method="auto")
    policy = AdaptivePolicy(target_confidence=0.6, min_answers=1, max_answers=4)
    known = KnownLabels.from_ids(answers, {1: "b"})
    decision = decide(policy, model, answers, known)
    assert decision.done.tolist() == [True, False]  # object 0 is confident; object 1 waits for 4 answers
    assert decision.remaining.tolist() == [0, 2]
    assert decision.labels() == ["a", "b"] and decision.confidence[1] == 1.0
    more = Answers.from_arrays([1, 1, 1, 1], ["w1", "w2", "w3", "w4"], ["b", "b", "a", "b"], cats)
    at_max = decide(policy, model, more, KnownLabels.from_ids(more, {1: "b"}))
    assert at_max.done.tolist() == [True] and at_max.labels() == ["b"] and at_max.confidence[0] == 1.0


def test_batch_methods_other_than_the_job_model_get_known_labels_too() -> None:
    answers = Answers.from_arrays(
        [0, 0, 0, 1, 1], ["w1", "w2", "w3", "w1", "w2"], ["a", "a", "a", "b", "b"], ("a", "b")
    )
    known = KnownLabels.from_ids(answers, {0: "b"})
    results = with_known(consolidate(answers, answers.categories, "mv"), answers, known)
    assert [(r.object_id, r.label, r.confidence, r.method) for r in results][0] == (0, "b", 1.0, KNOWN_METHOD)
    assert results[1].label == "b" and results[1].method != KNOWN_METHOD


def test_worker_quality_reports_each_workers_accuracy_on_known_answers() -> None:
    # w1 answers both known objects right, w2 one of two, w3 none; object 2 is not known.
    rows = [
        (0, "w1", "a"), (0, "w2", "a"), (0, "w3", "b"),
        (1, "w1", "b"), (1, "w2", "a"), (1, "w3", "a"),
        (2, "w1", "a"), (2, "w2", "a"), (2, "w3", "a"),
    ]  # fmt: skip
    cats = ("a", "b")
    report = job_worker_quality(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [cats] * len(rows), "auto",
        known={0: "a", 1: "b", 7: "a"},  # object 7 has no answers: ignored
    )  # fmt: skip
    assert report is not None and report.known_objects == 2
    by = {w.worker_id: w for w in report.workers}
    assert (by["w1"].known_answers, by["w1"].known_accuracy) == (2, 1.0)
    assert (by["w2"].known_answers, by["w2"].known_accuracy) == (2, 0.5)
    assert (by["w3"].known_answers, by["w3"].known_accuracy) == (2, 0.0)
    plain = job_worker_quality([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [cats] * 9)
    assert plain is not None and plain.known_objects == 0
    assert all(w.known_answers == 0 for w in plain.workers)


def _record(known_label: str, task_type: str = "image-classification") -> ConsumerRecord:
    answer = common_pb2.Answer(answer_id="a1", job_id="j1", object_id=4, worker_id="w1", label="cat")
    env = envelope(
        answer_submitted=events_pb2.AnswerSubmitted(
            answer=answer,
            task_type=task_type,
            categories=["cat", "dog"],
            required_answers=3,
            known_label=known_label,
        )
    )
    value = env.SerializeToString()
    return ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), [])


def test_answer_events_carry_the_known_class_into_the_object_row() -> None:
    decoded = decode_answer(_record("dog"))
    assert decoded is not None and decoded.object_row["known_label"] == "dog"
    plain = decode_answer(_record(""))
    assert plain is not None and "known_label" not in plain.object_row
    # A known class outside the categories is dropped; the answer still counts.
    odd = decode_answer(_record("horse"))
    assert odd is not None and "known_label" not in odd.object_row
