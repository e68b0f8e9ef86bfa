"""Custom jobs in the jobs service: the spec's template and post-processing choice, the task input
(pre-processing: the whole manifest line) and the output in Ground Truth's custom shape."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from quorum_common.errors import InvalidArgument
from quorum_jobs.application import _data_object
from quorum_jobs.core.manifest import parse_manifest
from quorum_jobs.core.output import LineFormatter, OutputJob, custom_output
from quorum_jobs.core.spec import MAX_TEMPLATE_CHARS, JobSpecInput, check_manifest_fits, validate_spec

BASE = JobSpecInput(
    name="rate-reviews",
    task_type="custom",
    categories=[],
    workers_per_object=3,
    task_time_limit_s=300,
    price_per_task_usd=0.04,
    team_id="team-1",
    template="<form><input name='score'></form>",
)
CONSOLIDATED = {
    "task_type": "custom",
    "label": {"score": "4"},
    "metadata": {
        "confidence": 2 / 3,
        "answers": [
            {"workerId": "w1", "answer": {"score": "4"}},
            {"workerId": "w2", "answer": {"score": "4"}},
            {"workerId": "w3", "answer": {"score": "2"}},
        ],
    },
}
AT = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def spec(**changes: object) -> JobSpecInput:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def invalid(s: JobSpecInput) -> str:
    with pytest.raises(InvalidArgument) as info:
        validate_spec(s)
    assert info.value.reason == "invalid_job_spec"
    return str(info.value)


def test_a_custom_job_needs_no_categories_and_defaults_to_majority() -> None:
    v = validate_spec(BASE)
    assert v.categories == () and v.template == BASE.template and v.custom_consolidation == "majority"
    assert validate_spec(spec(custom_consolidation="all")).custom_consolidation == "all"


def test_custom_errors_name_the_field_and_its_allowed_values() -> None:
    assert "template is required for custom jobs" in invalid(spec(template="  "))
    too_long = invalid(spec(template="x" * (MAX_TEMPLATE_CHARS + 1)))
    n = MAX_TEMPLATE_CHARS
    assert f"template must be at most {n} characters, got {n + 1}" in too_long
    bad = invalid(spec(custom_consolidation="mean"))
    assert "custom_consolidation must be one of 'majority', 'all', got 'mean'" in bad
    assert "target_confidence is not supported for custom jobs" in invalid(spec(target_confidence=0.9))
    # Categories are optional, but checked when given.
    assert "categories must list 2 to 100 classes, got 1" in invalid(spec(categories=["only"]))


def test_other_task_types_take_neither_template_nor_custom_consolidation() -> None:
    cls = spec(task_type="text-classification", categories=["a", "b"])
    message = invalid(dataclasses.replace(cls, custom_consolidation="all"))
    assert "custom_consolidation is only for custom jobs, not text-classification" in message
    assert "template is only for custom jobs" in invalid(cls)
    assert validate_spec(dataclasses.replace(cls, template="")).template == ""


def test_the_task_input_is_the_whole_manifest_line() -> None:
    manifest = parse_manifest(
        b'{"source": "good film", "lang": "en", "meta": {"n": 1}}\n{"source-ref": "/a.png"}\n'
    )
    check_manifest_fits(validate_spec(BASE), manifest)  # either source key fits a custom job
    objs = [_data_object(o, custom=True) for o in manifest.objects]
    assert json.loads(objs[0].input_json) == {"source": "good film", "lang": "en", "meta": {"n": 1}}
    assert json.loads(objs[1].input_json) == {"source-ref": "/a.png"}
    assert _data_object(manifest.objects[0]).input_json == ""  # other types carry no input


def test_majority_output_is_the_winning_answer_with_its_confidence() -> None:
    fmt = LineFormatter(OutputJob("rate-reviews", "custom", "rating", "majority"))
    line = json.loads(fmt.structured('{"source":"good film"}', json.dumps(CONSOLIDATED), True, AT))
    assert line["source"] == "good film" and line["rating"] == {"score": "4"}
    assert line["rating-metadata"] == {
        "confidence": 0.67,
        "type": "groundtruth/custom",
        "job-name": "rate-reviews",
        "human-annotated": "yes",
        "creation-date": "2026-11-22T05:00:00.000000",
    }


def test_all_output_keeps_every_answer_without_confidence() -> None:
    fmt = LineFormatter(OutputJob("rate-reviews", "custom", "rating", "all"))
    line = json.loads(fmt.structured('{"source":"good film"}', json.dumps(CONSOLIDATED), True, AT))
    assert line["rating"] == {"answers": CONSOLIDATED["metadata"]["answers"]}
    meta = line["rating-metadata"]
    assert "confidence" not in meta and meta["type"] == "groundtruth/custom"
    assert set(meta) == {"type", "job-name", "human-annotated", "creation-date"}


def test_custom_output_defaults_to_majority() -> None:
    assert custom_output(CONSOLIDATED, "") == ({"score": "4"}, {"confidence": 0.67})
