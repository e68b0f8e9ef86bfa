"""Bad input gets a clear 4xx naming the problem and changes nothing."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from quorum_cli.platform import Platform


@pytest.fixture(scope="module")
def api(platform: Platform, requester_key: str) -> httpx.Client:
    with httpx.Client(
        base_url=platform.api_url, headers={"Authorization": f"Bearer {requester_key}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="module")
def team(api: httpx.Client) -> dict:
    r = api.post("/v1/teams", json={"name": f"bad-input-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    return r.json()


def job_body(team: str, **overrides: object) -> dict:
    body = {
        "name": f"job-{uuid.uuid4().hex[:8]}",
        "task_type": "text-classification",
        "categories": ["cat", "dog"],
        "workers_per_object": 2,
        "task_time_limit_s": 60,
        "price_per_task_usd": 0.01,
        "team_id": team,
        "manifest": '{"source": "a"}\n{"source": "b"}\n',
    }
    body.update(overrides)
    return body


def job_count(api: httpx.Client) -> int:
    r = api.get("/v1/jobs", params={"page_size": 500})
    assert r.status_code == 200
    return len(r.json()["data"])


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    assert "Traceback" not in response.text
    return body["error"]


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        ('{"source": "ok"}\n{"source": "ok"\n', "line 2"),
        ('{"source": "ok"}\n{"source": "a", "source-ref": "s3://b/x.jpg"}\n', "line 2"),
        ('{"source": "ok"}\n{"source": "ok"}\n{"item": 3}\n', "line 3"),
        ('{"source": 5}\n', "line 1"),
        ("[1, 2]\n", "line 1"),
        ("", "manifest"),
    ],
)
def test_malformed_manifest_is_rejected_whole_with_line_number(
    api: httpx.Client, team: dict, manifest: str, needle: str
) -> None:
    before = job_count(api)
    r = api.post("/v1/jobs", json=job_body(team["team_id"], manifest=manifest))
    assert r.status_code == 400, r.text
    assert needle in error_of(r)["message"]
    assert job_count(api) == before


@pytest.mark.parametrize(
    ("overrides", "status", "needle"),
    [
        ({"task_type": "video-tracking"}, 400, "task"),
        ({"categories": ["only-one"]}, 400, "categories"),
        ({"categories": ["a", "a"]}, 400, "categories"),
        ({"workers_per_object": 11}, None, "workers_per_object"),
        ({"workers_per_object": 0}, None, "workers_per_object"),
        ({"team_id": "no-such-team"}, 404, "team"),
        ({"task_type": "image-classification"}, 400, "source-ref"),
    ],
)
def test_invalid_job_spec_names_the_field(
    api: httpx.Client, team: dict, overrides: dict, status: int | None, needle: str
) -> None:
    before = job_count(api)
    r = api.post("/v1/jobs", json=job_body(team["team_id"], **overrides))
    assert r.status_code == (status or r.status_code) and r.status_code in (400, 404, 422), r.text
    assert needle in json.dumps(error_of(r)).lower() or needle in r.text
    assert job_count(api) == before


def test_oversized_manifest_is_413(api: httpx.Client, team: dict) -> None:
    big = '{"source": "' + "x" * (1024 * 1024) + '"}\n'
    manifest = big * 6  # ~6 MB, over the 5 MB limit the platform fixture sets
    r = api.post(
        "/v1/jobs",
        content=json.dumps(job_body(team["team_id"], manifest=manifest)),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text[:300]
    assert "limit" in error_of(r)["message"].lower() or "large" in error_of(r)["message"].lower()


def test_tokens_and_ownership(platform: Platform, api: httpx.Client, team: dict) -> None:
    base = platform.api_url
    assert httpx.get(f"{base}/v1/jobs").status_code == 401
    assert httpx.get(f"{base}/v1/jobs", headers={"Authorization": "Bearer qr_nope"}).status_code == 401
    r = httpx.post(f"{base}/v1/worker/tasks/next", headers={"Authorization": "Bearer qw_nope"})
    assert r.status_code == 401 and error_of(r)["code"]

    job = api.post("/v1/jobs", json=job_body(team["team_id"], workers_per_object=1, task_time_limit_s=1))
    assert job.status_code == 201, job.text
    job_id = job.json()["job_id"]
    worker = api.post("/v1/workers", json={"name": "w1", "team_ids": [team["team_id"]]}).json()
    wh = {"Authorization": f"Bearer {worker['token']}"}

    # Another requester sees neither the job nor can it use the team.
    other = httpx.post(
        f"{base}/v1/requesters",
        json={"name": "other"},
        headers={"Authorization": f"Bearer {platform.admin_api_key}"},
    ).json()["api_key"]
    oh = {"Authorization": f"Bearer {other}"}
    assert httpx.get(f"{base}/v1/jobs/{job_id}", headers=oh).status_code == 404
    assert httpx.get(f"{base}/v1/jobs/{job_id}/output", headers=oh).status_code == 404
    assert httpx.post(f"{base}/v1/jobs/{job_id}/stop", headers=oh).status_code == 404
    assert httpx.post(f"{base}/v1/jobs", headers=oh, json=job_body(team["team_id"])).status_code == 404
    # A worker of another requester's team gets no task of this job and can't answer this worker's task.
    other_team = httpx.post(f"{base}/v1/teams", headers=oh, json={"name": "t"}).json()
    stranger = httpx.post(
        f"{base}/v1/workers", headers=oh, json={"name": "s", "team_ids": [other_team["team_id"]]}
    ).json()
    sh = {"Authorization": f"Bearer {stranger['token']}"}
    r = httpx.post(f"{base}/v1/worker/tasks/next", headers=sh, params={"job_id": job_id})
    assert r.status_code in (403, 404) and error_of(r)["code"], r.text
    assert httpx.post(f"{base}/v1/worker/tasks/next", headers=sh).status_code == 204

    task = httpx.post(f"{base}/v1/worker/tasks/next", headers=wh, params={"job_id": job_id})
    assert task.status_code == 200, task.text
    task_id = task.json()["task_id"]
    r = httpx.post(f"{base}/v1/worker/tasks/{task_id}/answer", headers=sh, json={"label": "cat"})
    assert r.status_code == 404, r.text

    # Invalid label: 400 naming the allowed values; nothing counted.
    r = httpx.post(f"{base}/v1/worker/tasks/{task_id}/answer", headers=wh, json={"label": "horse"})
    assert r.status_code == 400 and "cat" in error_of(r)["message"]
    # Oversized answer payload: 413.
    r = httpx.post(
        f"{base}/v1/worker/tasks/{task_id}/answer",
        headers=wh,
        json={"label": "cat", "payload": {"note": "x" * (1024 * 1024)}},
    )
    assert r.status_code == 413, r.text[:200]
    # Malformed JSON body: 4xx JSON, not 500.
    r = httpx.post(
        f"{base}/v1/worker/tasks/{task_id}/answer",
        headers={**wh, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code in (400, 422) and error_of(r)
    # An expired lease is refused clearly and the object goes back to the pool.
    time.sleep(2.5)
    r = httpx.post(f"{base}/v1/worker/tasks/{task_id}/answer", headers=wh, json={"label": "cat"})
    assert r.status_code == 409 and error_of(r)["code"] == "lease_expired", r.text
    status = api.get(f"/v1/jobs/{job_id}").json()
    assert status["answers"] == 0 and status["counters"]["human_labeled"] == 0
