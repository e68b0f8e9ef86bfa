"""Output manifest lines exactly as Ground Truth writes them.

Single-label classification:
A labeled line is the input line unchanged plus
    "<attr>": <class index, int>,
    "<attr>-metadata": {"class-name", "confidence", "type", "job-name", "human-annotated", "creation-date"}.
An object that ends without a label gets only "<attr>-metadata", shaped like the real failed lines in
FORMATS.md (`retry-count`, `failure-reason`, `"human-annotated": "true"` -- GT's own quirk), plus `type`,
`job-name` and `creation-date` so a reader can tell which job failed it.

Every other task type (`structured`) gets the label value and the type-specific metadata keys that
consolidation computed (object-detection `annotations`/`objects`/`class-map`, text-span `entities`,
multi-label `class-map`/`confidence-map`, segmentation `<attr>-ref` + `internal-color-map`, label-verification
`class-name`/`confidence`/`worker-feedback`, adjustment `adjustment-status`), plus the common keys.
Custom jobs (`groundtruth/custom`) get the post-processing the job chose (`custom_output`): "majority", the
answer object most workers gave plus `confidence`; "all", {"answers": [{"workerId", "answer"}, ...]}.

Lines are spliced as text onto the stored canonical input line, so 100k-object outputs need no re-parsing;
the metadata is written as text in the same compact form `json.dumps` gives (tests check the two agree).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quorum_common.task_types import ADJUSTMENT, CUSTOM, SEMANTIC_SEGMENTATION
from quorum_jobs.core.manifest import canonical_json
from quorum_jobs.core.task_types import GT_TYPE_BY_TASK

STOPPED_REASON = "ClientError: Labeling job stopped before the object was labeled"
FAILED_JOB_REASON = "ClientError: Labeling job failed before the object was labeled"
UNLABELED_REASON = "ClientError: The object was not labeled"
NO_CONSENSUS_REASON = "ClientError: No label could be consolidated from the workers' answers"


def gt_type(task_type: str) -> str:
    return f"groundtruth/{GT_TYPE_BY_TASK.get(task_type, task_type)}"


def label_key(label_attribute_name: str, task_type: str) -> str:
    """Segmentation labels are files: Ground Truth writes them under `<attr>-ref`."""
    return f"{label_attribute_name}-ref" if task_type == SEMANTIC_SEGMENTATION else label_attribute_name


def gt_job_name(job_name: str) -> str:
    """The job name as given. (Real GT files write `labeling-job/<lower-cased name>`, docs the bare name;
    Quorum writes the bare name, which is what requesters see in the API and what the platform tests pin.)"""
    return job_name


def creation_date(at: datetime) -> str:
    """ISO 8601 in UTC without a zone, always with 6 fraction digits, e.g. 2026-11-22T05:00:00.123456."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def gt_confidence(confidence: float) -> float:
    """Rounded to 2 decimals like GT (`round(max posterior, 2)`), clamped to [0, 1]."""
    if confidence != confidence:  # NaN
        return 0.0
    return round(min(1.0, max(0.0, float(confidence))), 2)


@dataclass(frozen=True, slots=True)
class OutputJob:
    name: str
    task_type: str
    label_attribute_name: str
    custom_consolidation: str = ""  # custom jobs: "majority" | "all"


def custom_output(data: dict[str, Any], choice: str) -> tuple[Any, dict[str, Any]]:
    """A custom label's GT value and metadata keys for the job's post-processing choice. `data` is
    consolidation's {"label": <the majority answer>, "metadata": {"confidence", "answers": [{"workerId",
    "answer"}, ...]}}: "all" keeps every answer, anything else ("majority") the winning one."""
    meta = data.get("metadata") or {}
    if choice == "all":
        return {"answers": list(meta.get("answers") or [])}, {}
    return data.get("label"), {"confidence": gt_confidence(float(meta.get("confidence") or 0.0))}


@dataclass(frozen=True, slots=True)
class ObjectLabel:
    class_index: int
    class_name: str
    confidence: float
    human_annotated: bool
    labeled_at: datetime


class LineFormatter:
    """Formats one job's output lines; the per-job parts are JSON-encoded once (100k-line outputs)."""

    def __init__(self, job: OutputJob) -> None:
        self._job = job
        attr = label_key(job.label_attribute_name, job.task_type)
        self._label_key = canonical_json(attr)
        self._meta_key = canonical_json(f"{attr}-metadata")
        type_, job_name = canonical_json(gt_type(job.task_type)), canonical_json(gt_job_name(job.name))
        self._common = f'"type":{type_},"job-name":{job_name}'
        self._class_names: dict[str, str] = {}
        self._failed_meta: dict[tuple[str, datetime], str] = {}

    def labeled(self, canonical_line: str, label: ObjectLabel) -> str:
        name = self._class_names.get(label.class_name)
        if name is None:
            name = self._class_names[label.class_name] = canonical_json(label.class_name)
        metadata = (
            f'{{"class-name":{name},"confidence":{gt_confidence(label.confidence)!r},{self._common},'
            f'"human-annotated":"{"yes" if label.human_annotated else "no"}",'
            f'"creation-date":"{creation_date(label.labeled_at)}"}}'
        )
        return _splice(
            canonical_line, f"{self._label_key}:{int(label.class_index)},{self._meta_key}:{metadata}"
        )

    def structured(
        self, canonical_line: str, label_json: str, human_annotated: bool, labeled_at: datetime
    ) -> str:
        """A label of a non-classification type: `label_json` is consolidation's
        {"task_type": <type of the label>, "label": <GT label value>, "metadata": {<type-specific keys>}}
        (for adjustment jobs task_type is the adjusted base type, whose GT `type` the line carries)."""
        data = json.loads(label_json)
        base = data.get("task_type") or self._job.task_type
        attr = label_key(self._job.label_attribute_name, base)
        type_of_label = base if self._job.task_type == ADJUSTMENT else self._job.task_type
        value, type_meta = data["label"], data.get("metadata", {})
        if self._job.task_type == CUSTOM:
            value, type_meta = custom_output(data, self._job.custom_consolidation)
        metadata: dict[str, Any] = {
            **type_meta,
            "type": gt_type(type_of_label),
            "job-name": gt_job_name(self._job.name),
            "human-annotated": "yes" if human_annotated else "no",
            "creation-date": creation_date(labeled_at),
        }
        extra = (
            f"{canonical_json(attr)}:{canonical_json(value)},"
            f"{canonical_json(f'{attr}-metadata')}:{canonical_json(metadata)}"
        )
        return _splice(canonical_line, extra)

    def failed(self, canonical_line: str, reason: str, at: datetime) -> str:
        metadata = self._failed_meta.get((reason, at))
        if metadata is None:
            metadata = (
                f'{{"retry-count":0,"failure-reason":{canonical_json(reason)},"human-annotated":"true",'
                f'{self._common},"creation-date":"{creation_date(at)}"}}'
            )
            if len(self._failed_meta) < 1024:
                self._failed_meta[(reason, at)] = metadata
        return _splice(canonical_line, f"{self._meta_key}:{metadata}")


def _splice(canonical_line: str, extra: str) -> str:
    """Append keys to a compact JSON object's text, keeping the input keys first and in order."""
    assert canonical_line.endswith("}"), "stored lines are compact JSON objects"
    body = canonical_line[:-1]
    return f"{body}{',' if body != '{' else ''}{extra}}}"


def labeled_line(canonical_line: str, job: OutputJob, label: ObjectLabel) -> str:
    return LineFormatter(job).labeled(canonical_line, label)


def failed_line(canonical_line: str, job: OutputJob, reason: str, at: datetime) -> str:
    return LineFormatter(job).failed(canonical_line, reason, at)


def unlabeled_reason(job_status: str) -> str:
    """The failure reason written for an object that has no label when the job ended in `job_status`."""
    if job_status == "stopped":
        return STOPPED_REASON
    if job_status == "failed":
        return FAILED_JOB_REASON
    return UNLABELED_REASON
