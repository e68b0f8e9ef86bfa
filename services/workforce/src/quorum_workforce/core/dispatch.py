"""Dispatch rules, as pure functions and a pure model of one job's dispatch state.

The Lua scripts in `adapters/lua/` apply exactly these rules atomically inside Redis; this module is the
readable, unit-tested statement of them (keep the two in step).

State of a job (Redis keys in brackets, see adapters/dispatch.py):
- takers[o]   [SET j:<job>:o:<o>:w]  workers that answered object o or hold a lease on it; |takers| is what
  counts toward `required` (workers_per_object).
- declined[o] [SET j:<job>:o:<o>:d]  workers that declined o; never offered o again, never counted.
- open        [ZSET j:<job>:open]    objects with |takers| < required, scored by object id (manifest order).
- cursors[w]  [HASH j:<job>:cur]     the highest object a worker's forward scan has passed: every object of
  `open` below it is ineligible for w unless it is in `reopened`.
- reopened    [ZSET j:<job>:reopen]  objects that came back into `open` (a released lease, a late object, a
  raised `required`), which workers whose cursor is past them must still see.

The cursor keeps NextTask O(1)-ish for a worker far ahead of the others (e.g. 3 workers per object, one
idle): without it every call would rescan all the objects the worker already took.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


def is_eligible(worker: str, takers: Collection[str], declined: Collection[str], required: int) -> bool:
    """May `worker` be offered an object? Not if they answered it, hold it, declined it, or it is full."""
    return worker not in takers and worker not in declined and len(takers) < required


def order_jobs(jobs: Iterable[tuple[str, float]]) -> list[str]:
    """Jobs a worker may draw from, oldest opened first (ties by id): old jobs finish before new ones."""
    return [job_id for job_id, _ in sorted(jobs, key=lambda item: (item[1], item[0]))]


def lease_expiry_ms(now_ms: int, time_limit_s: int) -> int:
    return now_ms + time_limit_s * 1000


class LeaseState(StrEnum):
    ACTIVE = "a"
    # A submit is writing the answer to PostgreSQL; the sweeper must not release it meanwhile.
    SUBMITTING = "s"
    # Tombstones, kept a while so a late submit learns why its task is gone.
    EXPIRED = "x"
    DECLINED = "d"
    CANCELLED = "c"


TOMBSTONES = frozenset({LeaseState.EXPIRED, LeaseState.DECLINED, LeaseState.CANCELLED})


class SubmitCheck(StrEnum):
    OK = "ok"
    MISSING = "missing"
    FOREIGN = "foreign"
    EXPIRED = "expired"
    DECLINED = "declined"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class LeaseView:
    job_id: str
    object_id: int
    worker_id: str
    expires_at_ms: int
    state: LeaseState


def check_submit(lease: LeaseView | None, worker_id: str, now_ms: int, job_open: bool = True) -> SubmitCheck:
    """May this worker submit on this lease now? (mirrored by begin_submit.lua)

    A lease already SUBMITTING is accepted again (a retry while the first attempt is in flight, or after a
    crash): the unique task_id in PostgreSQL turns the second insert into a duplicate.
    """
    if lease is None:
        return SubmitCheck.MISSING
    if lease.worker_id != worker_id:
        return SubmitCheck.FOREIGN
    if lease.state == LeaseState.CANCELLED or not job_open:
        return SubmitCheck.CANCELLED
    if lease.state == LeaseState.EXPIRED:
        return SubmitCheck.EXPIRED
    if lease.state == LeaseState.DECLINED:
        return SubmitCheck.DECLINED
    if lease.state == LeaseState.ACTIVE and lease.expires_at_ms <= now_ms:
        return SubmitCheck.EXPIRED
    return SubmitCheck.OK


def submit_due_at_ms(expires_at_ms: int, now_ms: int, grace_ms: int) -> int:
    """When the sweeper may look at a SUBMITTING lease: never before the submit had `grace_ms` to commit."""
    return max(expires_at_ms, now_ms + grace_ms)


class SweepAction(StrEnum):
    FINALIZE = "finalize"  # it was answered (PostgreSQL says so): keep the worker counted, drop the lease
    RELEASE = "release"  # give the object back to the pool
    WAIT = "wait"  # not due yet, or already a tombstone


def sweep_action(state: LeaseState, due_at_ms: int, now_ms: int, answered: bool) -> SweepAction:
    """What the sweeper does with a lease it found in the expiry index (mirrored by release.lua)."""
    if state in TOMBSTONES or due_at_ms > now_ms:
        return SweepAction.WAIT
    return SweepAction.FINALIZE if answered else SweepAction.RELEASE


@dataclass
class JobBook:
    """Pure model of one job's dispatch state and of the Lua scripts that change it."""

    required: int
    open: set[int] = field(default_factory=set)
    takers: dict[int, set[str]] = field(default_factory=dict)
    declined: dict[int, set[str]] = field(default_factory=dict)
    reopened: set[int] = field(default_factory=set)
    cursors: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        required: int,
        object_ids: Iterable[int],
        answered: Mapping[int, Iterable[str]] | None = None,
        declined: Mapping[int, Iterable[str]] | None = None,
    ) -> JobBook:
        """The state a rebuild from PostgreSQL produces: answers count, leases are gone, no cursors."""
        book = cls(required=required)
        answered = answered or {}
        declined = declined or {}
        for oid in object_ids:
            book.takers[oid] = set(answered.get(oid, ()))
            book.declined[oid] = set(declined.get(oid, ()))
            if len(book.takers[oid]) < required:
                book.open.add(oid)
        return book

    def eligible(self, worker: str, oid: int) -> bool:
        return is_eligible(worker, self.takers.get(oid, set()), self.declined.get(oid, set()), self.required)

    def add_objects(self, object_ids: Iterable[int]) -> None:
        """Objects stored after the job opened: they may lie below cursors, so they count as reopened."""
        for oid in object_ids:
            if oid in self.takers:
                continue
            self.takers[oid] = set()
            self.declined[oid] = set()
            self.open.add(oid)
            self.reopened.add(oid)

    def pick(self, worker: str, max_scan: int = 2000, max_reopen: int = 500) -> int | None:
        """Choose (and claim) the lowest-id object eligible for `worker`, or None (next_task.lua)."""
        chosen_reopened: int | None = None
        for oid in sorted(self.reopened)[:max_reopen]:
            if oid not in self.open:
                self.reopened.discard(oid)
                continue
            if self.eligible(worker, oid):
                chosen_reopened = oid
                break
        cursor = self.cursors.get(worker)
        forward: int | None = None
        passed: int | None = None
        scanned = 0
        for oid in sorted(o for o in self.open if cursor is None or o > cursor):
            if scanned >= max_scan:
                break
            scanned += 1
            if self.eligible(worker, oid):
                forward = oid
                break
            passed = oid
        if forward is not None and (chosen_reopened is None or forward < chosen_reopened):
            self.cursors[worker] = forward
            chosen: int | None = forward
        else:
            if passed is not None:
                self.cursors[worker] = passed
            chosen = chosen_reopened
        if chosen is not None:
            self._claim(worker, chosen)
        return chosen

    def _claim(self, worker: str, oid: int) -> None:
        takers = self.takers.setdefault(oid, set())
        takers.add(worker)
        if len(takers) >= self.required:
            self.open.discard(oid)
            self.reopened.discard(oid)

    def release(self, worker: str, oid: int, *, decline: bool = False) -> None:
        """A lease expired, was declined or cancelled: the worker no longer counts toward the object."""
        self.takers.setdefault(oid, set()).discard(worker)
        if decline:
            self.declined.setdefault(oid, set()).add(worker)
        if len(self.takers[oid]) < self.required:
            self.open.add(oid)
            self.reopened.add(oid)

    def finalize(self, worker: str, oid: int) -> None:
        """The lease was answered: the worker stays counted for good (a no-op unless it was released)."""
        self._claim(worker, oid)

    def set_required(self, required: int) -> None:
        """workers_per_object changed: objects may enter or leave `open`."""
        self.required = required
        for oid, takers in self.takers.items():
            if len(takers) < required:
                if oid not in self.open:
                    self.open.add(oid)
                    self.reopened.add(oid)
            else:
                self.open.discard(oid)
                self.reopened.discard(oid)
