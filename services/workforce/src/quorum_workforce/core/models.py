"""Domain values the service passes between its layers (the servicer turns them into protos)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Team:
    team_id: str
    owner_id: str
    name: str
    created_at_ms: int


@dataclass(frozen=True)
class Worker:
    worker_id: str
    owner_id: str
    name: str
    team_ids: tuple[str, ...]
    created_at_ms: int
    answers: int = 0


@dataclass(frozen=True)
class DataObject:
    object_id: int
    source: str = ""
    source_ref: str = ""
    previous_json: str = ""
    input_json: str = ""  # custom jobs: the manifest line as JSON
    # Known-answer objects of classification jobs: the known class. Goes to consolidation with every answer
    # event of the object; never into a Task (workers cannot tell known-answer objects from the others).
    known_label: str = ""
    # Automated-labeling jobs: the model's predicted class when the jobs loop sent the object to humans. Goes
    # to consolidation with every answer event of the object (one answer of a pseudo-worker there); never
    # into a Task.
    model_label: str = ""
    # Answers this object gets at most (0: the job's rule), all of them even in an adaptive job unless
    # `min_answers` is set: its answer events carry required_answers = min_answers = this (the automated-
    # labeling loop's random draws).
    required_answers: int = 0
    # With required_answers: this many takers at once, then one at a time until consolidation labels the
    # object (posterior >= target_confidence: the label closes it) or it has required_answers; its answer
    # events carry these instead of the job's (0: no early stop for this object).
    min_answers: int = 0
    target_confidence: float = 0.0


@dataclass(frozen=True)
class ObjectExtras:
    """What an object's answer events carry beyond the answer (DataObject's fields of the same names)."""

    known_label: str = ""
    model_label: str = ""
    required_answers: int = 0
    min_answers: int = 0
    target_confidence: float = 0.0


@dataclass(frozen=True)
class Task:
    task_id: str
    job_id: str
    object_id: int
    task_type: str
    source: str
    source_ref: str
    categories: tuple[str, ...]
    instructions: str
    job_name: str
    lease_expires_at_ms: int
    time_limit_s: int
    accepted_at_ms: int
    color_map: tuple[str, ...] = ()
    previous_json: str = ""
    # Custom: the job's HTML template and the task input (the manifest line as JSON).
    template: str = ""
    input_json: str = ""


@dataclass(frozen=True)
class Answer:
    answer_id: str
    task_id: str
    job_id: str
    object_id: int
    worker_id: str
    label: str
    payload_json: str
    accepted_at_ms: int
    submitted_at_ms: int
    time_spent_s: float


@dataclass(frozen=True)
class SubmitResult:
    answer_id: str
    duplicate: bool


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    answers: int
    objects_complete: int
    active_leases: int
    complete_object_ids: tuple[int, ...]
