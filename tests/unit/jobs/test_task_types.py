"""Every built-in task type in the job spec: chained jobs (verification, adjustment) read the previous
label, from Quorum's outputs and from the real Ground Truth manifests; structured labels are written in
GT's shape."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest

from quorum_common.errors import InvalidArgument
from quorum_jobs.core.manifest import parse_manifest
from quorum_jobs.core.output import LineFormatter, OutputJob
from quorum_jobs.core.spec import JobSpecInput, check_manifest_fits, previous_labels, validate_spec
from quorum_jobs.core.task_types import SUPPORTED_TASK_TYPES, previous_label

GT_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets" / "groundtruth"
needs_gt = pytest.mark.skipif(not GT_DIR.is_dir(), reason="../shared/datasets/groundtruth is absent")

BOX_LINE = {
    "source-ref": "s3://b/dog.png",
    "boxes": {
        "image_size": [{"width": 500, "height": 400, "depth": 3}],
        "annotations": [{"class_id": "0", "left": 111.5, "top": 134, "width": 61, "height": 128}],
    },
    "boxes-metadata": {
        "objects": [{"confidence": 0.8}],
        "class-map": {"0": "dog"},
        "type": "groundtruth/object-detection",
    },
}
VERIFY = JobSpecInput(
    name="verify-boxes",
    task_type="label-verification",
    categories=["good", "bad"],
    workers_per_object=3,
    task_time_limit_s=300,
    price_per_task_usd=0.0,
    team_id="t",
    source_label_attribute="boxes",
)


def manifest(*lines: dict) -> bytes:
    return "\n".join(json.dumps(line) for line in lines).encode()


def test_every_built_in_task_type_is_a_job_type() -> None:
    assert set(SUPPORTED_TASK_TYPES) == {
        "image-classification",
        "text-classification",
        "image-classification-multilabel",
        "text-classification-multilabel",
        "bounding-box",
        "semantic-segmentation",
        "named-entity-recognition",
        "label-verification",
        "adjustment",
        "custom",
    }
    for task_type in SUPPORTED_TASK_TYPES:
        chained = task_type in ("label-verification", "adjustment")
        spec = validate_spec(
            dataclasses.replace(
                VERIFY,
                task_type=task_type,
                source_label_attribute="boxes" if chained else "",
                template="<form></form>" if task_type == "custom" else "",
            )
        )
        assert spec.task_type == task_type


def test_chained_jobs_need_the_source_label_attribute_and_others_refuse_it() -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_spec(dataclasses.replace(VERIFY, source_label_attribute=""))
    assert "source_label_attribute is required for label-verification jobs" in info.value.message
    with pytest.raises(InvalidArgument) as info:
        validate_spec(dataclasses.replace(VERIFY, task_type="bounding-box"))
    assert "source_label_attribute is only for label-verification and adjustment jobs" in info.value.message
    with pytest.raises(InvalidArgument) as info:
        validate_spec(dataclasses.replace(VERIFY, label_attribute_name="boxes"))
    assert "must differ from label_attribute_name" in info.value.message


def test_verification_lines_need_the_previous_label_and_its_metadata() -> None:
    spec = validate_spec(VERIFY)
    no_meta = {k: v for k, v in BOX_LINE.items() if k != "boxes-metadata"}
    bad_type = {**BOX_LINE, "boxes-metadata": {"type": "groundtruth/polygon"}}
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(
            spec, parse_manifest(manifest(BOX_LINE, {"source-ref": "s3://b/c.png"}, no_meta, bad_type))
        )
    message = info.value.message
    assert info.value.reason == "manifest_invalid"
    assert "manifest line 2: the line has no previous label 'boxes' (source_label_attribute)" in message
    assert "manifest line 3: the line has no object 'boxes-metadata'" in message
    assert "manifest line 4: 'boxes-metadata' has no known 'type' (got 'groundtruth/polygon')" in message
    assert "line 1" not in message


def test_previous_label_accepts_gt_quirks_and_names_bad_boxes() -> None:
    prev, why = previous_label(BOX_LINE, "boxes")  # string class id, float coordinate
    assert why is None and prev is not None
    assert prev.task_type == "bounding-box" and prev.label == BOX_LINE["boxes"]
    broken = json.loads(json.dumps(BOX_LINE))
    broken["boxes"]["annotations"][0]["left"] = "far"
    assert previous_label(broken, "boxes") == (
        None,
        "the previous label 'boxes' annotations[0].left must be a number, got 'far'",
    )
    failed = {
        "source-ref": "s3://b/c.png",
        "boxes-metadata": {"failure-reason": "ClientError: x", "type": "groundtruth/object-detection"},
    }
    assert previous_label(failed, "boxes")[0] is None  # no label: the line is reported, not dispatched
    segmentation = {
        "source-ref": "s3://b/c.png",
        "mask-ref": "s3://b/m.png",
        "mask-ref-metadata": {"type": "groundtruth/semantic-segmentation"},
    }
    prev, _ = previous_label(segmentation, "mask")  # GT writes file labels as <attr>-ref
    assert prev is not None and prev.task_type == "semantic-segmentation" and prev.label == "s3://b/m.png"


def test_adjustment_takes_geometry_labels_only() -> None:
    spec = validate_spec(dataclasses.replace(VERIFY, task_type="adjustment", categories=["dog", "bone"]))
    check_manifest_fits(spec, parse_manifest(manifest(BOX_LINE)))
    classified = {
        "source": "t",
        "mood": 1,
        "mood-metadata": {"class-name": "x", "type": "groundtruth/text-classification"},
    }
    with pytest.raises(InvalidArgument) as info:
        check_manifest_fits(
            validate_spec(
                dataclasses.replace(
                    VERIFY, task_type="adjustment", categories=["dog", "bone"], source_label_attribute="mood"
                )
            ),
            parse_manifest(manifest(classified)),
        )
    assert (
        "adjustment jobs edit bounding-box, semantic-segmentation, named-entity-recognition labels"
        in info.value.message
    )


@needs_gt
@pytest.mark.parametrize(
    ("path", "attr", "base"),
    [
        ("bounding-box/paasovaara-bees-500-output.manifest", "bees-500", "bounding-box"),
        ("bounding-box/sme-yolov5-birds-output.manifest", "category", "bounding-box"),
        ("bounding-box/t04glovern-cat-output.manifest", "cat-ground-truth", "bounding-box"),
        ("ner/comprehend-examples-ner-output.manifest", "EntityRecognizerPOC-1", "named-entity-recognition"),
        ("semantic-segmentation/lookout-pcb-output.manifest", "S10-label3", "semantic-segmentation"),
    ],
)
def test_real_ground_truth_outputs_start_verification_and_adjustment_jobs(
    path: str, attr: str, base: str
) -> None:
    m = parse_manifest((GT_DIR / path).read_bytes())
    for task_type in ("label-verification", "adjustment"):
        spec = validate_spec(
            dataclasses.replace(VERIFY, name="chained", task_type=task_type, source_label_attribute=attr)
        )
        check_manifest_fits(spec, m)
        previous = previous_labels(spec, m)
        assert len(previous) == len(m)
        assert {p.task_type for p in previous.values()} == {base}
        first = m.objects[0].data
        assert previous[0].metadata == first.get(f"{attr}-metadata", first.get(f"{attr}-ref-metadata"))


def _formatter(task_type: str, attr: str = "out") -> LineFormatter:
    return LineFormatter(OutputJob("job-1", task_type, attr))


AT = datetime(2026, 11, 22, 5, 0, 0, 123456)


def test_structured_labels_are_written_in_ground_truth_shape() -> None:
    boxes = {
        "task_type": "bounding-box",
        "label": {
            "image_size": [{"width": 50, "height": 40, "depth": 3}],
            "annotations": [{"class_id": 1, "left": 1, "top": 2, "width": 3, "height": 4}],
        },
        "metadata": {"objects": [{"confidence": 0.87}], "class-map": {"1": "dog"}},
    }
    line = json.loads(
        _formatter("bounding-box").structured('{"source-ref":"a.png"}', json.dumps(boxes), True, AT)
    )
    assert list(line) == ["source-ref", "out", "out-metadata"]
    assert line["out"] == boxes["label"]
    assert line["out-metadata"] == {
        "objects": [{"confidence": 0.87}],
        "class-map": {"1": "dog"},
        "type": "groundtruth/object-detection",
        "job-name": "job-1",
        "human-annotated": "yes",
        "creation-date": "2026-11-22T05:00:00.123456",
    }
    mask = {"task_type": "semantic-segmentation", "label": "/m/0.png", "metadata": {"internal-color-map": {}}}
    line = json.loads(
        _formatter("semantic-segmentation").structured('{"source-ref":"a.png"}', json.dumps(mask), True, AT)
    )
    assert (
        line["out-ref"] == "/m/0.png"
        and line["out-ref-metadata"]["type"] == "groundtruth/semantic-segmentation"
    )
    spans = {
        "task_type": "named-entity-recognition",
        "label": {"annotations": {"entities": [], "labels": []}},
        "metadata": {"entities": []},
    }
    line = json.loads(
        _formatter("named-entity-recognition").structured('{"source":"t"}', json.dumps(spans), False, AT)
    )
    assert (
        line["out-metadata"]["type"] == "groundtruth/text-span"
        and line["out-metadata"]["human-annotated"] == "no"
    )
    adjusted = {**boxes, "metadata": {**boxes["metadata"], "adjustment-status": "adjusted"}}
    line = json.loads(
        _formatter("adjustment").structured('{"source-ref":"a.png"}', json.dumps(adjusted), True, AT)
    )
    # GT writes an adjusted label with its base type (object-detection) plus adjustment-status.
    assert line["out-metadata"]["type"] == "groundtruth/object-detection"
    assert line["out-metadata"]["adjustment-status"] == "adjusted"
    verdict = {
        "task_type": "label-verification",
        "label": "1",
        "metadata": {"class-name": "bad", "confidence": 0.93, "worker-feedback": [{"comment": "too wide"}]},
    }
    line = json.loads(
        _formatter("label-verification").structured('{"source-ref":"a.png"}', json.dumps(verdict), True, AT)
    )
    assert line["out"] == "1" and line["out-metadata"]["type"] == "groundtruth/label-verification"
    assert line["out-metadata"]["worker-feedback"] == [{"comment": "too wide"}]
    failed = json.loads(
        _formatter("semantic-segmentation").failed('{"source-ref":"a.png"}', "ClientError: x", AT)
    )
    assert "out-ref-metadata" in failed and failed["out-ref-metadata"]["failure-reason"] == "ClientError: x"
