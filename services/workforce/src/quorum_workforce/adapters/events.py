"""The AnswerSubmitted event (and the Answer proto it carries) for the outbox."""

from __future__ import annotations

from collections.abc import Sequence

from quorum.common.v1 import common_pb2
from quorum.events.v1 import events_pb2
from quorum_common.events import ANSWERS_TOPIC, envelope, object_key
from quorum_workforce.core.models import Answer, ObjectExtras

Event = tuple[str, bytes | None, events_pb2.EventEnvelope]


def answer_to_proto(answer: Answer) -> common_pb2.Answer:
    return common_pb2.Answer(
        answer_id=answer.answer_id,
        job_id=answer.job_id,
        object_id=answer.object_id,
        worker_id=answer.worker_id,
        label=answer.label,
        payload_json=answer.payload_json,
        accepted_at_ms=answer.accepted_at_ms,
        submitted_at_ms=answer.submitted_at_ms,
        time_spent_s=answer.time_spent_s,
    )


def answer_submitted(
    answer: Answer,
    task_type: str,
    categories: Sequence[str],
    required_answers: int,
    min_answers: int = 0,
    target_confidence: float = 0.0,
    previous_json: str = "",
    team_id: str = "",
    extras: ObjectExtras = ObjectExtras(),
) -> Event:
    """A fresh event (new event id) on the answers topic, keyed by object so its events stay in order."""
    if extras.required_answers > 0:  # the object's own count
        required_answers = extras.required_answers
        if extras.min_answers > 0:  # its own early stop, in any job
            min_answers, target_confidence = extras.min_answers, extras.target_confidence
        else:  # without early stop: consolidation waits for all
            min_answers = required_answers
    env = envelope(
        answer_submitted=events_pb2.AnswerSubmitted(
            answer=answer_to_proto(answer),
            task_type=task_type,
            categories=list(categories),
            required_answers=required_answers,
            min_answers=min_answers if target_confidence > 0 else 0,
            target_confidence=target_confidence,
            previous_json=previous_json,
            known_label=extras.known_label,
            team_id=team_id,
            model_label=extras.model_label,
        )
    )
    return ANSWERS_TOPIC, object_key(answer.job_id, answer.object_id), env
