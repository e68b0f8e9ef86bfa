"""The worker task loop: next (200/204), answer, decline, me; answer size limits."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from gateway_fakes import WORKER_TOKEN, FakeStreamCall, rpc_error
from grpc import StatusCode

from quorum.workforce.v1 import workforce_pb2

WORKER = {"Authorization": f"Bearer {WORKER_TOKEN}"}


def test_next_task_is_204_when_there_is_none(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["NextTask"] = workforce_pb2.NextTaskResponse()
    response = client.post("/v1/worker/tasks/next", headers=WORKER)
    assert response.status_code == 204 and response.content == b""
    request = fakes.workforce.requests("NextTask")[0]
    assert (request.worker_id, request.job_id) == ("w-1", "")


def test_next_task_returns_the_leased_task(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["NextTask"] = workforce_pb2.NextTaskResponse(
        task=workforce_pb2.Task(
            task_id="t-77",
            job_id="j-1",
            object_id=4,
            task_type="text-classification",
            source="The food was delicious",
            categories=["positive", "negative"],
            instructions="Mood?",
            job_name="moods",
            lease_expires_at_ms=1_790_000_300_000,
            time_limit_s=300,
            accepted_at_ms=1_790_000_000_000,
        )
    )
    response = client.post("/v1/worker/tasks/next?job_id=j-1", headers=WORKER)
    assert response.status_code == 200
    assert response.json() == {
        "task_id": "t-77",
        "job_id": "j-1",
        "object_id": 4,
        "task_type": "text-classification",
        "source": "The food was delicious",
        "source_ref": None,
        "categories": ["positive", "negative"],
        "instructions": "Mood?",
        "job_name": "moods",
        "expires_at": "2026-09-21T14:18:20.000Z",
        "time_limit_s": 300,
        "color_map": [],
        "previous": None,
        "template": None,
        "input": None,
        "image_url": None,
    }
    assert fakes.workforce.requests("NextTask")[0].job_id == "j-1"


def test_image_task_gets_its_content_url_colour_map_and_previous_label(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    previous = {"task_type": "semantic-segmentation", "label": "/masks/0.png", "metadata": {"type": "x"}}
    fakes.workforce.responses["NextTask"] = workforce_pb2.NextTaskResponse(
        task=workforce_pb2.Task(
            task_id="t-9",
            job_id="j-1",
            task_type="adjustment",
            source_ref="/data/img.png",
            categories=["road", "car"],
            color_map=["#2ca02c", "#1f77b4"],
            previous_json=json.dumps(previous),
            lease_expires_at_ms=1_790_000_300_000,
            time_limit_s=300,
        )
    )
    body = client.post("/v1/worker/tasks/next", headers=WORKER).json()
    assert body["image_url"] == "/v1/worker/tasks/t-9/content"
    assert body["color_map"] == ["#2ca02c", "#1f77b4"]
    # A previous mask is a file: the gateway serves it to the worker holding the task.
    assert body["previous"] == {**previous, "mask_url": "/v1/worker/tasks/t-9/previous-mask"}


def test_task_content_streams_the_image_of_a_held_task(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.streaming.add("GetTaskContent")
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 10
    fakes.workforce.responses["GetTaskContent"] = lambda request: FakeStreamCall(
        [
            workforce_pb2.ContentChunk(data=png[:8], content_type="image/png", size=len(png)),
            workforce_pb2.ContentChunk(data=png[8:]),
        ]
    )
    response = client.get("/v1/worker/tasks/t-9/content", headers=WORKER)
    assert response.status_code == 200
    assert response.content == png
    assert response.headers["content-type"] == "image/png"
    request = fakes.workforce.requests("GetTaskContent")[0]
    assert (request.worker_id, request.task_id, request.previous_mask) == ("w-1", "t-9", False)
    assert client.get("/v1/worker/tasks/t-9/previous-mask", headers=WORKER).content == png
    assert fakes.workforce.requests("GetTaskContent")[1].previous_mask


def test_task_content_of_someone_elses_task_is_refused(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.streaming.add("GetTaskContent")
    fakes.workforce.responses["GetTaskContent"] = lambda request: FakeStreamCall(
        [], rpc_error(StatusCode.PERMISSION_DENIED, "leased to another worker", "task_not_yours")
    )
    response = client.get("/v1/worker/tasks/t-9/content", headers=WORKER)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "task_not_yours"


def test_submit_answer(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["SubmitAnswer"] = workforce_pb2.SubmitAnswerResponse(answer_id="a-1")
    response = client.post("/v1/worker/tasks/t-77/answer", json={"label": "positive"}, headers=WORKER)
    assert response.status_code == 200
    assert response.json() == {"answer_id": "a-1", "duplicate": False}
    request = fakes.workforce.requests("SubmitAnswer")[0]
    assert (request.worker_id, request.task_id, request.label, request.payload_json) == (
        "w-1",
        "t-77",
        "positive",
        "",
    )


def test_submit_answer_with_a_payload_and_a_duplicate(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["SubmitAnswer"] = workforce_pb2.SubmitAnswerResponse(
        answer_id="a-1", duplicate=True
    )
    payload = {"boxes": [{"left": 1, "top": 2, "width": 3, "height": 4, "label": "bird"}]}
    response = client.post("/v1/worker/tasks/t-77/answer", json={"payload": payload}, headers=WORKER)
    assert response.status_code == 200 and response.json()["duplicate"] is True
    assert json.loads(fakes.workforce.requests("SubmitAnswer")[0].payload_json) == payload


def test_empty_answer_is_422(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/worker/tasks/t-77/answer", json={}, headers=WORKER)
    assert response.status_code == 422
    assert "label" in response.json()["error"]["message"]
    assert fakes.workforce.requests("SubmitAnswer") == []


def test_oversized_answer_is_413(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/worker/tasks/t-77/answer", json={"payload": {"x": "y" * 600}}, headers=WORKER)
    assert response.status_code == 413  # the test limit is 512 bytes
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and "MAX_ANSWER_BYTES" in error["message"]
    assert fakes.workforce.requests("SubmitAnswer") == []


def test_expired_lease_is_409_with_its_reason(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.errors["SubmitAnswer"] = rpc_error(
        StatusCode.FAILED_PRECONDITION, "the lease of task t-77 expired", reason="lease_expired"
    )
    response = client.post("/v1/worker/tasks/t-77/answer", json={"label": "x"}, headers=WORKER)
    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "lease_expired", "message": "the lease of task t-77 expired"}
    }


def test_decline(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["DeclineTask"] = workforce_pb2.DeclineTaskResponse()
    response = client.post("/v1/worker/tasks/t-77/decline", headers=WORKER)
    assert response.status_code == 204 and response.content == b""
    request = fakes.workforce.requests("DeclineTask")[0]
    assert (request.worker_id, request.task_id) == ("w-1", "t-77")


def test_me_is_always_fresh(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        response = client.get("/v1/worker/me", headers=WORKER)
        assert response.status_code == 200
    assert response.json() == {
        "worker_id": "w-1",
        "name": "Wanda",
        "team_ids": ["t-1"],
        "answers": 7,
        "created_at": None,
    }
    assert len(fakes.workforce.requests("AuthenticateWorker")) == 2
