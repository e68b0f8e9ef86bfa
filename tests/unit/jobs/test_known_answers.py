"""Known-answer objects of classification jobs: the spec field, manifest checks, what workforce gets."""

from __future__ import annotations

import dataclasses
import json

import pytest

from quorum_common.errors import InvalidArgument
from quorum_jobs.application import _data_object
from quorum_jobs.core.manifest import parse_manifest
from quorum_jobs.core.spec import JobSpecInput, check_manifest_fits, validate_spec

BASE = JobSpecInput(
    name="label-sentiment",
    task_type="text-classification",
    categories=["negative", "positive"],
    workers_per_object=3,
    task_time_limit_s=300,
    price_per_task_usd=0.04,
    team_id="team-1",
    known_answer_attribute="gold-label",
)


def spec(**changes: object) -> JobSpecInput:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def spec_error(s: JobSpecInput) -> str:
    with pytest.raises(InvalidArgument) as info:
        validate_spec(s)
    assert info.value.reason == "invalid_job_spec"
    return str(info.value)


def manifest(*lines: dict) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode() + b"\n"


def manifest_error(data: bytes, s: JobSpecInput = BASE) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(validate_spec(s), parse_manifest(data))
    return info.value


def test_the_attribute_is_kept_on_the_spec() -> None:
    assert validate_spec(BASE).known_answer_attribute == "gold-label"
    assert validate_spec(spec(known_answer_attribute="")).known_answer_attribute == ""
    image = spec(task_type="image-classification")
    assert validate_spec(image).known_answer_attribute == "gold-label"


def test_only_single_label_classification_jobs_take_known_answers() -> None:
    for task_type in ("label-verification", "text-classification-multilabel", "bounding-box"):
        chained = {"source_label_attribute": "prev"} if task_type == "label-verification" else {}
        message = spec_error(spec(task_type=task_type, **chained))
        assert "known_answer_attribute is only for single-label classification jobs" in message
        assert task_type in message


def test_the_attribute_must_not_name_the_object_or_the_label() -> None:
    assert "reserved" in spec_error(spec(known_answer_attribute="source"))
    assert "reserved" in spec_error(spec(known_answer_attribute="source-ref"))
    message = spec_error(spec(known_answer_attribute="mood", label_attribute_name="mood"))
    assert "must differ from the job's label attribute 'mood'" in message
    assert "must differ" in spec_error(spec(known_answer_attribute="label-sentiment-metadata"))
    assert "not blank" in spec_error(spec(known_answer_attribute="  "))


def test_known_answers_and_automated_labeling_are_not_combined() -> None:
    message = spec_error(spec(auto_labeling=True))
    assert "known_answer_attribute cannot be combined with auto_labeling" in message


def test_a_valid_manifest_with_some_known_answers_fits() -> None:
    check_manifest_fits(
        validate_spec(BASE),
        parse_manifest(
            manifest(
                {"source": "great", "gold-label": "positive"},
                {"source": "meh"},
                {"source": "awful", "gold-label": "negative"},
            )
        ),
    )


def test_a_known_answer_outside_the_categories_names_its_line_and_attribute() -> None:
    data = manifest(
        {"source": "fine", "gold-label": "positive"},
        {"source": "meh"},
        {"source": "bad", "gold-label": "negatve"},
        {"source": "odd", "gold-label": 1},
        {"source": "void", "gold-label": None},
    )
    err = manifest_error(data)
    assert err.reason == "manifest_invalid"
    message = str(err)
    assert "manifest line 3: known answer 'gold-label' is 'negatve', which is not one of the job" in message
    assert "('negative', 'positive')" in message
    assert "manifest line 4: known answer 'gold-label' must be a category name (a string), got int" in message
    assert "manifest line 5:" in message and "got null None" in message
    assert "manifest line 1" not in message and "manifest line 2" not in message


def test_line_numbers_count_blank_lines() -> None:
    data = b'{"source": "a"}\n\n{"source": "b", "gold-label": "maybe"}\n'
    assert str(manifest_error(data)).startswith("manifest line 3: known answer 'gold-label'")


def test_an_attribute_that_no_line_carries_is_refused() -> None:
    err = manifest_error(manifest({"source": "a", "gold_label": "positive"}, {"source": "b"}))
    assert err.reason == "manifest_invalid"
    assert "known_answer_attribute 'gold-label' is on no manifest line" in str(err)


def test_workforce_gets_the_known_class_but_no_line_for_a_classification_task() -> None:
    parsed = parse_manifest(manifest({"source": "great", "gold-label": "positive"}, {"source": "meh"}))
    known, other = (_data_object(o, known="gold-label") for o in parsed.objects)
    assert known.known_label == "positive" and other.known_label == ""
    # A classification task shows the source only: the manifest line (with the attribute) is not sent.
    assert known.input_json == "" and known.source == "great"
    assert _data_object(parsed.objects[0]).known_label == ""  # a job without the attribute
