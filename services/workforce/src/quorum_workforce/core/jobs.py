"""A job as the workforce service sees it, and the rules OpenJob enforces on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from quorum_workforce.core.answers import is_classification
from quorum_workforce.errors import InvalidArgument

MAX_WORKERS_PER_OBJECT = 10
MAX_TASK_TIME_LIMIT_S = 7 * 24 * 3600
MAX_ID_CHARS = 64


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    owner_id: str
    team_id: str
    name: str
    task_type: str
    categories: tuple[str, ...] = ()
    workers_per_object: int = 1
    task_time_limit_s: int = 300
    price_per_task_usd: float = 0.0
    instructions: str = ""
    object_count: int = 0
    # Adaptive redundancy: 0.0 = off; else objects close when labeled, after at least min_workers_per_object
    # and at most workers_per_object answers.
    target_confidence: float = 0.0
    min_workers_per_object: int = 0
    template: str = ""  # custom jobs: the HTML a worker answers in
    status: str = "open"
    opened_at_ms: int = field(default=0, compare=False)

    @property
    def adaptive(self) -> bool:
        return self.target_confidence > 0

    @property
    def min_workers(self) -> int:
        """Takers an object gets at once before dispatch waits for answers (= workers_per_object if fixed)."""
        if not self.adaptive or not self.min_workers_per_object:
            return self.workers_per_object
        return min(self.min_workers_per_object, self.workers_per_object)


def validate_job_spec(spec: JobSpec) -> None:
    """Raise InvalidArgument (reason job_spec_invalid) naming the first field that is wrong."""

    def bad(message: str) -> InvalidArgument:
        return InvalidArgument(message, reason="job_spec_invalid")

    for name in ("job_id", "owner_id", "team_id"):
        value = getattr(spec, name)
        if not value:
            raise bad(f"{name} is required")
        if len(value) > MAX_ID_CHARS:
            raise bad(f"{name} is longer than {MAX_ID_CHARS} characters")
    if not spec.task_type:
        raise bad("task_type is required")
    if not 1 <= spec.workers_per_object <= MAX_WORKERS_PER_OBJECT:
        raise bad(
            f"workers_per_object must be between 1 and {MAX_WORKERS_PER_OBJECT}, "
            f"not {spec.workers_per_object}"
        )
    if not 0 < spec.task_time_limit_s <= MAX_TASK_TIME_LIMIT_S:
        raise bad(
            f"task_time_limit_s must be between 1 and {MAX_TASK_TIME_LIMIT_S}, not {spec.task_time_limit_s}"
        )
    if spec.target_confidence != 0 and not 0.5 < spec.target_confidence < 1:
        raise bad(f"target_confidence must be 0 (off) or in (0.5, 1), not {spec.target_confidence}")
    if spec.adaptive and not 0 <= spec.min_workers_per_object <= spec.workers_per_object:
        raise bad(
            f"min_workers_per_object must be between 1 and workers_per_object ({spec.workers_per_object}), "
            f"not {spec.min_workers_per_object}"
        )
    if spec.price_per_task_usd < 0:
        raise bad("price_per_task_usd must not be negative")
    if any(not c for c in spec.categories):
        raise bad("categories must not contain an empty name")
    if len(set(spec.categories)) != len(spec.categories):
        raise bad("categories must be distinct")
    if is_classification(spec.task_type) and not spec.categories:
        raise bad(f"a {spec.task_type} job needs categories")
