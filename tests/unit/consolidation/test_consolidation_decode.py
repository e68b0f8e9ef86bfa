"""Decoding AnswerSubmitted records: anything unusable is skipped (None), never raised."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord

from quorum.common.v1 import common_pb2
from quorum.events.v1 import events_pb2
from quorum_common.events import envelope
from quorum_consolidation.adapters.answer_consumer import decode_answer

CATS = ["cat", "dog"]


def record(value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )


def answer_record(
    *, label: str = "cat", worker_id: str = "w1", required: int = 3, categories: list[str] = CATS
) -> ConsumerRecord:
    answer = common_pb2.Answer(
        answer_id="a1", job_id="j1", object_id=4, worker_id=worker_id, label=label, submitted_at_ms=7
    )
    env = envelope(
        answer_submitted=events_pb2.AnswerSubmitted(
            answer=answer, task_type="image-classification", categories=categories, required_answers=required
        )
    )
    return record(env.SerializeToString())


def test_a_valid_answer_becomes_an_answer_row_and_an_object_row() -> None:
    decoded = decode_answer(answer_record())
    assert decoded is not None
    assert decoded.answer == {
        "answer_id": "a1",
        "job_id": "j1",
        "object_id": 4,
        "worker_id": "w1",
        "label": "cat",
        "submitted_at_ms": 7,
    }
    assert decoded.object_row == {
        "job_id": "j1",
        "object_id": 4,
        "required_answers": 3,
        "task_type": "image-classification",
        "categories": CATS,
        "min_answers": 0,
        "target_confidence": 0.0,
    }


@pytest.mark.parametrize(
    "rec",
    [
        record(b"\xff\xfe garbage"),
        record(envelope(job_status_changed=events_pb2.JobStatusChanged(job_id="j1")).SerializeToString()),
        answer_record(label="cow"),
        answer_record(label=""),
        answer_record(worker_id=""),
        answer_record(required=0),
        answer_record(categories=["cat"]),
        answer_record(categories=["cat", "cat"]),
    ],
    ids=[
        "undecodable",
        "other-event",
        "unknown-label",
        "no-label",
        "no-worker",
        "zero-required",
        "one-category",
        "repeated-category",
    ],
)
def test_unusable_records_are_skipped(rec: ConsumerRecord) -> None:
    assert decode_answer(rec) is None
