"""Job lifecycle (Ground Truth's states) and label counters.

    initializing ──► in_progress ──► completed
         │  │            │
         │  └──► stopping ◄┘──► stopped
         └──► failed ◄──── (initializing, in_progress, stopping)

`stopping` exists because closing the job in workforce is a remote call that may have to be retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quorum_jobs.errors import FailedPrecondition


class JobStatus(StrEnum):
    INITIALIZING = "initializing"
    IN_PROGRESS = "in_progress"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"
    FAILED = "failed"


TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.INITIALIZING: frozenset({JobStatus.IN_PROGRESS, JobStatus.STOPPING, JobStatus.FAILED}),
    JobStatus.IN_PROGRESS: frozenset({JobStatus.STOPPING, JobStatus.COMPLETED, JobStatus.FAILED}),
    JobStatus.STOPPING: frozenset({JobStatus.STOPPED, JobStatus.FAILED}),
    JobStatus.STOPPED: frozenset(),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# States in which consolidated labels are still accepted (an open job may already have answers while we
# are recording that workforce opened it; a stopping job may still receive labels that were in flight).
ACCEPTS_LABELS = frozenset({JobStatus.INITIALIZING, JobStatus.IN_PROGRESS, JobStatus.STOPPING})
# States whose output manifest lists every object (unlabeled ones with a failure reason).
FINAL_OUTPUT = frozenset({JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.FAILED})

_VERBS = {
    JobStatus.STOPPING: "stop",
    JobStatus.COMPLETED: "complete",
    JobStatus.IN_PROGRESS: "start",
    JobStatus.STOPPED: "stop",
    JobStatus.FAILED: "fail",
}


def can_transition(current: JobStatus | str, target: JobStatus | str) -> bool:
    return JobStatus(target) in TRANSITIONS[JobStatus(current)]


def check_transition(current: JobStatus | str, target: JobStatus | str) -> JobStatus:
    """Return the target state, or raise FailedPrecondition(reason="invalid_state")."""
    cur, tgt = JobStatus(current), JobStatus(target)
    if tgt not in TRANSITIONS[cur]:
        verb = _VERBS.get(tgt, f"move to {tgt.value}")
        raise FailedPrecondition(
            f"cannot {verb} a job that is {cur.value} (allowed from {cur.value}: "
            f"{', '.join(sorted(t.value for t in TRANSITIONS[cur])) or 'nothing, it is final'})",
            reason="invalid_state",
        )
    return tgt


@dataclass(frozen=True, slots=True)
class LabelCounters:
    total: int = 0
    human_labeled: int = 0
    machine_labeled: int = 0
    failed: int = 0

    @property
    def unlabeled(self) -> int:
        return self.total - self.human_labeled - self.machine_labeled - self.failed

    @property
    def done(self) -> bool:
        """Every object has a final outcome (a label or a failure)."""
        return self.total > 0 and self.unlabeled <= 0

    def add(self, *, human: int = 0, machine: int = 0, failed: int = 0) -> LabelCounters:
        return LabelCounters(
            self.total, self.human_labeled + human, self.machine_labeled + machine, self.failed + failed
        )


# "auto-label", not "auto": consolidation's default method is called "auto" and its labels are human labels.
MACHINE_METHOD_PREFIXES = ("auto-label", "autolabel", "machine", "model")


def is_machine_label(method: str, answer_count: int, worker_count: int) -> bool:
    """LabelConsolidated has no human/machine flag yet: a label is a machine label when its method names
    automated labeling (auto-label, model, ...) or when no worker answered the object."""
    return method.lower().startswith(MACHINE_METHOD_PREFIXES) or (answer_count <= 0 and worker_count == 0)
