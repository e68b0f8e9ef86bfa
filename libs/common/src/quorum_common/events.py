"""Kafka topics and the event envelope every message value is wrapped in."""

from __future__ import annotations

import uuid

from quorum.events.v1 import events_pb2
from quorum_common.clock import now_ms

ANSWERS_TOPIC = "quorum.answers.v1"
LABELS_TOPIC = "quorum.labels.v1"
JOB_STATUS_TOPIC = "quorum.job-status.v1"
ALL_TOPICS = (ANSWERS_TOPIC, LABELS_TOPIC, JOB_STATUS_TOPIC)


def object_key(job_id: str, object_id: int) -> bytes:
    """Partition key: every event about one object lands on one partition, in order."""
    return f"{job_id}:{object_id}".encode()


def envelope(**payload: object) -> events_pb2.EventEnvelope:
    """An envelope with a fresh event id, e.g. `envelope(answer_submitted=AnswerSubmitted(...))`."""
    return events_pb2.EventEnvelope(event_id=uuid.uuid4().hex, occurred_at_ms=now_ms(), **payload)  # type: ignore[arg-type]


def parse_envelope(data: bytes) -> events_pb2.EventEnvelope:
    msg = events_pb2.EventEnvelope()
    msg.ParseFromString(data)
    return msg
