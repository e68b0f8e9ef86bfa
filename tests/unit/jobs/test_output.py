"""Output lines: exactly Ground Truth's single-label classification shape, and failure lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from quorum_jobs.core.manifest import parse_manifest
from quorum_jobs.core.output import (
    STOPPED_REASON,
    LineFormatter,
    ObjectLabel,
    OutputJob,
    creation_date,
    failed_line,
    gt_confidence,
    labeled_line,
    unlabeled_reason,
)

JOB = OutputJob(name="Label-Sentiment", task_type="text-classification", label_attribute_name="mood")
AT = datetime(2026, 11, 22, 5, 0, 0, 123456, tzinfo=UTC)


def canonical(line: str) -> str:
    return parse_manifest(line.encode()).objects[0].canonical


def test_labeled_line_is_input_plus_label_and_metadata() -> None:
    base = canonical('{"source": "The food was delicious", "id": 3, "extra": {"k": [1, 2]}}')
    line = labeled_line(base, JOB, ObjectLabel(1, "positive", 0.8049, True, AT))
    assert line == (
        '{"source":"The food was delicious","id":3,"extra":{"k":[1,2]},"mood":1,'
        '"mood-metadata":{"class-name":"positive","confidence":0.8,"type":"groundtruth/text-classification",'
        '"job-name":"Label-Sentiment","human-annotated":"yes",'
        '"creation-date":"2026-11-22T05:00:00.123456"}}'
    )
    parsed = json.loads(line)
    assert type(parsed["mood"]) is int
    meta = parsed["mood-metadata"]
    assert set(meta) == {"class-name", "confidence", "type", "job-name", "human-annotated", "creation-date"}
    assert isinstance(meta["confidence"], float)


def test_machine_label_and_image_type() -> None:
    job = OutputJob("birds", "image-classification", "species")
    line = labeled_line(
        canonical('{"source-ref":"s3://b/1.jpg"}'), job, ObjectLabel(0, "dog", 0.0, False, AT)
    )
    parsed = json.loads(line)
    assert parsed["species"] == 0
    assert parsed["species-metadata"]["human-annotated"] == "no"
    assert parsed["species-metadata"]["type"] == "groundtruth/image-classification"
    assert parsed["species-metadata"]["confidence"] == 0.0


def test_chained_line_keeps_previous_labels_before_the_new_pair() -> None:
    previous = (
        '{"source-ref":"s3://b/image_0123.jpeg","vehicle":1,"vehicle-metadata":{"class-name":"Car",'
        '"confidence":0.95}}'
    )
    line = labeled_line(canonical(previous), JOB, ObjectLabel(0, "negative", 1.0, True, AT))
    assert line.startswith(previous[:-1] + ',"mood":0,"mood-metadata":{')
    assert list(json.loads(line)) == ["source-ref", "vehicle", "vehicle-metadata", "mood", "mood-metadata"]


def test_failed_line_has_only_metadata_shaped_like_real_failures() -> None:
    line = failed_line(canonical('{"source":"x"}'), JOB, STOPPED_REASON, AT)
    parsed = json.loads(line)
    assert list(parsed) == ["source", "mood-metadata"]
    assert parsed["mood-metadata"] == {
        "retry-count": 0,
        "failure-reason": "ClientError: Labeling job stopped before the object was labeled",
        "human-annotated": "true",
        "type": "groundtruth/text-classification",
        "job-name": "Label-Sentiment",
        "creation-date": "2026-11-22T05:00:00.123456",
    }
    assert "\n" not in line and ", " not in line


def test_creation_date_is_utc_without_zone_with_microseconds() -> None:
    assert creation_date(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000"
    plus2 = timezone(timedelta(hours=2))
    assert creation_date(datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=plus2)) == "2026-01-02T03:04:05.000007"
    assert creation_date(datetime(2026, 1, 2, 3, 4, 5, 120000)) == "2026-01-02T03:04:05.120000"


def test_confidence_is_rounded_and_clamped() -> None:
    assert gt_confidence(0.956) == 0.96
    assert gt_confidence(0.004) == 0.0
    assert gt_confidence(1.3) == 1.0
    assert gt_confidence(-0.1) == 0.0
    assert gt_confidence(float("nan")) == 0.0


def test_empty_input_object_splices_cleanly() -> None:
    # Not a valid manifest line (no source), but the splice itself must not emit a leading comma.
    assert labeled_line("{}", JOB, ObjectLabel(0, "a", 0.5, True, AT)).startswith('{"mood":0,')


def test_unlabeled_reason_by_job_status() -> None:
    assert unlabeled_reason("stopped") == STOPPED_REASON
    assert "failed" in unlabeled_reason("failed")
    assert unlabeled_reason("completed").startswith("ClientError:")


def test_text_built_lines_equal_json_dumps_of_the_same_dicts() -> None:
    """The formatter writes metadata as text for speed; it must be exactly what json.dumps would write."""
    job = OutputJob("Odd-Names", "image-classification", "lbl")
    fmt = LineFormatter(job)
    base = canonical('{"source-ref":"s3://b/ü.jpg","k":"v"}')
    names = ['quote " and \\ backslash', "设备 ", "tab\tnewline\n", "emoji 🐦", "plain"]
    confidences = [0.0, 1.0, 0.5, 0.125, 0.999, 1e-9, 0.3333333]
    for i, (name, conf) in enumerate(zip(names * 2, confidences + confidences[:3], strict=True)):
        label = ObjectLabel(i, name, conf, i % 2 == 0, AT)
        expected = json.loads(base) | {
            "lbl": i,
            "lbl-metadata": {
                "class-name": name,
                "confidence": round(conf, 2),
                "type": "groundtruth/image-classification",
                "job-name": "Odd-Names",
                "human-annotated": "yes" if i % 2 == 0 else "no",
                "creation-date": "2026-11-22T05:00:00.123456",
            },
        }
        assert fmt.labeled(base, label) == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
    reason = 'ClientError: "quoted" reason'
    failed = json.loads(base) | {
        "lbl-metadata": {
            "retry-count": 0,
            "failure-reason": reason,
            "human-annotated": "true",
            "type": "groundtruth/image-classification",
            "job-name": "Odd-Names",
            "creation-date": "2026-11-22T05:00:00.123456",
        }
    }
    assert fmt.failed(base, reason, AT) == json.dumps(failed, separators=(",", ":"), ensure_ascii=False)
    assert fmt.failed(base, reason, AT) == fmt.failed(base, reason, AT)  # cached path
