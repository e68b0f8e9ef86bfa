"""Adaptive redundancy: consolidation's verdicts on the labels topic steer dispatch ("workforce-labels").

A LabelConsolidated event closes its object. Runs inside DbOffsetConsumer's transaction: the closed objects
are recorded in `closed_objects` (so a rebuild of the dispatch state from PostgreSQL keeps them closed) with
the offsets, and taken out of the Redis pool. Idempotent (a replayed label closes nothing new). Only jobs with
a target confidence, and objects with their own early stop (DataObject.min_answers: the automated-labeling
loop's random draws, in any job), are touched: a fixed redundancy job's other objects leave the pool by their
answer count as before.

An AnswersWanted event (such an object is still below its target) ends the object's verdict hold in Redis, so
its next worker is sent now rather than after the wait; only a hint, nothing is stored.

Records that do not decode are logged and skipped (raising would block the partition).
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from aiokafka import ConsumerRecord
from google.protobuf.message import DecodeError
from sqlalchemy.ext.asyncio import AsyncSession

from quorum_common.events import parse_envelope
from quorum_common.logging import get_logger
from quorum_workforce.adapters.dispatch import DispatchStore
from quorum_workforce.adapters.repository import Repository

log = get_logger(__name__)

LABELS_CONSUMER = "workforce-labels"


class Labeled(NamedTuple):
    job_id: str
    object_id: int


class Wanted(NamedTuple):
    job_id: str
    object_id: int
    answer_count: int


def decode_verdict(record: ConsumerRecord) -> Labeled | Wanted | None:
    """What a labels-topic record says about its object, or None (logged) for anything else."""
    where = {"partition": record.partition, "offset": record.offset}
    try:
        env = parse_envelope(record.value or b"")
    except DecodeError as err:
        log.warning("label_skipped", why="undecodable", error=str(err), **where)
        return None
    kind = env.WhichOneof("payload")
    if kind == "label_consolidated":
        ev = env.label_consolidated
        verdict: Labeled | Wanted = Labeled(ev.job_id, ev.object_id)
    elif kind == "answers_wanted":
        wanted = env.answers_wanted
        verdict = Wanted(wanted.job_id, wanted.object_id, wanted.answer_count)
    else:
        log.warning("label_skipped", why="unexpected payload", payload=kind, **where)
        return None
    if not verdict.job_id or verdict.object_id < 0:
        log.warning("label_skipped", why="missing job_id or object_id", payload=kind, **where)
        return None
    return verdict


class VerdictHandler:
    """The "workforce-labels" consumer's handler: labels close their objects, AnswersWanted ends holds."""

    def __init__(self, dispatch: DispatchStore) -> None:
        self.dispatch = dispatch

    async def __call__(self, session: AsyncSession, records: list[ConsumerRecord]) -> None:
        verdicts = [v for v in map(decode_verdict, records) if v is not None]
        keys = {(v.job_id, v.object_id) for v in verdicts if isinstance(v, Labeled)}
        await self._close(session, keys)
        await self._end_holds([v for v in verdicts if isinstance(v, Wanted) and v[:2] not in keys])

    async def _close(self, session: AsyncSession, keys: set[tuple[str, int]]) -> None:
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
        log.debug("objects_closed", objects=len(closing), newly_closed=closed)

    async def _end_holds(self, wanted: list[Wanted]) -> None:
        # The last event of an object in the batch speaks for it (events of one object arrive in order).
        by_job: dict[str, dict[int, int]] = defaultdict(dict)
        for w in wanted:
            by_job[w.job_id][w.object_id] = w.answer_count
        for job_id, counts in by_job.items():
            ended = await self.dispatch.end_holds(job_id, counts)
            log.debug("holds_ended", job_id=job_id, wanted=len(counts), ended=ended)
