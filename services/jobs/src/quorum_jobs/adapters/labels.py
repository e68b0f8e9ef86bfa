"""The label consumer's handler: LabelConsolidated events from Kafka into job_objects, one batch per call.

Runs inside DbOffsetConsumer's transaction (offsets commit with the labels). AnswersWanted events (dispatch
hints on the same topic) are skipped; records that do not decode, or that carry another payload, are logged
and skipped: raising would block the partition forever.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from quorum_common.events import parse_envelope
from quorum_common.logging import get_logger
from quorum_jobs.adapters.store import JobStore, LabelEvent
from quorum_jobs.core.output import NO_CONSENSUS_REASON
from quorum_jobs.core.states import is_machine_label

log = get_logger(__name__)


def decode_label(record: ConsumerRecord) -> LabelEvent | None:
    try:
        env = parse_envelope(record.value or b"")
    except DecodeError:
        log.warning("label_record_undecodable", partition=record.partition, offset=record.offset)
        return None
    kind = env.WhichOneof("payload")
    if kind == "answers_wanted":  # a hint for dispatch only (workforce reads it)
        return None
    if kind != "label_consolidated":
        log.warning(
            "label_record_unexpected_payload",
            partition=record.partition,
            offset=record.offset,
            payload=kind,
        )
        return None
    ev = env.label_consolidated
    if not ev.job_id or ev.object_id < 0:
        log.warning("label_record_incomplete", partition=record.partition, offset=record.offset)
        return None
    at_ms = ev.consolidated_at_ms or env.occurred_at_ms
    labeled_at = datetime.fromtimestamp(at_ms / 1000, UTC) if at_ms > 0 else datetime.now(UTC)
    return LabelEvent(
        job_id=ev.job_id,
        object_id=ev.object_id,
        label=ev.label,
        confidence=ev.confidence,
        human_annotated=not is_machine_label(ev.method, ev.answer_count, len(ev.worker_ids)),
        answer_count=ev.answer_count,
        labeled_at=labeled_at,
        label_json=ev.label_json,
        revision=max(ev.revision, 0),
    )


class LabelHandler:
    def __init__(self, store: JobStore) -> None:
        self.store = store

    async def __call__(self, session: AsyncSession, records: list[ConsumerRecord]) -> None:
        events = [ev for ev in (decode_label(r) for r in records) if ev is not None]
        result = await self.store.apply_labels(session, events, NO_CONSENSUS_REASON)
        log.debug(
            "labels_applied",
            records=len(records),
            applied=result.applied,
            revised=result.revised,
            duplicates=result.duplicates,
            skipped=result.skipped + len(records) - len(events),
            completed=result.completed_jobs,
        )
