"""The automated-labeling model as one more annotator: its answer id, human-only counts, event decoding,
adaptive decisions that count humans only, and what its learned reliability does to the labels."""

from __future__ import annotations

import numpy as np
from aiokafka import ConsumerRecord

from quorum.common.v1 import common_pb2
from quorum.events.v1 import events_pb2
from quorum_common.events import envelope
from quorum_consolidation.adapters.answer_consumer import decode_answer
from quorum_consolidation.core.adaptive import AdaptivePolicy, decide, fit_worker_model
from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.model_annotator import (
    MODEL_WORKER_ID,
    human_answer_counts,
    human_workers,
    model_answer_id,
)
from quorum_consolidation.core.simulate import random_confusions, simulate
from quorum_consolidation.core.streaming import label_with_model
from quorum_consolidation.core.worker_quality import job_worker_quality

CATS = ["cat", "dog", "bird"]


def _record(
    model_label: str,
    *,
    task_type: str = "text-classification",
    known_label: str = "",
    worker_id: str = "w1",
    object_id: int = 4,
) -> ConsumerRecord:
    answer = common_pb2.Answer(
        answer_id=f"a-{worker_id}-{object_id}",
        job_id="j1",
        object_id=object_id,
        worker_id=worker_id,
        label="cat",
        submitted_at_ms=7,
        payload_json='{"label": "cat"}',
    )
    env = envelope(
        answer_submitted=events_pb2.AnswerSubmitted(
            answer=answer,
            task_type=task_type,
            categories=CATS,
            required_answers=3,
            known_label=known_label,
            model_label=model_label,
        )
    )
    value = env.SerializeToString()
    return ConsumerRecord("t", 0, 0, 0, 0, None, value, None, 0, len(value), [])


def test_the_model_answer_id_is_the_same_for_every_event_of_an_object_and_fits_the_column() -> None:
    first = model_answer_id("8f3c" * 8, 12)
    assert first == model_answer_id("8f3c" * 8, 12) and len(first) <= 64
    assert len({first, model_answer_id("8f3c" * 8, 13), model_answer_id("other", 12)}) == 3


def test_human_counts_and_workers_leave_the_model_out() -> None:
    answers = Answers.from_triples(
        [(1, "w1", "cat"), (1, MODEL_WORKER_ID, "cat"), (2, "w2", "dog"), (3, MODEL_WORKER_ID, "dog")], CATS
    )
    assert answers.answer_counts().tolist() == [2, 1, 1]
    assert human_answer_counts(answers).tolist() == [1, 1, 0]
    plain = Answers.from_triples([(1, "w1", "cat"), (1, "w2", "dog")], CATS)
    assert human_answer_counts(plain).tolist() == [2]
    assert human_workers(["w1", MODEL_WORKER_ID, "w2"]) == ["w1", "w2"]


def test_an_event_with_a_model_label_brings_the_models_answer_row() -> None:
    decoded = decode_answer(_record("dog"))
    assert decoded is not None and decoded.object_row["model_label"] == "dog"
    assert decoded.model_answer == {
        "answer_id": model_answer_id("j1", 4),
        "job_id": "j1",
        "object_id": 4,
        "worker_id": MODEL_WORKER_ID,
        "label": "dog",
        "submitted_at_ms": 0,
        "payload_json": "",
    }
    # Another worker's event for the same object brings the same row (stored once).
    other = decode_answer(_record("dog", worker_id="w2"))
    assert other is not None and other.model_answer == decoded.model_answer
    plain = decode_answer(_record(""))
    assert plain is not None and plain.model_answer is None and "model_label" not in plain.object_row


def test_a_model_label_is_ignored_where_it_cannot_count_but_the_human_answer_still_does() -> None:
    for ignored in (
        _record("horse"),  # not a category
        _record("dog", task_type="bounding-box"),  # not a classification
        _record("dog", known_label="cat"),  # a known-answer object: its class is known
    ):
        decoded = decode_answer(ignored)
        assert decoded is not None and decoded.model_answer is None
        assert "model_label" not in decoded.object_row


def test_a_human_answer_under_the_models_worker_id_is_refused() -> None:
    assert decode_answer(_record("", worker_id=MODEL_WORKER_ID)) is None


def test_the_models_answer_moves_an_adaptive_posterior_but_not_the_human_minimum() -> None:
    rng = np.random.default_rng(2)
    sim = simulate(random_confusions(rng, 8, 3, accuracy=(0.7, 0.9)), 200, 3, seed=2)
    triples = [
        (int(sim.answers.object_ids[o]), str(sim.answers.worker_ids[w]), CATS[c])
        for o, w, c in zip(sim.answers.objects, sim.answers.workers, sim.answers.classes, strict=True)
    ]
    # The model is right on every object; a new object has one human answer and the model's, which agree.
    triples += [
        (int(o), MODEL_WORKER_ID, CATS[int(t)])
        for o, t in zip(sim.answers.object_ids, sim.truth, strict=True)
    ]
    triples += [(1000, str(sim.answers.worker_ids[0]), "dog"), (1000, MODEL_WORKER_ID, "dog")]
    answers = Answers.from_triples(triples, CATS)
    model = fit_worker_model(answers, method="ds")
    policy = AdaptivePolicy(target_confidence=0.9, min_answers=2, max_answers=3)
    last = answers.n_objects - 1
    counting_all = decide(policy, model, answers)
    humans_only = decide(policy, model, answers, n_answers=human_answer_counts(answers))
    assert counting_all.confidence[last] >= 0.9 and counting_all.done[last]
    assert humans_only.confidence[last] == counting_all.confidence[last]
    assert (
        not humans_only.done[last] and humans_only.n_answers[last] == 1 and humans_only.remaining[last] == 2
    )


def test_a_reliable_model_annotator_is_learned_as_such_and_improves_the_labels() -> None:
    rng = np.random.default_rng(5)
    sim = simulate(random_confusions(rng, 12, 3, accuracy=(0.55, 0.8)), 300, 2, seed=5)
    answers = sim.answers
    right = rng.random(answers.n_objects) < 0.85
    model_says = np.where(right, sim.truth, (sim.truth + 1) % 3)
    base = [
        (int(answers.object_ids[o]), str(answers.worker_ids[w]), CATS[c])
        for o, w, c in zip(answers.objects, answers.workers, answers.classes, strict=True)
    ]
    extra = [
        (int(o), MODEL_WORKER_ID, CATS[int(c)]) for o, c in zip(answers.object_ids, model_says, strict=True)
    ]
    accuracy = {}
    for name, triples in (("humans", base), ("with model", base + extra)):
        data = Answers.from_triples(triples, CATS)
        labels, _, _ = label_with_model(fit_worker_model(data, method="auto"), data)
        accuracy[name] = float(np.mean(labels == sim.truth))
    assert accuracy["with model"] > accuracy["humans"] + 0.05, accuracy
    with_model = Answers.from_triples(base + extra, CATS)
    report = job_worker_quality(
        with_model.object_ids[with_model.objects].tolist(),
        with_model.worker_ids[with_model.workers].astype(str).tolist(),
        [CATS[c] for c in with_model.classes],
        [tuple(CATS)] * with_model.n_answers,
        "auto",
    )
    assert report is not None
    quality = {w.worker_id: w for w in report.workers}
    assert quality[MODEL_WORKER_ID].answers == 300
    assert abs(quality[MODEL_WORKER_ID].accuracy - 0.85) < 0.07
