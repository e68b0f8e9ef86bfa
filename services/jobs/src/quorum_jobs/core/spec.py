"""Job spec validation with Ground Truth's rules (names, label attribute, categories, limits).

Every problem found is reported in one InvalidArgument (reason "invalid_job_spec") whose message names each
field and its allowed range, so a requester fixes everything in one round trip.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from quorum_common.task_types import (
    ADJUSTMENT,
    CUSTOM,
    CUSTOM_CONSOLIDATIONS,
    IMAGE_CLASSIFICATION,
    TEXT_CLASSIFICATION,
)
from quorum_jobs.core.autolabel import (
    DRAW_EXTRA_ANSWERS,
    OFF,
    AutoLabelSpec,
    auto_label_errors,
    auto_label_spec,
    dataset_size_error,
)
from quorum_jobs.core.known import known_attribute_errors, known_label_error
from quorum_jobs.core.manifest import MAX_REPORTED_ERRORS, SOURCE, SOURCE_REF, Manifest
from quorum_jobs.core.task_types import (
    ADJUSTABLE_TYPES,
    NO_CATEGORY_TYPES,
    SOURCE_KEY_BY_TASK,
    SUPPORTED_TASK_TYPES,
    Previous,
    is_chained,
    previous_label,
)
from quorum_jobs.errors import InvalidArgument

__all__ = ["IMAGE_CLASSIFICATION", "SUPPORTED_TASK_TYPES", "TEXT_CLASSIFICATION"]

# Ground Truth: LabelingJobName `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`, LabelAttributeName the same up to 127.
JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
LABEL_ATTRIBUTE_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
MAX_JOB_NAME = 63
MAX_LABEL_ATTRIBUTE = 127
MIN_CATEGORIES, MAX_CATEGORIES, MAX_CATEGORY_CHARS = 2, 100, 256
MIN_WORKERS, MAX_WORKERS = 1, 10
MIN_TIME_LIMIT_S, MAX_TIME_LIMIT_S = 1, 28_800
MIN_PRICE_USD, MAX_PRICE_USD = 0.0, 100.0
MAX_INSTRUCTIONS_CHARS = 100_000
MAX_TEMPLATE_CHARS = 100_000
DEFAULT_CUSTOM_CONSOLIDATION = "majority"
# Adaptive redundancy: an object is labeled once its posterior reaches target_confidence (exclusive bounds).
MIN_TARGET_CONFIDENCE, MAX_TARGET_CONFIDENCE = 0.5, 1.0


@dataclass(frozen=True, slots=True)
class JobSpecInput:
    """What a requester asks for, as received (label_attribute_name may be empty: defaults to the name)."""

    name: str
    task_type: str
    categories: list[str]
    workers_per_object: int
    task_time_limit_s: int
    price_per_task_usd: float
    team_id: str
    label_attribute_name: str = ""
    instructions: str = ""
    # Adaptive redundancy: 0 = off; min 0 = default (workers_per_object when off, 1 when on).
    target_confidence: float = 0.0
    min_workers_per_object: int = 0
    # Verification / adjustment: the attribute of the input lines that holds the previous label.
    source_label_attribute: str = ""
    # Custom jobs: the HTML template (required) and the post-processing ("" = "majority").
    template: str = ""
    custom_consolidation: str = ""
    # Automated labeling (classification jobs): 0 values take the defaults.
    auto_labeling: bool = False
    auto_target_accuracy: float = 0.0
    auto_min_dataset_size: int = 0
    auto_max_human_labeled: int = 0
    auto_validation_workers: int = 0
    # Classification jobs: the manifest attribute holding known-answer objects' classes ("" = none).
    known_answer_attribute: str = ""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated spec with defaults applied."""

    name: str
    task_type: str
    label_attribute_name: str
    categories: tuple[str, ...]
    workers_per_object: int
    task_time_limit_s: int
    price_per_task_usd: float
    team_id: str
    instructions: str = ""
    # 0.0 = fixed redundancy (workers_per_object answers per object); else workers_per_object is the maximum.
    target_confidence: float = 0.0
    min_workers_per_object: int = 0  # 0 in records read before the column existed: = workers_per_object
    source_label_attribute: str = ""
    # Custom jobs: the HTML template and "majority" | "all" (both empty for the other types).
    template: str = ""
    custom_consolidation: str = ""
    auto_labeling: AutoLabelSpec = OFF
    # Classification jobs: the manifest attribute marking known-answer objects (see core/known.py).
    known_answer_attribute: str = ""

    @property
    def adaptive(self) -> bool:
        return self.target_confidence > 0

    @property
    def min_workers(self) -> int:
        return self.min_workers_per_object or self.workers_per_object

    def class_index(self, label: str) -> int | None:
        """The label's index in the job's categories (what Ground Truth writes as the label value)."""
        try:
            return self.categories.index(label)
        except ValueError:
            return None


def check_task_type(task_type: str) -> None:
    if task_type not in SOURCE_KEY_BY_TASK:
        raise InvalidArgument(
            f"task_type {task_type!r} is not supported; "
            f"supported task types: {', '.join(SUPPORTED_TASK_TYPES)}",
            reason="unsupported_task_type",
        )


def _name_errors(name: str) -> list[str]:
    if not 1 <= len(name) <= MAX_JOB_NAME:
        return [f"name must be 1 to {MAX_JOB_NAME} characters, got {len(name)}"]
    if not JOB_NAME_RE.match(name):
        return [
            f"name {name!r} may contain only letters a-z A-Z, digits 0-9 and hyphens, "
            "and must start and end with a letter or digit"
        ]
    return []


def _label_attribute_errors(attr: str) -> list[str]:
    if not 1 <= len(attr) <= MAX_LABEL_ATTRIBUTE:
        return [f"label_attribute_name must be 1 to {MAX_LABEL_ATTRIBUTE} characters, got {len(attr)}"]
    if attr in (SOURCE, SOURCE_REF):
        return [f"label_attribute_name {attr!r} is reserved (source and source-ref name the data object)"]
    if attr.endswith("-metadata"):
        return [f"label_attribute_name {attr!r} must not end with '-metadata'"]
    if attr.endswith("-ref"):
        return [
            f"label_attribute_name {attr!r} must not end with '-ref' "
            "(the suffix is reserved for labels stored as files: segmentation jobs add it themselves)"
        ]
    if not LABEL_ATTRIBUTE_RE.match(attr):
        return [
            f"label_attribute_name {attr!r} may contain only letters, digits and hyphens, "
            "and must start and end with a letter or digit"
        ]
    return []


def _category_errors(categories: list[str]) -> list[str]:
    errors: list[str] = []
    if not MIN_CATEGORIES <= len(categories) <= MAX_CATEGORIES:
        errors.append(
            f"categories must list {MIN_CATEGORIES} to {MAX_CATEGORIES} classes, got {len(categories)}"
        )
    seen: set[str] = set()
    for i, name in enumerate(categories):
        if not name.strip():
            errors.append(f"categories[{i}] must not be empty")
        elif len(name) > MAX_CATEGORY_CHARS:
            errors.append(f"categories[{i}] must be at most {MAX_CATEGORY_CHARS} characters, got {len(name)}")
        elif name in seen:
            errors.append(f"categories[{i}] {name!r} is a duplicate (class names must be unique)")
        seen.add(name)
    return errors


def validate_spec(spec: JobSpecInput) -> JobSpec:
    """Check every field; raise one InvalidArgument listing all problems, or return the spec with defaults."""
    check_task_type(spec.task_type)
    attr = spec.label_attribute_name or spec.name
    errors = _name_errors(spec.name)
    if spec.label_attribute_name:
        errors += _label_attribute_errors(attr)
    elif not errors:  # defaulted to a valid job name, which may still break the attribute rules
        errors += [
            f"{e} (it defaults to the job name; set label_attribute_name)"
            for e in _label_attribute_errors(attr)
        ]
    if spec.task_type not in NO_CATEGORY_TYPES or spec.categories:
        errors += _category_errors(list(spec.categories))
    errors += _custom_errors(spec)
    errors += auto_label_errors(
        spec.task_type,
        spec.auto_labeling,
        spec.auto_target_accuracy,
        spec.auto_min_dataset_size,
        spec.auto_max_human_labeled,
    )
    errors += known_attribute_errors(
        spec.known_answer_attribute, spec.task_type, attr, auto_labeling=spec.auto_labeling
    )
    source_attr = spec.source_label_attribute.strip()
    if is_chained(spec.task_type):
        if not source_attr:
            errors.append(
                f"source_label_attribute is required for {spec.task_type} jobs (the attribute of the input "
                "lines that holds the previous job's label)"
            )
        elif source_attr == attr or source_attr == f"{attr}-ref":
            errors.append(
                f"source_label_attribute {source_attr!r} must differ from label_attribute_name {attr!r} "
                "(the job adds a new attribute next to the previous label)"
            )
    elif source_attr:
        errors.append(
            f"source_label_attribute is only for label-verification and adjustment jobs, not {spec.task_type}"
        )
    if not MIN_WORKERS <= spec.workers_per_object <= MAX_WORKERS:
        errors.append(
            f"workers_per_object must be between {MIN_WORKERS} and {MAX_WORKERS}, "
            f"got {spec.workers_per_object}"
        )
    if not MIN_TIME_LIMIT_S <= spec.task_time_limit_s <= MAX_TIME_LIMIT_S:
        errors.append(
            f"task_time_limit_s must be between {MIN_TIME_LIMIT_S} and {MAX_TIME_LIMIT_S} seconds, "
            f"got {spec.task_time_limit_s}"
        )
    price = spec.price_per_task_usd
    if math.isnan(price) or not MIN_PRICE_USD <= price <= MAX_PRICE_USD:
        errors.append(
            f"price_per_task_usd must be between {MIN_PRICE_USD:g} and {MAX_PRICE_USD:g} USD, got {price}"
        )
    target = spec.target_confidence
    adaptive = False
    if math.isnan(target) or not (target == 0 or MIN_TARGET_CONFIDENCE < target < MAX_TARGET_CONFIDENCE):
        errors.append(
            f"target_confidence must be 0 (off) or between {MIN_TARGET_CONFIDENCE:g} and "
            f"{MAX_TARGET_CONFIDENCE:g} (exclusive), got {target}"
        )
    else:
        adaptive = target > 0
    min_workers = spec.min_workers_per_object or (1 if adaptive else spec.workers_per_object)
    fixed_min = spec.min_workers_per_object in (0, spec.workers_per_object)
    if not adaptive and not fixed_min:
        errors.append(
            "min_workers_per_object needs target_confidence (without a target every object gets "
            f"workers_per_object answers), got {spec.min_workers_per_object}"
        )
    elif MIN_WORKERS <= spec.workers_per_object <= MAX_WORKERS and not (
        MIN_WORKERS <= min_workers <= spec.workers_per_object
    ):
        errors.append(
            f"min_workers_per_object must be between {MIN_WORKERS} and workers_per_object "
            f"({spec.workers_per_object}), got {spec.min_workers_per_object}"
        )
    draws = spec.auto_validation_workers
    if spec.auto_labeling and draws != 0 and not spec.workers_per_object <= draws <= MAX_WORKERS:
        errors.append(
            "auto_labeling.validation_workers_per_object must be 0 "
            f"(workers_per_object + {DRAW_EXTRA_ANSWERS}) or between "
            f"workers_per_object ({spec.workers_per_object}) and {MAX_WORKERS}, got {draws}"
        )
    if not spec.team_id.strip():
        errors.append("team_id is required (the private team whose workers label the job)")
    if len(spec.instructions) > MAX_INSTRUCTIONS_CHARS:
        errors.append(
            f"instructions must be at most {MAX_INSTRUCTIONS_CHARS} characters, got {len(spec.instructions)}"
        )
    if errors:
        raise InvalidArgument("invalid job spec: " + "; ".join(errors), reason="invalid_job_spec")
    return JobSpec(
        name=spec.name,
        task_type=spec.task_type,
        label_attribute_name=attr,
        categories=tuple(spec.categories),
        workers_per_object=spec.workers_per_object,
        task_time_limit_s=spec.task_time_limit_s,
        price_per_task_usd=float(price),
        team_id=spec.team_id,
        instructions=spec.instructions,
        target_confidence=float(target) if adaptive else 0.0,
        min_workers_per_object=min_workers,
        source_label_attribute=source_attr,
        template=spec.template if spec.task_type == CUSTOM else "",
        custom_consolidation=(spec.custom_consolidation or DEFAULT_CUSTOM_CONSOLIDATION)
        if spec.task_type == CUSTOM
        else "",
        auto_labeling=auto_label_spec(
            spec.auto_labeling,
            spec.auto_target_accuracy,
            spec.auto_min_dataset_size,
            spec.auto_max_human_labeled,
            spec.auto_validation_workers,
        ),
        known_answer_attribute=spec.known_answer_attribute,
    )


def _custom_errors(spec: JobSpecInput) -> list[str]:
    """A custom job needs its template (at most MAX_TEMPLATE_CHARS) and a known post-processing; the
    other types take neither."""
    if spec.task_type != CUSTOM:
        return [
            f"{name} is only for custom jobs, not {spec.task_type}"
            for name in ("template", "custom_consolidation")
            if getattr(spec, name)
        ]
    errors: list[str] = []
    if not spec.template.strip():
        errors.append("template is required for custom jobs (the HTML a worker answers in)")
    elif len(spec.template) > MAX_TEMPLATE_CHARS:
        errors.append(f"template must be at most {MAX_TEMPLATE_CHARS} characters, got {len(spec.template)}")
    if spec.custom_consolidation and spec.custom_consolidation not in CUSTOM_CONSOLIDATIONS:
        errors.append(
            f"custom_consolidation must be one of {', '.join(map(repr, CUSTOM_CONSOLIDATIONS))}, "
            f"got {spec.custom_consolidation!r}"
        )
    if spec.target_confidence:
        errors.append(
            "target_confidence is not supported for custom jobs (every object gets workers_per_object "
            f"answers), got {spec.target_confidence}"
        )
    return errors


def previous_labels(spec: JobSpec, manifest: Manifest) -> dict[int, Previous]:
    """The previous label of every object of a verification / adjustment job (checked by
    check_manifest_fits first), by object id; empty for other task types."""
    if not is_chained(spec.task_type):
        return {}
    found: dict[int, Previous] = {}
    for obj in manifest.objects:
        prev, _ = previous_label(obj.data, spec.source_label_attribute)
        if prev is not None:
            found[obj.object_id] = prev
    return found


def _line_error(spec: JobSpec, data: dict, taken: tuple[str, ...], bases: set[str]) -> str | None:
    needed = SOURCE_KEY_BY_TASK[spec.task_type]
    if needed is not None and needed not in data:
        other = SOURCE_REF if needed == SOURCE else SOURCE
        kind = "inline text" if needed == SOURCE else "a URI"
        return f"{spec.task_type} needs {needed!r} ({kind}), the line has {other!r}"
    if spec.known_answer_attribute:
        why = known_label_error(data, spec.known_answer_attribute, spec.categories)
        if why is not None:
            return why
    clash = next((key for key in taken if key in data), None)
    if clash is not None:
        return (
            f"the line already has the key {clash!r}; choose another label_attribute_name "
            "(a chained job must add a new attribute)"
        )
    if not is_chained(spec.task_type):
        return None
    prev, why = previous_label(data, spec.source_label_attribute)
    if prev is None:
        return why
    if spec.task_type == ADJUSTMENT and prev.task_type not in ADJUSTABLE_TYPES:
        return (
            f"the previous label is {prev.task_type}; adjustment jobs edit "
            f"{', '.join(ADJUSTABLE_TYPES)} labels (use label-verification for the others)"
        )
    bases.add(prev.task_type)
    if len(bases) > 1:
        return f"previous labels mix task types ({', '.join(sorted(bases))}); one job takes one type"
    return None


def check_manifest_fits(spec: JobSpec, manifest: Manifest) -> None:
    """The manifest's objects suit the task type, the label attribute is new on every line (chaining), and
    verification / adjustment lines carry the previous label with its metadata, known answers (when the job
    names a known_answer_attribute) are categories of the job and at least one line has one."""
    attr = spec.label_attribute_name
    taken = (attr, f"{attr}-metadata", f"{attr}-ref", f"{attr}-ref-metadata")
    too_small = dataset_size_error(spec.auto_labeling, len(manifest.objects))
    if too_small is not None:
        raise InvalidArgument(too_small, reason="manifest_too_small")
    errors: list[str] = []
    bases: set[str] = set()
    count = 0
    for obj in manifest.objects:
        why = _line_error(spec, obj.data, taken, bases)
        if why is not None:
            count += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(f"manifest line {obj.line_no}: {why}")
    if errors:
        more = count - len(errors)
        raise InvalidArgument(
            "; ".join(errors) + (f"; and {more} more bad line(s)" if more > 0 else ""),
            reason="manifest_invalid",
        )
    known = spec.known_answer_attribute
    if known and not any(known in obj.data for obj in manifest.objects):
        raise InvalidArgument(
            f"known_answer_attribute {known!r} is on no manifest line (the lines that carry it are the "
            "known-answer objects; check its spelling)",
            reason="manifest_invalid",
        )
