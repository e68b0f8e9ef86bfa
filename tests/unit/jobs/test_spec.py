"""Job spec validation: Ground Truth's naming rules, ranges named in messages, manifest fit and chaining."""

from __future__ import annotations

import dataclasses
import json

import pytest

from quorum_common.errors import InvalidArgument
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
)


def spec(**changes: object) -> JobSpecInput:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def invalid(s: JobSpecInput) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        validate_spec(s)
    return info.value


def test_valid_spec_gets_defaults() -> None:
    v = validate_spec(BASE)
    assert v.label_attribute_name == "label-sentiment"
    assert v.categories == ("negative", "positive")
    assert v.class_index("positive") == 1 and v.class_index("neutral") is None
    assert validate_spec(spec(label_attribute_name="mood")).label_attribute_name == "mood"


def test_unsupported_task_type_lists_the_supported_ones() -> None:
    err = invalid(spec(task_type="polygon"))
    assert err.reason == "unsupported_task_type"
    for name in ("text-classification", "bounding-box", "named-entity-recognition", "adjustment"):
        assert name in err.message


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"name": ""}, "name must be 1 to 63 characters, got 0"),
        ({"name": "a" * 64}, "name must be 1 to 63 characters, got 64"),
        ({"name": "has_underscore"}, "name 'has_underscore' may contain only letters"),
        ({"name": "-leading"}, "may contain only letters"),
        ({"name": "trailing-"}, "may contain only letters"),
        ({"name": "sp ace"}, "may contain only letters"),
        ({"categories": ["only-one"]}, "categories must list 2 to 100 classes, got 1"),
        ({"categories": [f"c{i}" for i in range(101)]}, "categories must list 2 to 100 classes, got 101"),
        ({"categories": ["a", "a"]}, "categories[1] 'a' is a duplicate"),
        ({"categories": ["a", " "]}, "categories[1] must not be empty"),
        ({"categories": ["a", "b" * 257]}, "categories[1] must be at most 256 characters, got 257"),
        ({"workers_per_object": 0}, "workers_per_object must be between 1 and 10, got 0"),
        ({"workers_per_object": 11}, "workers_per_object must be between 1 and 10, got 11"),
        ({"task_time_limit_s": 0}, "task_time_limit_s must be between 1 and 28800 seconds, got 0"),
        ({"task_time_limit_s": 28801}, "task_time_limit_s must be between 1 and 28800 seconds, got 28801"),
        ({"price_per_task_usd": -0.01}, "price_per_task_usd must be between 0 and 100 USD, got -0.01"),
        ({"price_per_task_usd": 100.5}, "price_per_task_usd must be between 0 and 100 USD"),
        ({"price_per_task_usd": float("nan")}, "price_per_task_usd must be between 0 and 100 USD"),
        ({"team_id": ""}, "team_id is required"),
        ({"label_attribute_name": "mood-metadata"}, "must not end with '-metadata'"),
        ({"label_attribute_name": "source"}, "'source' is reserved"),
        ({"label_attribute_name": "source-ref"}, "'source-ref' is reserved"),
        ({"label_attribute_name": "mask-ref"}, "must not end with '-ref'"),
        ({"label_attribute_name": "bad name"}, "may contain only letters, digits and hyphens"),
        ({"label_attribute_name": "x" * 128}, "label_attribute_name must be 1 to 127 characters, got 128"),
        (
            {"name": "cats-ref"},
            "must not end with '-ref' (the suffix is reserved for labels stored as files: "
            "segmentation jobs add it themselves) (it defaults to the job name",
        ),
    ],
)
def test_each_bad_field_is_named_with_its_range(changes: dict[str, object], fragment: str) -> None:
    err = invalid(spec(**changes))
    assert err.reason == "invalid_job_spec"
    assert fragment in err.message


def test_boundaries_are_accepted() -> None:
    validate_spec(
        spec(
            name="a", workers_per_object=1, task_time_limit_s=1, price_per_task_usd=0.0, categories=["a", "b"]
        )
    )
    validate_spec(
        spec(
            name="A-b--9" + "x" * 57,
            workers_per_object=10,
            task_time_limit_s=28800,
            price_per_task_usd=100.0,
            categories=[f"c{i}" for i in range(100)],
        )
    )
    validate_spec(spec(categories=["设备 ", "b" * 256]))  # GT allows non-ASCII and trailing spaces


def test_all_problems_are_reported_together() -> None:
    err = invalid(spec(name="bad_name", workers_per_object=0, categories=["x"]))
    assert "name 'bad_name'" in err.message
    assert "workers_per_object" in err.message
    assert "categories must list" in err.message


def manifest(*items: dict[str, object]) -> bytes:
    return "\n".join(json.dumps(i) for i in items).encode()


def test_text_jobs_need_source_and_image_jobs_need_source_ref() -> None:
    text_spec = validate_spec(BASE)
    m = parse_manifest(manifest({"source": "a"}, {"source": "b"}, {"source-ref": "s3://b/c.jpg"}))
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(text_spec, m)
    assert info.value.reason == "manifest_invalid"
    assert info.value.message.startswith("manifest line 3: text-classification needs 'source'")

    image_spec = validate_spec(spec(task_type="image-classification"))
    check_manifest_fits(image_spec, parse_manifest(manifest({"source-ref": "s3://b/c.jpg"})))
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(image_spec, parse_manifest(manifest({"source-ref": "x.jpg"}, {"source": "t"})))
    assert info.value.message.startswith("manifest line 2: image-classification needs 'source-ref'")


def test_label_attribute_must_be_new_on_every_line() -> None:
    chained = parse_manifest(
        manifest(
            {"source": "a"},
            {"source": "b", "mood": 1, "mood-metadata": {"class-name": "positive"}},
            {"source": "c", "other-metadata": {}},
        )
    )
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(validate_spec(spec(label_attribute_name="mood")), chained)
    assert info.value.message.startswith("manifest line 2: the line already has the key 'mood'")
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(validate_spec(spec(label_attribute_name="other")), chained)
    assert "manifest line 3: the line already has the key 'other-metadata'" in info.value.message
    check_manifest_fits(validate_spec(spec(label_attribute_name="mood-v2")), chained)


# --- adaptive redundancy ------------------------------------------------------------------------------------


def test_without_a_target_redundancy_is_fixed() -> None:
    v = validate_spec(BASE)
    assert (v.target_confidence, v.adaptive, v.min_workers_per_object, v.min_workers) == (0.0, False, 3, 3)
    # Naming the same minimum as the maximum is harmless without a target.
    assert validate_spec(spec(min_workers_per_object=3)).min_workers == 3


def test_a_target_makes_workers_per_object_the_maximum_with_a_default_minimum_of_one() -> None:
    v = validate_spec(spec(target_confidence=0.9, workers_per_object=5))
    assert (v.adaptive, v.target_confidence, v.min_workers, v.workers_per_object) == (True, 0.9, 1, 5)
    v = validate_spec(spec(target_confidence=0.95, workers_per_object=5, min_workers_per_object=2))
    assert (v.min_workers, v.workers_per_object) == (2, 5)
    assert validate_spec(spec(target_confidence=0.8, min_workers_per_object=3)).min_workers == 3


@pytest.mark.parametrize("target", [0.5, 1.0, 0.3, -0.1, 1.5, float("nan")])
def test_target_confidence_out_of_range(target: float) -> None:
    err = invalid(spec(target_confidence=target))
    assert err.reason == "invalid_job_spec"
    assert "target_confidence must be 0 (off) or between 0.5 and 1 (exclusive)" in str(err)


@pytest.mark.parametrize("minimum", [4, -1])
def test_min_workers_per_object_must_lie_between_one_and_the_maximum(minimum: int) -> None:
    err = invalid(spec(target_confidence=0.9, min_workers_per_object=minimum))
    assert f"min_workers_per_object must be between 1 and workers_per_object (3), got {minimum}" in str(err)


def test_min_workers_per_object_needs_a_target() -> None:
    err = invalid(spec(min_workers_per_object=1))
    assert "min_workers_per_object needs target_confidence" in str(err)
