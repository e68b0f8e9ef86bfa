"""Adaptive redundancy: LabelConsolidated events close their objects in dispatch ("workforce-labels").

Runs inside DbOffsetConsumer's transaction: the closed objects are recorded in `closed_objects` (so a rebuild
of the dispatch state from PostgreSQL keeps them closed) with the offsets, and taken out of the Redis pool.
Idempotent (a replayed label closes nothing new). Only jobs with a target confidence, and objects with their
own early stop (DataObject.min_answers: the automated-labeling loop's random draws, in any job), are touched:
a fixed redundancy job's other objects leave the pool by their answer count as before. Records that do not
decode are logged and skipped (raising would block the partition).
"""

from __future__ import annotations

from collections import defaultdict

from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from quorum_common.events import parse_envelope
from quorum_common.logging import get_logger
from quorum_workforce.adapters.dispatch import DispatchStore
from quorum_workforce.adapters.repository import Repository

log = get_logger(__name__)

LABELS_CONSUMER = "workforce-labels"


def decode_labeled(record: ConsumerRecord) -> tuple[str, int] | None:
    """(job id, object id) of a LabelConsolidated record, or None (logged) for anything else."""
    where = {"partition": record.partition, "offset": record.offset}
    try:
        env = parse_envelope(record.value or b"")
    except DecodeError as err:
        log.warning("label_skipped", why="undecodable", error=str(err), **where)
        return None
    if env.WhichOneof("payload") != "label_consolidated":
        log.warning("label_skipped", why="not_label_consolidated", payload=env.WhichOneof("payload"), **where)
        return None
    ev = env.label_consolidated
    if not ev.job_id or ev.object_id < 0:
        log.warning("label_skipped", why="missing job_id or object_id", **where)
        return None
    return ev.job_id, ev.object_id


class LabelCloser:
    def __init__(self, dispatch: DispatchStore) -> None:
        self.dispatch = dispatch

    async def __call__(self, session: AsyncSession, records: list[ConsumerRecord]) -> None:
        keys = {k for k in map(decode_labeled, records) if k is not None}
        if not keys:
            return
        adaptive = await Repository.adaptive_jobs(session, sorted({job for job, _ in keys}))
        others = sorted(k for k in keys if k[0] not in adaptive)
        own = await Repository.early_stop_objects(session, others)
        closing = sorted(k for k in keys if k[0] in adaptive or k in own)
        if not closing:
            return
        await Repository.close_objects(session, closing)
        by_job: dict[str, list[int]] = defaultdict(list)
        for job_id, object_id in closing:
            by_job[job_id].append(object_id)
        closed = 0
        for job_id, object_ids in by_job.items():
            closed += await self.dispatch.close_objects(job_id, object_ids)
        log.debug("objects_closed", records=len(records), objects=len(closing), newly_closed=closed)
