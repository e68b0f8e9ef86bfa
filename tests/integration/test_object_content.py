"""A requester reads their objects' images and consolidated segmentation masks through the gateway
(`GET /v1/jobs/{job_id}/objects/{object_id}/content` and `.../mask`, served by the jobs service), on the
real platform; another requester's job, unknown objects, text objects and labels without a mask are 404."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from quorum_cli.platform import Platform


def ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def error_code(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    return str(r.json()["error"]["code"])


class Requester:
    def __init__(self, platform: Platform, key: str) -> None:
        self.http = httpx.Client(
            base_url=platform.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.base_url = platform.api_url
        self.team_id = ok(self.http.post("/v1/teams", json={"name": f"t-{uuid.uuid4().hex[:8]}"}))["team_id"]
        worker = ok(self.http.post("/v1/workers", json={"name": "w", "team_ids": [self.team_id]}))
        self.worker = {"Authorization": f"Bearer {worker['token']}"}

    def create_job(
        self, task_type: str, lines: list[dict[str, Any]], categories: list[str]
    ) -> dict[str, Any]:
        body = {
            "name": f"{task_type[:20]}-{uuid.uuid4().hex[:8]}",
            "task_type": task_type,
            "categories": categories,
            "workers_per_object": 1,
            "team_id": self.team_id,
            "manifest": "\n".join(json.dumps(x) for x in lines),
        }
        job = ok(self.http.post("/v1/jobs", json=body))
        self.wait(job, "in_progress")
        return job

    def wait(self, job: dict[str, Any], status: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while ok(self.http.get(f"/v1/jobs/{job['job_id']}"))["status"] != status:
            assert time.monotonic() < deadline, f"job never reached {status}"
            time.sleep(0.2)

    def get(self, job: dict[str, Any] | str, object_id: int | str, what: str) -> httpx.Response:
        job_id = job if isinstance(job, str) else job["job_id"]
        return self.http.get(f"/v1/jobs/{job_id}/objects/{object_id}/{what}")


@pytest.fixture(scope="module")
def owner(platform: Platform, requester_key: str) -> Requester:
    return Requester(platform, requester_key)


@pytest.fixture(scope="module")
def stranger(platform: Platform) -> Requester:
    r = httpx.post(
        f"{platform.api_url}/v1/requesters",
        json={"name": "someone else"},
        headers={"Authorization": f"Bearer {platform.admin_api_key}"},
        timeout=10,
    )
    return Requester(platform, ok(r)["api_key"])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("content") / "scene.png"
    pixels = np.full((48, 64, 3), 200, dtype=np.uint8)
    pixels[10:30, 5:25] = [20, 120, 40]
    Image.fromarray(pixels).save(path)
    return path


def test_the_owner_reads_an_objects_image_and_others_get_404(
    owner: Requester, stranger: Requester, image: Path, tmp_path: Path
) -> None:
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    job = owner.create_job(
        "image-classification",
        [
            {"source-ref": str(image)},
            {"source-ref": image.as_uri()},
            {"source-ref": str(not_image)},
            {"source-ref": str(tmp_path / "missing.png")},
            {"source-ref": "s3://bucket/key.png"},
        ],
        ["a", "b"],
    )
    for object_id in (0, 1):  # a path and a file:// URI
        r = owner.get(job, object_id, "content")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        assert r.content == image.read_bytes()
        assert int(r.headers["content-length"]) == image.stat().st_size
        assert "no-store" in r.headers["cache-control"]
    assert error_code(owner.get(job, 2, "content"), 404) == "content_not_image"
    assert error_code(owner.get(job, 3, "content"), 404) == "content_not_found"
    assert error_code(owner.get(job, 4, "content"), 409) == "content_not_local"
    # Unknown objects, another requester's job, an unknown job; bad ids are refused before any RPC.
    assert error_code(owner.get(job, 5, "content"), 404) == "object_not_found"
    assert error_code(owner.get(job, 5, "mask"), 404) == "object_not_found"
    assert error_code(stranger.get(job, 0, "content"), 404) == "job_not_found"
    assert error_code(stranger.get(job, 0, "mask"), 404) == "job_not_found"
    assert error_code(owner.get(uuid.uuid4().hex, 0, "content"), 404) == "job_not_found"
    assert error_code(owner.get("a%00b", 0, "content"), 404) == "job_not_found"  # NUL: not a 500
    assert owner.get(job, -1, "content").status_code == 422
    assert owner.get(job, "x", "content").status_code == 422
    assert owner.get(job, 2**63, "content").status_code == 422
    anonymous = httpx.get(f"{owner.base_url}/v1/jobs/{job['job_id']}/objects/0/content", timeout=10)
    assert anonymous.status_code == 401
    # An image-classification object has no mask.
    assert error_code(owner.get(job, 0, "mask"), 404) == "no_image"


def test_a_text_object_has_no_image(owner: Requester) -> None:
    job = owner.create_job("text-classification", [{"source": "a cat purrs"}], ["cat", "dog"])
    assert error_code(owner.get(job, 0, "content"), 404) == "no_image"
    assert error_code(owner.get(job, 0, "mask"), 404) == "no_image"


def test_the_owner_reads_the_consolidated_mask_once_labeled(
    owner: Requester, stranger: Requester, image: Path
) -> None:
    job = owner.create_job("semantic-segmentation", [{"source-ref": str(image)}], ["road", "car"])
    r = owner.http.post("/v1/worker/tasks/next", params={"job_id": job["job_id"]}, headers=owner.worker)
    task = ok(r)
    # Not labeled yet: no mask, but the image is there.
    assert error_code(owner.get(job, 0, "mask"), 404) == "no_image"
    assert owner.get(job, 0, "content").content == image.read_bytes()
    colors = task["color_map"]
    pixels = np.full((48, 64, 3), 255, dtype=np.uint8)
    pixels[24:, :] = [int(colors[0][i : i + 2], 16) for i in (1, 3, 5)]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    answer = {"payload": {"mask_png": base64.b64encode(buf.getvalue()).decode()}}
    ok(owner.http.post(f"/v1/worker/tasks/{task['task_id']}/answer", json=answer, headers=owner.worker))
    owner.wait(job, "completed")
    (line,) = [json.loads(x) for x in owner.http.get(f"/v1/jobs/{job['job_id']}/output").text.splitlines()]
    attr = job["label_attribute_name"]
    r = owner.get(job, 0, "mask")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.content == Path(line[f"{attr}-ref"]).read_bytes()
    served = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    assert served.shape == (48, 64, 3) and np.array_equal(served, pixels)
    assert error_code(stranger.get(job, 0, "mask"), 404) == "job_not_found"
