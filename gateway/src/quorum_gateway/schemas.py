"""Request and response models of the REST API (separate from the gRPC messages they map to).

Families follow the template: `XCreate` (request body), `XPublic` (response), `XsPublic{data, count}`.
Times are ISO-8601 UTC strings with milliseconds (`2026-11-22T05:00:00.000Z`), as Ground Truth writes them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quorum.consolidation.v1 import consolidation_pb2
from quorum.jobs.v1 import jobs_pb2
from quorum.workforce.v1 import workforce_pb2

Name = Annotated[str, Field(min_length=1, max_length=200)]


def iso_ms(epoch_ms: int) -> str | None:
    """Epoch milliseconds -> `YYYY-MM-DDTHH:MM:SS.mmmZ`; 0 (unset in proto3) -> None."""
    if not epoch_ms:
        return None
    seconds, millis = divmod(int(epoch_ms), 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


# ---------------------------------------------------------------- requesters (admin)


class RequesterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class RequesterCreated(BaseModel):
    requester_id: str
    name: str
    api_key: str = Field(description="Shown once: only its hash is stored.")


# ---------------------------------------------------------------- teams


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class TeamPublic(BaseModel):
    team_id: str
    name: str
    created_at: str | None

    @classmethod
    def from_proto(cls, team: workforce_pb2.Team) -> TeamPublic:
        return cls(team_id=team.team_id, name=team.name, created_at=iso_ms(team.created_at_ms))


class TeamsPublic(BaseModel):
    data: list[TeamPublic]
    count: int


# ---------------------------------------------------------------- workers


class WorkerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    team_ids: list[str] = Field(default_factory=list, max_length=100)


class WorkerPublic(BaseModel):
    worker_id: str
    name: str
    team_ids: list[str]
    answers: int = Field(description="Answers this worker has submitted.")
    created_at: str | None

    @classmethod
    def from_proto(cls, worker: workforce_pb2.Worker) -> WorkerPublic:
        return cls(
            worker_id=worker.worker_id,
            name=worker.name,
            team_ids=list(worker.team_ids),
            answers=worker.answers,
            created_at=iso_ms(worker.created_at_ms),
        )


class WorkerCreated(BaseModel):
    worker: WorkerPublic
    token: str = Field(description="The worker's bearer token. Shown once: only its hash is stored.")


class WorkersPublic(BaseModel):
    data: list[WorkerPublic]
    count: int


# ---------------------------------------------------------------- jobs


class AutoLabelingFields(BaseModel):
    """Automated labeling (text-classification and image-classification jobs)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Turn automated labeling on.")
    target_accuracy: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Accuracy machine labels must reach, certified by a lower confidence bound on "
        "human-labeled validation objects (0 = 0.95; else 0.5 < t < 1).",
    )
    min_dataset_size: int = Field(
        0, ge=0, description="Jobs with fewer objects are refused (0 = 1,250, Ground Truth's; at least 100)."
    )
    max_human_labeled: int = Field(
        0,
        ge=0,
        description="Send at most this many objects to humans; what the model cannot label then ends failed "
        "(0 = no limit).",
    )
    validation_workers_per_object: int = Field(
        0,
        ge=0,
        description="Answers per random draw at most, the human-labeled objects that certify the model: "
        "cleaner labels there certify sooner. A draw gets workers_per_object answers at once (also in an "
        "adaptive job), then one more at a time while its label's posterior is below half the target's error "
        "rate (0 = workers_per_object + 2, at most 10 and at most the team's workers; workers_per_object = "
        "exactly that many; else "
        "workers_per_object to 10).",
    )

    def proto(self) -> jobs_pb2.AutoLabeling:
        return jobs_pb2.AutoLabeling(
            enabled=self.enabled,
            target_accuracy=self.target_accuracy,
            min_dataset_size=self.min_dataset_size,
            max_human_labeled=self.max_human_labeled,
            validation_workers_per_object=self.validation_workers_per_object,
        )

    @classmethod
    def from_proto(cls, auto: jobs_pb2.AutoLabeling) -> AutoLabelingFields:
        return cls(
            enabled=auto.enabled,
            target_accuracy=auto.target_accuracy,
            min_dataset_size=auto.min_dataset_size,
            max_human_labeled=auto.max_human_labeled,
            validation_workers_per_object=auto.validation_workers_per_object,
        )


class JobFields(BaseModel):
    """Everything that defines a job except where its manifest comes from."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    task_type: str = Field(min_length=1, max_length=64, examples=["image_classification"])
    categories: list[str] = Field(default_factory=list, max_length=1000)
    workers_per_object: int = Field(3, ge=1, le=100)
    task_time_limit_s: int = Field(300, ge=1, le=7 * 24 * 3600)
    price_per_task_usd: float = Field(0.0, ge=0)
    team_id: str = Field(min_length=1)
    instructions: str = Field("", max_length=100_000)
    label_attribute_name: str | None = Field(None, description="Defaults to the job name.")
    target_confidence: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Adaptive redundancy: 0 (off) gives every object workers_per_object answers; else "
        "(0.5 < t < 1) an object is labeled once its posterior reaches t, and workers_per_object is the "
        "maximum number of answers.",
    )
    min_workers_per_object: int = Field(
        0,
        ge=0,
        le=100,
        description="Adaptive jobs: answers every object gets before it may be labeled (0 = default: 1 "
        "with a target, workers_per_object without).",
    )
    source_label_attribute: str = Field(
        "",
        max_length=127,
        description="label-verification and adjustment jobs: the attribute of the input lines that holds "
        "the previous job's label (e.g. a Ground Truth output manifest's label attribute).",
    )
    template: str = Field(
        "",
        description="custom jobs (required there): the HTML a worker answers in, at most 100,000 characters; "
        "`{{ task.input.NAME }}` is replaced by the manifest line's value (see docs/portal.md).",
    )
    custom_consolidation: str = Field(
        "",
        max_length=64,
        description='custom jobs: "majority" (default: the answer most workers gave, confidence = its share) '
        'or "all" (every worker\'s answer).',
    )
    auto_labeling: AutoLabelingFields | None = Field(
        None,
        description="Automated labeling: humans label a random first batch, a model machine-labels what it "
        "is sure about, the most informative of the rest go to humans next (multipart: a JSON object).",
    )
    known_answer_attribute: str = Field(
        "",
        max_length=256,
        description="text-classification and image-classification jobs: the manifest attribute (e.g. "
        '"gold-label") that marks known-answer (gold / control) objects and holds their class, one of '
        "`categories`. Workers never see it; those objects come out with their known class (confidence 1), "
        "anchor the worker model (20 or more also calibrate the confidences) and measure each worker "
        "(`known_accuracy` in GET /v1/jobs/{id}/workers).",
    )


class JobCreate(JobFields):
    """JSON body of POST /v1/jobs: exactly one of `manifest` (JSON lines) or `manifest_path`."""

    manifest: str | None = Field(None, description="The input manifest itself (JSON lines).")
    manifest_path: str | None = Field(
        None, description="A path (or file:// URI) the jobs service reads the manifest from."
    )

    @model_validator(mode="after")
    def _one_manifest(self) -> JobCreate:
        if (self.manifest is None) == (self.manifest_path is None):
            raise ValueError("give exactly one of `manifest` (the JSON lines) or `manifest_path`")
        return self


class LabelCounters(BaseModel):
    total: int
    human_labeled: int
    machine_labeled: int
    failed: int
    unlabeled: int


class JobPublic(BaseModel):
    job_id: str
    name: str
    task_type: str
    label_attribute_name: str
    categories: list[str]
    workers_per_object: int
    task_time_limit_s: int
    price_per_task_usd: float
    team_id: str
    instructions: str
    target_confidence: float = Field(0.0, description="0 = fixed redundancy (adaptive redundancy off).")
    min_workers_per_object: int
    source_label_attribute: str = Field("", description="Verification / adjustment: the previous label.")
    template: str = Field("", description="custom jobs: the HTML template.")
    custom_consolidation: str = Field("", description='custom jobs: "majority" or "all".')
    auto_labeling: AutoLabelingFields | None = Field(None, description="Automated labeling; null = off.")
    known_answer_attribute: str = Field(
        "", description="Classification: the manifest attribute marking known-answer objects (empty: none)."
    )
    status: str = Field(description="initializing | in_progress | stopping | stopped | completed | failed")
    counters: LabelCounters
    progress: float = Field(description="Fraction of objects with a final label (or failed), 0..1.")
    answers: int
    cost_usd: float
    created_at: str | None
    completed_at: str | None
    failure_reason: str | None

    @classmethod
    def from_proto(cls, job: jobs_pb2.Job) -> JobPublic:
        c = job.counters
        done = c.human_labeled + c.machine_labeled + c.failed
        progress = 1.0 if job.status == "completed" else (min(1.0, done / c.total) if c.total else 0.0)
        return cls(
            job_id=job.job_id,
            name=job.name,
            task_type=job.task_type,
            label_attribute_name=job.label_attribute_name,
            categories=list(job.categories),
            workers_per_object=job.workers_per_object,
            task_time_limit_s=job.task_time_limit_s,
            price_per_task_usd=job.price_per_task_usd,
            team_id=job.team_id,
            instructions=job.instructions,
            target_confidence=job.target_confidence,
            min_workers_per_object=job.min_workers_per_object or job.workers_per_object,
            source_label_attribute=job.source_label_attribute,
            template=job.template,
            custom_consolidation=job.custom_consolidation,
            auto_labeling=AutoLabelingFields.from_proto(job.auto_labeling)
            if job.auto_labeling.enabled
            else None,
            known_answer_attribute=job.known_answer_attribute,
            status=job.status,
            counters=LabelCounters(
                total=c.total,
                human_labeled=c.human_labeled,
                machine_labeled=c.machine_labeled,
                failed=c.failed,
                unlabeled=c.unlabeled,
            ),
            progress=round(progress, 6),
            answers=job.answers,
            cost_usd=job.cost_usd,
            created_at=iso_ms(job.created_at_ms),
            completed_at=iso_ms(job.completed_at_ms),
            failure_reason=job.failure_reason or None,
        )


class AutoLabelingThresholdPublic(BaseModel):
    category: str
    threshold: float | None = Field(description="null: the class is never machine-labeled in the iteration.")
    support: int = Field(description="Validation predictions of the class at or above the threshold.")
    accuracy: float
    lower_bound: float = Field(description="Lower confidence bound of that accuracy.")


class AutoLabelingIterationPublic(BaseModel):
    iteration: int = Field(description="0 = the random first batch (no model).")
    model_version: int
    n_train: int
    n_validation: int
    validation_accuracy: float
    thresholds: list[AutoLabelingThresholdPublic]
    validation_coverage: float = Field(description="Share of validation objects above their threshold.")
    estimated_accuracy: float = Field(
        description="Accuracy of those validation objects: machine labels' estimate."
    )
    machine_labeled: int = Field(description="Objects this iteration machine-labeled.")
    sent_to_humans: int = Field(description="Objects this iteration sent to humans.")
    human_labeled_total: int
    machine_labeled_total: int
    unlabeled: int
    decision: str = Field(description="continue | rest_to_humans | done | budget_spent")
    created_at: str | None

    @classmethod
    def from_proto(cls, it: jobs_pb2.AutoLabelingIteration) -> AutoLabelingIterationPublic:
        return cls(
            iteration=it.iteration,
            model_version=it.model_version,
            n_train=it.n_train,
            n_validation=it.n_validation,
            validation_accuracy=it.validation_accuracy,
            thresholds=[
                AutoLabelingThresholdPublic(
                    category=t.category,
                    threshold=t.threshold if t.has_threshold else None,
                    support=t.support,
                    accuracy=t.accuracy,
                    lower_bound=t.lower_bound,
                )
                for t in it.thresholds
            ],
            validation_coverage=it.validation_coverage,
            estimated_accuracy=it.estimated_accuracy,
            machine_labeled=it.machine_labeled,
            sent_to_humans=it.sent_to_humans,
            human_labeled_total=it.human_labeled_total,
            machine_labeled_total=it.machine_labeled_total,
            unlabeled=it.unlabeled,
            decision=it.decision,
            created_at=iso_ms(it.created_at_ms),
        )


class AutoLabelingPublic(BaseModel):
    job_id: str
    settings: AutoLabelingFields
    iterations: list[AutoLabelingIterationPublic]
    objects: int
    human_labeled: int
    machine_labeled: int
    failed: int
    human_answers: int
    cost_usd: float
    all_human_cost_usd: float = Field(
        description="What workers_per_object human answers on every object cost."
    )
    cost_saving_percent: float
    human_objects_saving_percent: float = Field(description="Objects humans never saw, in percent.")

    @classmethod
    def from_proto(cls, r: jobs_pb2.AutoLabelingReport) -> AutoLabelingPublic:
        return cls(
            job_id=r.job_id,
            settings=AutoLabelingFields.from_proto(r.settings),
            iterations=[AutoLabelingIterationPublic.from_proto(it) for it in r.iterations],
            objects=r.objects,
            human_labeled=r.human_labeled,
            machine_labeled=r.machine_labeled,
            failed=r.failed,
            human_answers=r.human_answers,
            cost_usd=r.cost_usd,
            all_human_cost_usd=r.all_human_cost_usd,
            cost_saving_percent=r.cost_saving_percent,
            human_objects_saving_percent=r.human_objects_saving_percent,
        )


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int
    next_page_token: str = Field("", description="Pass as page_token for the next page; empty at the end.")


class JobWorkerPublic(BaseModel):
    worker_id: str
    answers: int = Field(description="The worker's answers in this job (objects answered).")
    accuracy: float = Field(
        description="Estimated accuracy; its meaning depends on the task type (see `accuracy_measure`). "
        "Classification: expected accuracy under the model, sum_k prior_k * confusion[k][k]."
    )
    confusion: list[list[float]] = Field(
        description="K x K, confusion[true][answered] = P(answers `answered` | truth is `true`), in the "
        "order of `categories`; empty for structured task types other than label verification."
    )
    agreement: float = Field(
        description="Agreement with the consolidated labels (see `agreement_measure`); classification: share "
        "of the worker's answers equal to the consolidated label."
    )
    known_answers: int = Field(
        0, description="Jobs with known-answer objects: how many of them the worker answered."
    )
    known_accuracy: float | None = Field(
        None,
        description="Share of the worker's answers to known-answer objects that were the known class "
        "(observed, not estimated); null when the worker answered none.",
    )
    machine: bool = Field(
        False,
        description="True for `quorum-model`: the automated-labeling model, whose predicted class for each "
        "object it sent to humans counts as one answer whose reliability is learned like a worker's (not a "
        "person; not in the job's answers or cost).",
    )

    @classmethod
    def from_proto(cls, w: consolidation_pb2.WorkerQuality, k: int) -> JobWorkerPublic:
        flat = list(w.confusion)
        return cls(
            worker_id=w.worker_id,
            answers=w.answers,
            accuracy=w.accuracy,
            confusion=[flat[i * k : (i + 1) * k] for i in range(k)] if k and len(flat) == k * k else [],
            agreement=w.agreement_with_consensus,
            known_answers=w.known_answers,
            known_accuracy=w.known_accuracy if w.known_answers else None,
            machine=w.machine,
        )


class JobWorkersPublic(BaseModel):
    job_id: str
    task_type: str = Field("", description="The job's task type.")
    method: str = Field(
        description="The aggregation method whose worker model is reported; for structured task types "
        "(boxes, spans, masks, multi-label, verification, adjustment, custom) the task type, whose "
        "consolidator estimates the workers' reliability."
    )
    categories: list[str]
    accuracy_measure: str = Field("", description="What `accuracy` means for this job, in words.")
    agreement_measure: str = Field("", description="What `agreement` means for this job, in words.")
    known_objects: int = Field(
        0, description="Known-answer objects of the job that have answers (0: none, or not such a job)."
    )
    data: list[JobWorkerPublic] = Field(description="Most answers first.")
    count: int

    @classmethod
    def from_proto(
        cls, resp: consolidation_pb2.WorkerQualityResponse, task_type: str = ""
    ) -> JobWorkersPublic:
        k = len(resp.categories)
        data = sorted(
            (JobWorkerPublic.from_proto(w, k) for w in resp.workers), key=lambda w: (-w.answers, w.worker_id)
        )
        return cls(
            job_id=resp.job_id,
            task_type=resp.task_type or task_type,
            method=resp.method,
            categories=list(resp.categories),
            accuracy_measure=resp.accuracy_measure,
            agreement_measure=resp.agreement_measure,
            known_objects=resp.known_objects,
            data=data,
            count=len(data),
        )


class TeamWorkerPublic(BaseModel):
    worker_id: str
    answers: int = Field(description="The worker's answers over the team's jobs.")
    jobs: int = Field(description="Jobs of the team the worker answered in.")
    accuracy: float = Field(description="Estimated accuracy, the jobs' estimates weighted by answers.")
    agreement: float = Field(description="Agreement with the consolidated labels (weighted alike).")
    known_answers: int = Field(0, description="The worker's answers to known-answer objects in these jobs.")
    known_accuracy: float | None = Field(
        None,
        description="Share of those equal to the known class (observed, not estimated); null without any.",
    )


class TeamWorkersPublic(BaseModel):
    team_id: str
    method: str
    jobs: int = Field(description="Jobs of the team with recorded answers (the ones that contributed).")
    accuracy_measures: list[str] = Field(
        default_factory=list,
        description="What `accuracy` means in the contributing jobs, one entry per kind of task type "
        "(jobs of different types are averaged together).",
    )
    agreement_measures: list[str] = Field(
        default_factory=list, description="What `agreement` means in the contributing jobs."
    )
    skipped_job_ids: list[str] = Field(
        default_factory=list, description="Jobs whose stored answers could not be scored."
    )
    data: list[TeamWorkerPublic] = Field(description="Most answers first.")
    count: int

    @classmethod
    def from_proto(cls, resp: consolidation_pb2.TeamWorkerQualityResponse) -> TeamWorkersPublic:
        data = [
            TeamWorkerPublic(
                worker_id=w.worker_id,
                answers=w.answers,
                jobs=w.jobs,
                accuracy=w.accuracy,
                agreement=w.agreement_with_consensus,
                known_answers=w.known_answers,
                known_accuracy=w.known_accuracy if w.known_answers else None,
            )
            for w in resp.workers
        ]
        return cls(
            team_id=resp.team_id,
            method=resp.method,
            jobs=resp.jobs,
            accuracy_measures=list(resp.accuracy_measures),
            agreement_measures=list(resp.agreement_measures),
            skipped_job_ids=list(resp.skipped_job_ids),
            data=data,
            count=len(data),
        )


# ---------------------------------------------------------------- worker portal


class TaskPublic(BaseModel):
    task_id: str = Field(description="The lease id: answer or decline by it before expires_at.")
    job_id: str
    object_id: int
    task_type: str
    source: str | None = Field(description="Inline content of the object, if any.")
    source_ref: str | None = Field(description="URI of the object's content, if any.")
    categories: list[str]
    instructions: str
    job_name: str
    expires_at: str | None
    time_limit_s: int
    color_map: list[str] = Field(
        default_factory=list,
        description="Semantic segmentation: '#rrggbb' per category (class i -> color_map[i]); background "
        "#ffffff or transparent.",
    )
    previous: dict[str, Any] | None = Field(
        None,
        description="Verification / adjustment: {task_type (the base type), label (the previous Ground "
        "Truth label value), metadata (its -metadata object)}.",
    )
    template: str | None = Field(None, description="custom tasks: the job's HTML template.")
    input: dict[str, Any] | None = Field(
        None, description="custom tasks: the task input, the object's whole manifest line."
    )
    image_url: str | None = Field(
        None,
        description="For objects with a source_ref: a gateway URL that serves the image to this worker "
        "while the task is leased (send the same worker token).",
    )

    @classmethod
    def from_proto(cls, task: workforce_pb2.Task) -> TaskPublic:
        return cls(
            task_id=task.task_id,
            job_id=task.job_id,
            object_id=task.object_id,
            task_type=task.task_type,
            source=task.source or None,
            source_ref=task.source_ref or None,
            categories=list(task.categories),
            instructions=task.instructions,
            job_name=task.job_name,
            expires_at=iso_ms(task.lease_expires_at_ms),
            time_limit_s=task.time_limit_s,
            color_map=list(task.color_map),
            previous=_previous(task.task_id, task.previous_json),
            template=task.template or None,
            input=_input(task.input_json),
            image_url=f"/v1/worker/tasks/{task.task_id}/content" if task.source_ref else None,
        )


def _input(input_json: str) -> dict[str, Any] | None:
    if not input_json:
        return None
    try:
        value = json.loads(input_json)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _previous(task_id: str, previous_json: str) -> dict[str, Any] | None:
    if not previous_json:
        return None
    try:
        value = json.loads(previous_json)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if value.get("task_type") == "semantic-segmentation":
        # The previous mask is a file the browser cannot read: the gateway serves it like the image.
        value["mask_url"] = f"/v1/worker/tasks/{task_id}/previous-mask"
    return value


class AnswerSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field("", max_length=1000, description="Class name, for classification tasks.")
    payload: dict[str, Any] | None = Field(
        None, description="The full answer (task-type specific; custom tasks: any JSON object)."
    )

    @model_validator(mode="after")
    def _something(self) -> AnswerSubmit:
        if not self.label and self.payload is None:
            raise ValueError("an answer needs a `label` or a `payload`")
        return self


class AnswerAck(BaseModel):
    answer_id: str
    duplicate: bool = Field(description="True when this task had already been answered: nothing was counted.")


# ---------------------------------------------------------------- errors (documentation)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. `invalid_api_key`, `lease_expired`.")
    message: str = Field(description="What went wrong, for a person.")


class ErrorPublic(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    400: "Invalid argument or malformed body",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "Not found (or not yours)",
    409: "Conflict with the resource's state",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Request validation failed",
    429: "Rate limited; retry later",
    503: "A backend service is unavailable",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error body for these status codes."""
    return {code: {"model": ErrorPublic, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}
