"""Every built-in task type end to end through the real platform: a job is created over HTTP, its tasks are
answered through the worker API as the portal does (the task-type contract), consolidated by the type's
method, and the output manifest has Ground Truth's exact shape -- including verification and adjustment
jobs chained from a previous output manifest, Quorum's and a real Ground Truth one."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from quorum_cli.platform import Platform

GT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "groundtruth"
COMMON_METADATA = {"type", "job-name", "human-annotated", "creation-date"}
Answerer = Callable[[dict[str, Any], int], dict[str, Any]]


class Api:
    def __init__(self, platform: Platform, requester_key: str) -> None:
        self.http = httpx.Client(base_url=platform.api_url, timeout=30)
        self.requester = {"Authorization": f"Bearer {requester_key}"}
        team = self.ok(
            self.http.post("/v1/teams", json={"name": f"t-{uuid.uuid4().hex[:8]}"}, headers=self.requester)
        )
        self.team_id = team["team_id"]
        self.workers = [
            {
                "Authorization": "Bearer "
                + self.ok(
                    self.http.post(
                        "/v1/workers",
                        json={"name": f"w{i}", "team_ids": [self.team_id]},
                        headers=self.requester,
                    )
                )["token"]
            }
            for i in range(3)
        ]

    @staticmethod
    def ok(response: httpx.Response) -> Any:
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def create_job(
        self, task_type: str, lines: list[dict[str, Any]] | bytes, **fields: Any
    ) -> dict[str, Any]:
        manifest = lines if isinstance(lines, bytes) else "\n".join(json.dumps(x) for x in lines).encode()
        body = {
            "name": f"{task_type[:20]}-{uuid.uuid4().hex[:8]}",
            "task_type": task_type,
            "workers_per_object": 3,
            "team_id": self.team_id,
            "manifest": manifest.decode(),
            **fields,
        }
        return self.ok(self.http.post("/v1/jobs", json=body, headers=self.requester))

    def next_task(self, worker: int, job_id: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = self.http.post(
                "/v1/worker/tasks/next", params={"job_id": job_id}, headers=self.workers[worker]
            )
            if r.status_code == 200:
                return r.json()
            assert r.status_code in (204, 404), r.text  # 404 while the job is still opening
            if r.status_code == 204:
                return None
            time.sleep(0.2)
        raise AssertionError("the job never opened")

    def answer(self, worker: int, task: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            f"/v1/worker/tasks/{task['task_id']}/answer", json=body, headers=self.workers[worker]
        )

    def label_all(self, job: dict[str, Any], answerer: Answerer) -> list[dict[str, Any]]:
        """Every worker answers every task it gets; returns the tasks as they were handed out."""
        tasks = []
        for worker in range(3):
            while (task := self.next_task(worker, job["job_id"])) is not None:
                tasks.append(task)
                self.ok(self.answer(worker, task, answerer(task, worker)))
        return tasks

    def output(self, job: dict[str, Any], timeout_s: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        status = ""
        while time.monotonic() < deadline:
            status = self.ok(self.http.get(f"/v1/jobs/{job['job_id']}", headers=self.requester))["status"]
            if status == "completed":
                break
            time.sleep(0.3)
        assert status == "completed", status
        r = self.http.get(f"/v1/jobs/{job['job_id']}/output", headers=self.requester)
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def api(platform: Platform, requester_key: str) -> Api:
    return Api(platform, requester_key)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i, (w, h) in enumerate([(64, 48), (80, 60)]):
        path = folder / f"img{i}.png"
        Image.fromarray(np.full((h, w, 3), 40 * i, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def check_common(meta: dict[str, Any], job: dict[str, Any], gt_type: str) -> None:
    assert meta["type"] == f"groundtruth/{gt_type}"
    assert meta["job-name"] == job["name"]
    assert meta["human-annotated"] == "yes"
    assert len(meta["creation-date"]) == 26 and meta["creation-date"][10] == "T"


# -- bounding boxes, then a verification and an adjustment job chained from its output ---------------------

TRUE_BOX = {"left": 10, "top": 8, "width": 30, "height": 20}


def box_answer(task: dict[str, Any], worker: int) -> dict[str, Any]:
    size = Image.open(task["source_ref"]).size
    if worker == 2 and task["object_id"] == 1:
        boxes: list[dict[str, Any]] = []  # "nothing to label": outvoted by the other two
    else:
        boxes = [
            {
                "label": "car",
                **{k: v + worker for k, v in TRUE_BOX.items() if k in ("left", "top")},
                "width": 30,
                "height": 20,
            }
        ]
    return {"payload": {"boxes": boxes, "image_size": {"width": size[0], "height": size[1]}}}


@pytest.fixture(scope="module")
def box_job(
    api: Api, images: list[Path]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    job = api.create_job(
        "bounding-box",
        [{"source-ref": str(p), "n": i} for i, p in enumerate(images)],
        categories=["person", "car"],
        label_attribute_name="vehicles",
    )
    # A bad answer is refused with the reason, and the task stays the worker's to answer again.
    task = api.next_task(0, job["job_id"])
    assert task is not None and task["image_url"] == f"/v1/worker/tasks/{task['task_id']}/content"
    assert task["previous"] is None and task["color_map"] == []
    image = api.http.get(task["image_url"], headers=api.workers[0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == Path(task["source_ref"]).read_bytes()
    assert api.http.get(task["image_url"], headers=api.workers[1]).status_code == 403  # not their task
    outside = {
        "boxes": [{"label": "car", "left": 60, "top": 0, "width": 30, "height": 10}],
        "image_size": {"width": 64, "height": 48},
    }
    r = api.answer(0, task, {"payload": outside})
    assert r.status_code == 400 and r.json()["error"]["code"] == "box_outside_image", r.text
    r = api.answer(
        0, task, {"payload": {**outside, "boxes": [{**outside["boxes"][0], "label": "bus", "left": 0}]}}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_label"
    api.ok(api.answer(0, task, box_answer(task, 0)))
    tasks = [task, *api.label_all(job, box_answer)]
    assert len(tasks) == 6
    return job, api.output(job), tasks


def test_bounding_box_output_is_object_detection(box_job: Any) -> None:
    job, lines, _ = box_job
    assert [line["n"] for line in lines] == [0, 1]
    for line, (w, h) in zip(lines, [(64, 48), (80, 60)], strict=True):
        assert list(line) == ["source-ref", "n", "vehicles", "vehicles-metadata"]
        label, meta = line["vehicles"], line["vehicles-metadata"]
        assert label["image_size"] == [{"width": w, "height": h, "depth": 3}]
        assert len(label["annotations"]) == 1  # the three (or two) boxes fused into one
        fused = label["annotations"][0]
        assert fused["class_id"] == 1
        assert (
            abs(fused["left"] - 11) <= 1
            and abs(fused["top"] - 9) <= 1
            and (fused["width"], fused["height"]) == (30, 20)
        )
        assert set(meta) == {"objects", "class-map"} | COMMON_METADATA
        assert meta["class-map"] == {"1": "car"}
        assert len(meta["objects"]) == 1 and 0 < meta["objects"][0]["confidence"] <= 1
        check_common(meta, job, "object-detection")
    # Two of three workers drew the box on image 1: it is kept, with a lower confidence than unanimity.
    assert (
        lines[1]["vehicles-metadata"]["objects"][0]["confidence"]
        < lines[0]["vehicles-metadata"]["objects"][0]["confidence"]
    )


def test_verification_job_from_a_box_output_collects_verdicts_and_feedback(api: Api, box_job: Any) -> None:
    _, lines, _ = box_job
    job = api.create_job(
        "label-verification",
        lines,
        categories=["good", "bad"],
        source_label_attribute="vehicles",
        label_attribute_name="verified",
    )
    seen = []

    def verdict(task: dict[str, Any], worker: int) -> dict[str, Any]:
        seen.append(task)
        bad = task["object_id"] == 1 and worker < 2
        return {
            "label": "bad" if bad else "good",
            "payload": {"comment": f"box too wide ({worker})"} if bad else {},
        }

    api.label_all(job, verdict)
    assert len(seen) == 6
    for task in seen:
        prev = task["previous"]
        assert prev["task_type"] == "bounding-box"
        assert prev["label"] == lines[task["object_id"]]["vehicles"]
        assert prev["metadata"] == lines[task["object_id"]]["vehicles-metadata"]
    out = api.output(job)
    assert [line["verified"] for line in out] == ["0", "1"]  # GT writes the verdict index as a string
    for line in out:
        assert line["vehicles"] == lines[out.index(line)]["vehicles"]  # the previous label passes through
        meta = line["verified-metadata"]
        check_common(meta, job, "label-verification")
    assert (
        out[0]["verified-metadata"]["class-name"] == "good"
        and "worker-feedback" not in out[0]["verified-metadata"]
    )
    assert out[1]["verified-metadata"]["class-name"] == "bad"
    assert sorted(c["comment"] for c in out[1]["verified-metadata"]["worker-feedback"]) == [
        "box too wide (0)",
        "box too wide (1)",
    ]


def test_adjustment_job_from_a_box_output_records_whether_boxes_changed(api: Api, box_job: Any) -> None:
    _, lines, _ = box_job
    job = api.create_job(
        "adjustment",
        lines,
        categories=["person", "car"],
        source_label_attribute="vehicles",
        label_attribute_name="adjusted",
    )

    def adjust(task: dict[str, Any], worker: int) -> dict[str, Any]:
        prev = task["previous"]["label"]
        size = prev["image_size"][0]
        boxes = [
            {"label": "car", **{k: b[k] for k in ("left", "top", "width", "height")}}
            for b in prev["annotations"]
        ]
        if task["object_id"] == 1:  # everyone moves the box on image 1
            boxes = [{**b, "left": b["left"] + 5} for b in boxes]
        return {
            "payload": {
                "boxes": boxes,
                "image_size": {"width": size["width"], "height": size["height"]},
                "adjusted": task["object_id"] == 1,
            }
        }

    api.label_all(job, adjust)
    out = api.output(job)
    assert [line["adjusted-metadata"]["adjustment-status"] for line in out] == ["unadjusted", "adjusted"]
    for line, before in zip(out, lines, strict=True):
        check_common(line["adjusted-metadata"], job, "object-detection")
        moved = line["adjusted"]["annotations"][0]["left"] - before["vehicles"]["annotations"][0]["left"]
        assert moved == (5 if line["n"] == 1 else 0)


# -- named entities ----------------------------------------------------------------------------------------

TEXTS = ["Rex met Ada in Paris.", "Nothing here."]


def test_named_entity_output_is_text_span(api: Api) -> None:
    job = api.create_job(
        "named-entity-recognition",
        [{"source": t} for t in TEXTS],
        categories=["PERSON", "CITY"],
        label_attribute_name="ents",
    )
    task = api.next_task(0, job["job_id"])
    assert task is not None and task["image_url"] is None
    overlap = {
        "entities": [{"label": "PERSON", "start": 0, "end": 5}, {"label": "CITY", "start": 3, "end": 8}]
    }
    r = api.answer(0, task, {"payload": overlap})
    assert r.status_code == 400 and r.json()["error"]["code"] == "spans_overlap"

    def spans(task: dict[str, Any], worker: int) -> dict[str, Any]:
        text = task["source"]
        if text != TEXTS[0]:
            return {"payload": {"entities": []}}
        ents = [{"label": "PERSON", "start": 0, "end": 3}, {"label": "CITY", "start": 15, "end": 20}]
        if worker == 0:
            ents.append({"label": "PERSON", "start": 8, "end": 11})  # only one worker marks Ada
        return {"payload": {"entities": ents}}

    api.ok(api.answer(0, task, spans(task, 0)))
    api.label_all(job, spans)
    out = api.output(job)
    first, second = out
    assert list(first) == ["source", "ents", "ents-metadata"]
    entities = first["ents"]["annotations"]["entities"]
    assert sorted((e["startOffset"], e["endOffset"], e["label"]) for e in entities) == [
        (0, 3, "PERSON"),
        (15, 20, "CITY"),
    ]
    assert {x["label"] for x in first["ents"]["annotations"]["labels"]} == {"PERSON", "CITY"}
    assert len(first["ents-metadata"]["entities"]) == 2
    assert all(0 < e["confidence"] <= 1 for e in first["ents-metadata"]["entities"])
    check_common(first["ents-metadata"], job, "text-span")
    assert second["ents"]["annotations"]["entities"] == [] and second["ents-metadata"]["entities"] == []


# -- semantic segmentation ---------------------------------------------------------------------------------


def mask_png(size: tuple[int, int], colors: list[str], worker: int) -> str:
    w, h = size
    pixels = np.full((h, w, 3), 255, dtype=np.uint8)
    road = [int(colors[0][i : i + 2], 16) for i in (1, 3, 5)]
    car = [int(colors[1][i : i + 2], 16) for i in (1, 3, 5)]
    pixels[h // 2 :, :] = road
    pixels[5:15, 5 + worker : 25] = car  # workers disagree on the car's left edge
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_segmentation_output_references_the_consolidated_mask(api: Api, images: list[Path]) -> None:
    job = api.create_job(
        "semantic-segmentation",
        [{"source-ref": str(images[0])}],
        categories=["road", "car"],
        label_attribute_name="seg",
    )
    task = api.next_task(0, job["job_id"])
    assert task is not None
    colors = task["color_map"]
    assert len(colors) == 2 and len(set(colors)) == 2 and "#ffffff" not in colors
    r = api.answer(0, task, {"payload": {"mask_png": mask_png((32, 24), colors, 0)}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "mask_wrong_size", r.text
    answer: Answerer = lambda t, worker: {"payload": {"mask_png": mask_png((64, 48), colors, worker)}}  # noqa: E731
    api.ok(api.answer(0, task, answer(task, 0)))
    api.label_all(job, answer)
    (line,) = api.output(job)
    assert list(line) == ["source-ref", "seg-ref", "seg-ref-metadata"]
    meta = line["seg-ref-metadata"]
    check_common(meta, job, "semantic-segmentation")
    cmap = meta["internal-color-map"]
    assert [cmap[k]["class-name"] for k in ("0", "1", "2")] == ["BACKGROUND", "road", "car"]
    assert [cmap[k]["hex-color"] for k in ("0", "1", "2")] == ["#ffffff", *colors]
    assert 0.5 < cmap["1"]["confidence"] <= 1
    mask = np.asarray(Image.open(line["seg-ref"]).convert("RGB"))
    assert mask.shape == (48, 64, 3)
    hexes = {f"#{r:02x}{g:02x}{b:02x}" for r, g, b in mask.reshape(-1, 3).tolist()}
    assert hexes == {"#ffffff", *colors}
    car = np.all(mask == [int(colors[1][i : i + 2], 16) for i in (1, 3, 5)], axis=2)
    assert car[10, 6] and car[10, 20] and not car[10, 4]  # majority edge: 2 of 3 workers start at x <= 6

    # An adjustment job from this output: the previous mask is served to the worker holding the task,
    # and re-submitting it unchanged is "unadjusted" (the workers' `adjusted` flags decide for masks).
    adjust_job = api.create_job(
        "adjustment",
        [line],
        categories=["road", "car"],
        source_label_attribute="seg",
        label_attribute_name="fix",
    )

    def resubmit(task: dict[str, Any], worker: int) -> dict[str, Any]:
        assert task["previous"]["task_type"] == "semantic-segmentation" and task["color_map"] == colors
        served = api.http.get(task["previous"]["mask_url"], headers=api.workers[worker])
        assert served.status_code == 200 and served.content == Path(line["seg-ref"]).read_bytes()
        return {"payload": {"mask_png": base64.b64encode(served.content).decode(), "adjusted": False}}

    api.label_all(adjust_job, resubmit)
    (fixed,) = api.output(adjust_job)
    assert fixed["fix-ref-metadata"]["adjustment-status"] == "unadjusted"
    check_common(fixed["fix-ref-metadata"], adjust_job, "semantic-segmentation")
    assert np.array_equal(np.asarray(Image.open(fixed["fix-ref"]).convert("RGB")), mask)


# -- multi-label -------------------------------------------------------------------------------------------


def test_multilabel_output_has_class_and_confidence_maps(api: Api) -> None:
    job = api.create_job(
        "text-classification-multilabel",
        [{"source": "sunny and warm"}, {"source": "meh"}],
        categories=["weather", "joy", "food"],
        label_attribute_name="topics",
    )

    def choose(task: dict[str, Any], worker: int) -> dict[str, Any]:
        if task["source"] == "meh":
            return {"payload": {"labels": []}}
        return {"payload": {"labels": ["weather", "joy"] if worker < 2 else ["weather"]}}

    api.label_all(job, choose)
    first, second = api.output(job)
    assert first["topics"][0] == 0 and set(first["topics"]) <= {0, 1}
    meta = first["topics-metadata"]
    assert meta["class-map"] == {str(k): ["weather", "joy", "food"][k] for k in first["topics"]}
    assert set(meta["confidence-map"]) == set(meta["class-map"])
    assert all(0 < c <= 1 for c in meta["confidence-map"].values())
    check_common(meta, job, "text-classification-multilabel")
    assert second["topics"] == [] and second["topics-metadata"]["class-map"] == {}


# -- chained from a real Ground Truth output manifest --------------------------------------------------------


@pytest.mark.skipif(not GT_DIR.is_dir(), reason="../shared/datasets/groundtruth is absent")
def test_verification_job_from_a_real_ground_truth_box_output(api: Api) -> None:
    real = (GT_DIR / "bounding-box" / "sme-yolov5-birds-output.manifest").read_bytes().splitlines()[:4]
    job = api.create_job(
        "label-verification", b"\n".join(real), categories=["good", "bad"], source_label_attribute="category"
    )
    attr = job["label_attribute_name"]

    def verdict(task: dict[str, Any], worker: int) -> dict[str, Any]:
        assert task["image_url"] is None or task["source_ref"].startswith("s3://")
        assert task["previous"]["task_type"] == "bounding-box"
        return {"label": "good" if task["object_id"] % 2 == 0 else "bad"}

    api.label_all(job, verdict)
    out = api.output(job)
    originals = [json.loads(line) for line in real]
    assert len(out) == 4
    for i, (line, original) in enumerate(zip(out, originals, strict=True)):
        assert {k: line[k] for k in original} == original  # the real line passes through unchanged
        assert line[attr] == str(i % 2)
        assert line[f"{attr}-metadata"]["class-name"] == ["good", "bad"][i % 2]
        check_common(line[f"{attr}-metadata"], job, "label-verification")


def test_chained_job_refuses_lines_without_the_previous_label(api: Api) -> None:
    body = {
        "name": f"verify-{uuid.uuid4().hex[:8]}",
        "task_type": "label-verification",
        "categories": ["good", "bad"],
        "team_id": api.team_id,
        "source_label_attribute": "vehicles",
        "manifest": json.dumps({"source-ref": "/tmp/x.png"}),
    }
    r = api.http.post("/v1/jobs", json=body, headers=api.requester)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "manifest_invalid"
    assert (
        "manifest line 1: the line has no previous label 'vehicles' (source_label_attribute)"
        in r.json()["error"]["message"]
    )


@pytest.mark.skipif(not GT_DIR.is_dir(), reason="../shared/datasets/groundtruth is absent")
def test_adjustment_job_from_a_real_ground_truth_box_output(api: Api) -> None:
    real = (GT_DIR / "bounding-box" / "sme-yolov5-birds-output.manifest").read_bytes().splitlines()[:3]
    job = api.create_job(
        "adjustment", b"\n".join(real), categories=["Bird", "Other"], source_label_attribute="category"
    )
    attr = job["label_attribute_name"]

    def keep_or_shrink(task: dict[str, Any], worker: int) -> dict[str, Any]:
        prev = task["previous"]
        assert prev["task_type"] == "bounding-box" and prev["metadata"]["class-map"] == {"0": "Bird"}
        size = prev["label"]["image_size"][0]
        boxes = [
            {"label": "Bird", **{k: b[k] for k in ("left", "top", "width", "height")}}
            for b in prev["label"]["annotations"]
        ]
        if task["object_id"] == 2:
            boxes = [{**b, "width": b["width"] - 20} for b in boxes]
        payload = {"boxes": boxes, "image_size": {k: size[k] for k in ("width", "height")}}
        return {"payload": {**payload, "adjusted": task["object_id"] == 2}}

    api.label_all(job, keep_or_shrink)
    out = api.output(job)
    originals = [json.loads(line) for line in real]
    assert [line[f"{attr}-metadata"]["adjustment-status"] for line in out] == [
        "unadjusted",
        "unadjusted",
        "adjusted",
    ]
    for line, original in zip(out, originals, strict=True):
        check_common(line[f"{attr}-metadata"], job, "object-detection")
        before = original["category"]["annotations"]
        after = line[attr]["annotations"]
        assert len(after) == len(before)
        assert line[attr]["image_size"] == [{**original["category"]["image_size"][0]}]
        shrink = 20 if line is out[2] else 0
        for a, b in zip(
            sorted(after, key=lambda x: x["left"]), sorted(before, key=lambda x: x["left"]), strict=True
        ):
            assert abs(a["width"] - (b["width"] - shrink)) <= 1 and abs(a["left"] - b["left"]) <= 1


def test_named_entity_adjustment_records_the_workers_changes(api: Api) -> None:
    prev_attr = "ents0"
    lines = [
        {
            "source": text,
            prev_attr: {"annotations": {"entities": spans, "labels": [{"label": "PERSON"}]}},
            f"{prev_attr}-metadata": {
                "entities": [{"confidence": 0.5}] * len(spans),
                "type": "groundtruth/text-span",
            },
        }
        for text, spans in [
            ("Rex met Ada.", [{"label": "PERSON", "startOffset": 0, "endOffset": 3}]),
            ("Bob ran.", [{"label": "PERSON", "startOffset": 0, "endOffset": 3}]),
        ]
    ]
    job = api.create_job("adjustment", lines, categories=["PERSON", "CITY"], source_label_attribute=prev_attr)
    attr = job["label_attribute_name"]

    def adjust(task: dict[str, Any], worker: int) -> dict[str, Any]:
        ents = [
            {"label": e["label"], "start": e["startOffset"], "end": e["endOffset"]}
            for e in task["previous"]["label"]["annotations"]["entities"]
        ]
        changed = task["source"].startswith("Rex")
        if changed:  # Ada was missed
            ents.append({"label": "PERSON", "start": 8, "end": 11})
        return {"payload": {"entities": ents, "adjusted": changed}}

    api.label_all(job, adjust)
    first, second = api.output(job)
    assert first[f"{attr}-metadata"]["adjustment-status"] == "adjusted"
    assert second[f"{attr}-metadata"]["adjustment-status"] == "unadjusted"
    assert first[f"{attr}-metadata"]["type"] == "groundtruth/text-span"
    spans = sorted((e["startOffset"], e["endOffset"]) for e in first[attr]["annotations"]["entities"])
    assert spans == [(0, 3), (8, 11)]


# -- the consolidation service's per-type step, pure (no platform; tests/unit/consolidation belongs to the
# -- consolidation core, so these live here) ----------------------------------------------------------------


def test_structured_consolidation_drops_minority_boxes_and_maps_gt_class_ids() -> None:
    from quorum_consolidation.adapters.task_labels import ReadyObject, WorkerAnswer, consolidate_objects

    size = {"width": 100, "height": 80}
    box = {"label": "dog", "left": 10, "top": 10, "width": 20, "height": 20}
    stray = {"label": "bone", "left": 60, "top": 40, "width": 10, "height": 10}  # one worker of three
    obj = ReadyObject(
        7,
        [
            WorkerAnswer("a", "", {"boxes": [box, stray], "image_size": size}),
            WorkerAnswer("b", "", {"boxes": [box], "image_size": size}),
            WorkerAnswer("c", "", {"boxes": [{**box, "left": 12}], "image_size": size}),
        ],
    )
    (label,) = consolidate_objects("bounding-box", ["bone", "dog"], [obj])
    assert label.label["annotations"] == [{"class_id": 1, "left": 10, "top": 10, "width": 20, "height": 20}]
    assert label.metadata["class-map"] == {"1": "dog"} and label.label["image_size"][0]["depth"] == 3
    # Adjustment: a GT previous label with a string class id and float coordinates, its class named by the
    # class-map, is the "original" the workers' boxes are compared with.
    previous = {
        "task_type": "bounding-box",
        "label": {"annotations": [{"class_id": "3", "left": 10.0, "top": 10, "width": 20, "height": 20.2}]},
        "metadata": {"class-map": {"3": "dog"}},
    }
    same = ReadyObject(1, [WorkerAnswer(w, "", {"boxes": [box], "image_size": size}) for w in "ab"], previous)
    moved = ReadyObject(
        2, [WorkerAnswer(w, "", {"boxes": [{**box, "left": 30}], "image_size": size}) for w in "ab"], previous
    )
    statuses = {
        x.object_id: x.metadata["adjustment-status"]
        for x in consolidate_objects("adjustment", ["bone", "dog"], [same, moved])
    }
    assert statuses == {1: "unadjusted", 2: "adjusted"}


def test_consolidated_mask_png_round_trips_through_the_colour_map() -> None:
    from quorum_common.task_types import color_map
    from quorum_consolidation.adapters.task_labels import decode_mask, encode_mask

    colors = color_map(3)
    mask = np.zeros((6, 9), dtype=np.int64)
    mask[1:3, 2:5], mask[4, :] = 3, 1
    png = encode_mask(mask, colors)
    assert Image.open(io.BytesIO(png)).size == (9, 6)
    assert np.array_equal(decode_mask(base64.b64encode(png).decode(), colors), mask)


# -- custom templates: pre-processing (the task input is the line), post-processing "majority" / "all" ----

CUSTOM_TEMPLATE = "<h2>{{ task.input.source }}</h2><form><input name='score'><button>Send</button></form>"
CUSTOM_LINES = [
    {"source": "good film", "lang": "en", "meta": {"stars": 4}},
    {"source-ref": "/data/poster.png", "lang": "fr"},
]


def custom_answer(task: dict[str, Any], worker: int) -> dict[str, Any]:
    """Object 0: all three agree (in different key orders); object 1: two of three agree."""
    if task["object_id"] == 0:
        return {"payload": {"score": "4", "why": "fun"} if worker != 1 else {"why": "fun", "score": "4"}}
    if worker == 2:
        return {"payload": {"score": "1"}}
    return {"label": "poster", "payload": {"score": "3"}}  # a string label is kept in the answer


def label_custom_job(api: Api, choice: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    job = api.create_job(
        "custom",
        CUSTOM_LINES,
        template=CUSTOM_TEMPLATE,
        custom_consolidation=choice,
        label_attribute_name="rating",
    )
    assert job["categories"] == [] and job["template"] == CUSTOM_TEMPLATE
    assert job["custom_consolidation"] == choice
    tasks = api.label_all(job, custom_answer)
    assert len(tasks) == 6
    for task in tasks:  # pre-processing: the task input is the whole manifest line
        assert task["template"] == CUSTOM_TEMPLATE
        assert task["input"] == CUSTOM_LINES[task["object_id"]]
    return job, api.output(job)


def test_custom_job_majority_output_is_the_answer_most_workers_gave(api: Api) -> None:
    job, lines = label_custom_job(api, "majority")
    assert [line.get("lang") for line in lines] == ["en", "fr"]
    first, second = lines
    assert list(first) == ["source", "lang", "meta", "rating", "rating-metadata"]
    assert first["rating"] == {"score": "4", "why": "fun"}
    assert second["rating"] == {"score": "3", "label": "poster"}
    assert first["rating-metadata"]["confidence"] == 1.0
    assert second["rating-metadata"]["confidence"] == 0.67
    for line in lines:
        check_common(line["rating-metadata"], job, "custom")
        assert set(line["rating-metadata"]) == COMMON_METADATA | {"confidence"}


def test_custom_job_all_output_keeps_every_workers_answer(api: Api) -> None:
    job, lines = label_custom_job(api, "all")
    second = lines[1]
    answers = second["rating"]["answers"]
    assert len(answers) == 3 and len({a["workerId"] for a in answers}) == 3
    assert sorted(json.dumps(a["answer"], sort_keys=True) for a in answers) == [
        '{"label": "poster", "score": "3"}',
        '{"label": "poster", "score": "3"}',
        '{"score": "1"}',
    ]
    for line in lines:
        check_common(line["rating-metadata"], job, "custom")
        assert set(line["rating-metadata"]) == COMMON_METADATA  # GT's custom metadata: no confidence


def test_custom_job_refuses_a_bad_spec_and_bad_answers(api: Api) -> None:
    def refused(**fields: Any) -> dict[str, Any]:
        body = {
            "name": f"custom-{uuid.uuid4().hex[:8]}",
            "task_type": "custom",
            "team_id": api.team_id,
            "manifest": json.dumps(CUSTOM_LINES[0]),
            **fields,
        }
        r = api.http.post("/v1/jobs", json=body, headers=api.requester)
        assert r.status_code == 400, r.text
        return r.json()["error"]

    error = refused()
    assert error["code"] == "invalid_job_spec"
    assert "template is required for custom jobs" in error["message"]
    error = refused(template="x" * 100_001)
    assert "template must be at most 100000 characters, got 100001" in error["message"]
    error = refused(template=CUSTOM_TEMPLATE, custom_consolidation="average")
    assert "custom_consolidation must be one of 'majority', 'all', got 'average'" in error["message"]
    error = refused(task_type="text-classification", categories=["a", "b"], template=CUSTOM_TEMPLATE)
    assert "template is only for custom jobs, not text-classification" in error["message"]

    job = api.create_job("custom", [CUSTOM_LINES[0]], template=CUSTOM_TEMPLATE, workers_per_object=1)
    task = api.next_task(0, job["job_id"])
    assert task is not None
    r = api.answer(0, task, {"payload": {"blob": "x" * 70_000}})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "payload_too_large"
    r = api.answer(0, task, {"payload": [1, 2]})
    assert r.status_code == 422 and "payload" in r.json()["error"]["message"]
    api.ok(api.answer(0, task, {"payload": {}}))  # an empty form is still an answer
    (line,) = api.output(job)
    assert line[job["label_attribute_name"]] == {}
