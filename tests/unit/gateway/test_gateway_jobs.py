"""Jobs: creation (JSON and multipart), listing, stop, body limits, and the streamed exports."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import OTHER_REQUESTER_KEY, REQUESTER_KEY, FakeStreamCall, make_job, rpc_error
from grpc import StatusCode
from structlog.testing import capture_logs

from quorum.common.v1 import common_pb2
from quorum.consolidation.v1 import consolidation_pb2
from quorum.jobs.v1 import jobs_pb2

AUTH = {"Authorization": f"Bearer {REQUESTER_KEY}"}
MANIFEST = '{"source-ref": "file:///data/1.jpg"}\n{"source-ref": "file:///data/2.jpg"}\n'
SPEC = {
    "name": "cats",
    "task_type": "image-classification",
    "categories": ["cat", "dog"],
    "workers_per_object": 3,
    "task_time_limit_s": 120,
    "price_per_task_usd": 0.012,
    "team_id": "t-1",
    "instructions": "Pick the animal.",
}


@pytest.fixture
def jobs(fakes):  # type: ignore[no-untyped-def]
    fakes.jobs.responses["CreateJob"] = lambda request: make_job(
        name=request.name, status="initializing", counters=jobs_pb2.LabelCounters(total=2, unlabeled=2)
    )
    fakes.jobs.responses["GetJob"] = make_job()
    return fakes.jobs


def test_json_job_creation_reaches_the_jobs_service(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/jobs", json={**SPEC, "manifest": MANIFEST, "label_attribute_name": "animal"}, headers=AUTH
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/jobs/j-1"
    body = response.json()
    assert body["job_id"] == "j-1" and body["status"] == "initializing"
    assert body["counters"] == {
        "total": 2,
        "human_labeled": 0,
        "machine_labeled": 0,
        "failed": 0,
        "unlabeled": 2,
    }
    assert body["progress"] == 0.0
    assert body["created_at"] == "2026-09-21T14:13:20.123Z" and body["completed_at"] is None

    [(_, request, timeout)] = [c for c in jobs.calls if c[0] == "CreateJob"]
    assert request.requester_id == "r-1"
    assert request.name == "cats" and request.task_type == "image-classification"
    assert list(request.categories) == ["cat", "dog"]
    assert (request.workers_per_object, request.task_time_limit_s) == (3, 120)
    assert request.price_per_task_usd == pytest.approx(0.012)
    assert request.team_id == "t-1" and request.instructions == "Pick the animal."
    assert request.label_attribute_name == "animal"
    assert request.WhichOneof("manifest") == "manifest_data"
    assert request.manifest_data == MANIFEST.encode()
    assert timeout is not None and timeout >= 60  # job creation gets the long deadline


def test_json_job_creation_with_a_manifest_path(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/jobs", json={**SPEC, "manifest_path": "/data/in.manifest"}, headers=AUTH)
    assert response.status_code == 201
    request = jobs.requests("CreateJob")[0]
    assert request.WhichOneof("manifest") == "manifest_path"
    assert request.manifest_path == "/data/in.manifest"
    assert request.label_attribute_name == ""  # the service defaults it to the name


@pytest.mark.parametrize("extra", [{}, {"manifest": MANIFEST, "manifest_path": "/x"}])
def test_exactly_one_manifest_source(client: TestClient, jobs, extra) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/jobs", json={**SPEC, **extra}, headers=AUTH)
    assert response.status_code == 422
    assert "manifest" in response.json()["error"]["message"]
    assert jobs.requests("CreateJob") == []


def test_unknown_fields_and_bad_types_are_422(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/jobs", json={**SPEC, "manifest": MANIFEST, "workers": 2}, headers=AUTH)
    assert response.status_code == 422 and "workers" in response.json()["error"]["message"]
    response = client.post(
        "/v1/jobs", json={**SPEC, "manifest": MANIFEST, "workers_per_object": "many"}, headers=AUTH
    )
    assert response.status_code == 422 and "workers_per_object" in response.json()["error"]["message"]


def test_malformed_job_json_is_400(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/jobs", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    response = client.post("/v1/jobs", content=b"", headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422


def test_multipart_upload_reaches_the_jobs_service(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    form = {k: str(v) for k, v in SPEC.items() if k != "categories"}
    form["categories"] = ["cat", "dog", "bird"]  # repeated fields
    response = client.post(
        "/v1/jobs",
        data=form,
        files={"manifest": ("in.manifest", MANIFEST.encode(), "application/x-ndjson")},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    request = jobs.requests("CreateJob")[0]
    assert request.manifest_data == MANIFEST.encode()
    assert list(request.categories) == ["cat", "dog", "bird"]
    assert request.workers_per_object == 3 and request.task_time_limit_s == 120
    assert request.price_per_task_usd == pytest.approx(0.012)
    assert request.team_id == "t-1" and request.requester_id == "r-1"


def test_multipart_categories_as_a_json_array(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    form = {"name": "cats", "task_type": "image-classification", "team_id": "t-1", "categories": '["a", "b"]'}
    response = client.post("/v1/jobs", data=form, files={"manifest": ("m", MANIFEST.encode())}, headers=AUTH)
    assert response.status_code == 201, response.text
    assert list(jobs.requests("CreateJob")[0].categories) == ["a", "b"]


def test_known_answer_attribute_goes_through_json_and_multipart(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    jobs.responses["CreateJob"] = make_job(known_answer_attribute="gold-label")
    body = {**SPEC, "manifest": MANIFEST, "known_answer_attribute": "gold-label"}
    response = client.post("/v1/jobs", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["known_answer_attribute"] == "gold-label"
    form = {"name": "cats", "task_type": "image-classification", "team_id": "t-1", "categories": '["a", "b"]'}
    form["known_answer_attribute"] = "gold-label"
    response = client.post("/v1/jobs", data=form, files={"manifest": ("m", MANIFEST.encode())}, headers=AUTH)
    assert response.status_code == 201, response.text
    assert [r.known_answer_attribute for r in jobs.requests("CreateJob")] == ["gold-label", "gold-label"]


def test_multipart_with_a_manifest_path_field(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    form = {"name": "cats", "task_type": "image-classification", "team_id": "t-1", "manifest_path": "/d/m"}
    # A file part forces multipart even though the manifest travels by path.
    response = client.post("/v1/jobs", data=form, files={"unused": ("x", b"")}, headers=AUTH)
    assert response.status_code == 422  # only `manifest` may be a file
    response = client.post(
        "/v1/jobs",
        content=_multipart({**form}),
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 201, response.text
    assert jobs.requests("CreateJob")[0].manifest_path == "/d/m"


def _multipart(fields: dict[str, str]) -> bytes:
    parts = [f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + "--XyZ--\r\n").encode()


def test_multipart_without_a_manifest_is_422(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    body = _multipart({"name": "cats", "task_type": "image-classification", "team_id": "t-1"})
    response = client.post(
        "/v1/jobs", content=body, headers={**AUTH, "Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert response.status_code == 422
    assert "manifest" in response.json()["error"]["message"]


def test_broken_multipart_is_400(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/jobs", content=b"--nope", headers={**AUTH, "Content-Type": "multipart/form-data"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_unsupported_content_type_is_415(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/jobs", content=b"hello", headers={**AUTH, "Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_oversized_manifest_is_413_from_content_length(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    big = '{"source": "' + "x" * 5000 + '"}\n'  # the test limit is 4096 bytes
    response = client.post("/v1/jobs", json={**SPEC, "manifest": big}, headers=AUTH)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "4096" in error["message"] and "MAX_MANIFEST_BYTES" in error["message"]
    assert jobs.requests("CreateJob") == []


def test_oversized_chunked_upload_is_413_while_reading(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    sent = []

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1024

    response = client.post("/v1/jobs", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert "MAX_MANIFEST_BYTES" in response.json()["error"]["message"]
    assert jobs.requests("CreateJob") == []


def test_oversized_multipart_upload_is_413(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/jobs",
        data={"name": "cats", "task_type": "image-classification", "team_id": "t-1"},
        files={"manifest": ("m", b"x" * 10_000)},
        headers=AUTH,
    )
    assert response.status_code == 413


def test_service_validation_errors_pass_through(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    jobs.responses["CreateJob"] = None
    jobs.errors["CreateJob"] = rpc_error(
        StatusCode.INVALID_ARGUMENT, "line 3: neither source nor source-ref", reason="manifest_invalid"
    )
    response = client.post("/v1/jobs", json={**SPEC, "manifest": MANIFEST}, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "manifest_invalid", "message": "line 3: neither source nor source-ref"}
    }


def test_list_get_and_stop(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    done = make_job(
        "j-2",
        status="completed",
        completed_at_ms=1_790_000_100_000,
        counters=jobs_pb2.LabelCounters(total=4, human_labeled=4),
    )
    jobs.responses["ListJobs"] = jobs_pb2.ListJobsResponse(jobs=[make_job(), done], next_page_token="p2")
    response = client.get("/v1/jobs?page_size=2&page_token=p1", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next_page_token"] == "p2"
    assert [job["job_id"] for job in body["data"]] == ["j-1", "j-2"]
    assert body["data"][0]["progress"] == pytest.approx(0.5)  # (3 human + 1 machine + 1 failed) / 10
    assert (
        body["data"][1]["progress"] == 1.0 and body["data"][1]["completed_at"] == "2026-09-21T14:15:00.000Z"
    )
    request = jobs.requests("ListJobs")[0]
    assert (request.requester_id, request.page_size, request.page_token) == ("r-1", 2, "p1")

    response = client.get("/v1/jobs/j-1", headers=AUTH)
    assert response.status_code == 200 and response.json()["cost_usd"] == pytest.approx(0.144)
    assert jobs.requests("GetJob")[0].requester_id == "r-1"

    jobs.responses["StopJob"] = make_job(status="stopping")
    response = client.post("/v1/jobs/j-1/stop", headers=AUTH)
    assert response.status_code == 200 and response.json()["status"] == "stopping"
    assert jobs.requests("StopJob")[0].job_id == "j-1"


def test_someone_elses_job_is_404(client: TestClient, jobs) -> None:  # type: ignore[no-untyped-def]
    jobs.errors["GetJob"] = rpc_error(StatusCode.NOT_FOUND, "job 'j-1' not found", reason="job_not_found")
    response = client.get("/v1/jobs/j-1", headers={"Authorization": f"Bearer {OTHER_REQUESTER_KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"
    assert jobs.requests("GetJob")[0].requester_id == "r-2"


def test_output_manifest_streams_as_ndjson(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    lines = [json.dumps({"source": f"text {i}", "mood": i % 2}) + "\n" for i in range(3)]
    call = FakeStreamCall([jobs_pb2.ManifestChunk(data=line.encode()) for line in lines])
    fakes.jobs.responses["GetOutputManifest"] = call
    response = client.get("/v1/jobs/j-1/output", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert 'filename="output.manifest"' in response.headers["content-disposition"]
    assert response.text == "".join(lines)
    request = fakes.jobs.requests("GetOutputManifest")[0]
    assert (request.job_id, request.requester_id) == ("j-1", "r-1")
    assert request.include_unlabeled is False  # Ground Truth's output unless asked


def test_output_include_unlabeled_is_passed_to_the_jobs_service(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    line = jobs_pb2.ManifestChunk(data=b'{"source":"a"}\n')
    fakes.jobs.responses["GetOutputManifest"] = FakeStreamCall([line])
    response = client.get("/v1/jobs/j-1/output?include_unlabeled=true", headers=AUTH)
    assert response.status_code == 200 and response.text == '{"source":"a"}\n'
    assert fakes.jobs.requests("GetOutputManifest")[0].include_unlabeled is True
    fakes.jobs.responses["GetOutputManifest"] = FakeStreamCall([])
    assert client.get("/v1/jobs/j-1/output?include_unlabeled=maybe", headers=AUTH).status_code == 422


def test_output_errors_before_the_first_chunk_are_proper_http_errors(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetOutputManifest"] = FakeStreamCall(
        [], error=rpc_error(StatusCode.NOT_FOUND, "job 'j-9' not found", reason="job_not_found")
    )
    response = client.get("/v1/jobs/j-9/output", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_empty_output_is_an_empty_200(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetOutputManifest"] = FakeStreamCall([])
    response = client.get("/v1/jobs/j-1/output", headers=AUTH)
    assert response.status_code == 200 and response.content == b""


def test_raw_answers_are_checked_for_ownership_then_streamed(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetJob"] = make_job()
    answers = [
        common_pb2.Answer(
            answer_id="a-1",
            job_id="j-1",
            object_id=0,
            worker_id="w-1",
            label="cat",
            accepted_at_ms=1_790_000_000_000,
            submitted_at_ms=1_790_000_004_250,
            time_spent_s=4.25,
        ),
        common_pb2.Answer(
            answer_id="a-2",
            job_id="j-1",
            object_id=0,
            worker_id="w-2",
            payload_json='{"label": "dog", "note": "x"}',
        ),
    ]
    fakes.workforce.responses["ListAnswers"] = FakeStreamCall(answers)
    response = client.get("/v1/jobs/j-1/answers", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    first, second = [json.loads(line) for line in response.text.splitlines()]
    assert first == {
        "object_id": 0,
        "answerId": "a-1",
        "workerId": "w-1",
        "answerContent": {"label": "cat"},
        "acceptanceTime": "2026-09-21T14:13:20.000Z",
        "submissionTime": "2026-09-21T14:13:24.250Z",
        "timeSpentInSeconds": 4.25,
    }
    assert second["answerContent"] == {"label": "dog", "note": "x"}
    assert fakes.jobs.requests("GetJob")[0].requester_id == "r-1"
    assert fakes.workforce.requests("ListAnswers")[0].job_id == "j-1"


def test_raw_answers_of_someone_elses_job_are_404(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["GetJob"] = rpc_error(
        StatusCode.NOT_FOUND, "job 'j-1' not found", reason="job_not_found"
    )
    response = client.get("/v1/jobs/j-1/answers", headers=AUTH)
    assert response.status_code == 404
    assert fakes.workforce.requests("ListAnswers") == []


def test_output_failing_mid_stream_breaks_the_transfer(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    call = FakeStreamCall(
        [jobs_pb2.ManifestChunk(data=b'{"a": 1}\n')], error=rpc_error(StatusCode.UNAVAILABLE, "gone")
    )
    fakes.jobs.responses["GetOutputManifest"] = call
    # Headers are out: the server drops the connection (see test_gateway_server for what a client sees).
    with capture_logs() as logs:
        client.get("/v1/jobs/j-1/output", headers=AUTH)
    assert call.cancelled
    assert [e["event"] for e in logs] == ["export_interrupted"]  # logged once, no traceback noise


def quality(
    worker_id: str, answers: int, accuracy: float, agreement: float, known: tuple[int, float] = (0, 0.0)
) -> consolidation_pb2.WorkerQuality:
    return consolidation_pb2.WorkerQuality(
        worker_id=worker_id,
        answers=answers,
        accuracy=accuracy,
        confusion=[accuracy, 1 - accuracy, 1 - accuracy, accuracy],
        agreement_with_consensus=agreement,
        known_answers=known[0],
        known_accuracy=known[1],
    )


def test_job_workers_are_checked_for_ownership_then_listed_by_answers(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetJob"] = make_job()
    fakes.consolidation.responses["GetWorkerQuality"] = consolidation_pb2.WorkerQualityResponse(
        job_id="j-1",
        method="ds",
        categories=["cat", "dog"],
        workers=[
            quality("w-few", 2, 0.5, 0.5),
            quality("w-many", 9, 0.75, 0.875, known=(4, 0.75)),
            consolidation_pb2.WorkerQuality(
                worker_id="quorum-model", answers=3, accuracy=0.9, agreement_with_consensus=1.0, machine=True
            ),
        ],
        known_objects=5,
    )
    response = client.get("/v1/jobs/j-1/workers", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "job_id": "j-1",
        "task_type": "image-classification",  # the job's, where consolidation does not say
        "method": "ds",
        "categories": ["cat", "dog"],
        "accuracy_measure": "",
        "agreement_measure": "",
        "known_objects": 5,
        "data": [
            {
                "worker_id": "w-many",
                "answers": 9,
                "accuracy": 0.75,
                "confusion": [[0.75, 0.25], [0.25, 0.75]],
                "agreement": 0.875,
                "known_answers": 4,
                "known_accuracy": 0.75,
                "machine": False,
            },
            {  # the automated-labeling model, one more annotator of the job
                "worker_id": "quorum-model",
                "answers": 3,
                "accuracy": 0.9,
                "confusion": [],
                "agreement": 1.0,
                "known_answers": 0,
                "known_accuracy": None,
                "machine": True,
            },
            {
                "worker_id": "w-few",
                "answers": 2,
                "accuracy": 0.5,
                "confusion": [[0.5, 0.5], [0.5, 0.5]],
                "agreement": 0.5,
                "known_answers": 0,
                "known_accuracy": None,  # answered no known-answer object
                "machine": False,
            },
        ],
        "count": 3,
    }
    assert fakes.jobs.requests("GetJob")[0].requester_id == "r-1"
    [request] = fakes.consolidation.requests("GetWorkerQuality")
    assert (request.job_id, request.method) == ("j-1", "")

    client.get("/v1/jobs/j-1/workers?method=mv", headers=AUTH)
    assert fakes.consolidation.requests("GetWorkerQuality")[1].method == "mv"


def test_job_workers_of_someone_elses_job_are_404(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["GetJob"] = rpc_error(
        StatusCode.NOT_FOUND, "job 'j-1' not found", reason="job_not_found"
    )
    response = client.get("/v1/jobs/j-1/workers", headers={"Authorization": f"Bearer {OTHER_REQUESTER_KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"
    assert fakes.consolidation.requests("GetWorkerQuality") == []


def test_job_workers_of_a_job_without_answers_is_an_empty_list(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetJob"] = make_job()
    fakes.consolidation.errors["GetWorkerQuality"] = rpc_error(
        StatusCode.NOT_FOUND, "no answers recorded for job 'j-1'", reason="job_not_found"
    )
    response = client.get("/v1/jobs/j-1/workers", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "job_id": "j-1",
        "task_type": "image-classification",
        "method": "ds",
        "categories": [],
        "accuracy_measure": "",
        "agreement_measure": "",
        "known_objects": 0,
        "data": [],
        "count": 0,
    }


def test_job_workers_of_a_box_job_say_what_accuracy_means(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetJob"] = make_job(task_type="bounding-box", categories=["car", "bus"])
    measure = "box reliability: mean IoU with the consolidated boxes x sqrt(precision x recall)"
    fakes.consolidation.responses["GetWorkerQuality"] = consolidation_pb2.WorkerQualityResponse(
        job_id="j-1",
        method="bounding-box",
        task_type="bounding-box",
        categories=["car", "bus"],
        accuracy_measure=measure,
        agreement_measure="mean F1 per image against the consolidated boxes",
        workers=[
            consolidation_pb2.WorkerQuality(
                worker_id="w-1", answers=5, accuracy=0.8, agreement_with_consensus=0.9
            )
        ],
    )
    response = client.get("/v1/jobs/j-1/workers", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task_type"] == body["method"] == "bounding-box" and body["accuracy_measure"] == measure
    assert body["data"] == [
        {
            "worker_id": "w-1",
            "answers": 5,
            "accuracy": 0.8,
            "confusion": [],
            "agreement": 0.9,
            "known_answers": 0,
            "known_accuracy": None,
            "machine": False,
        }
    ]


def test_job_workers_whose_answers_cannot_be_scored_are_409(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetJob"] = make_job(task_type="bounding-box")
    fakes.consolidation.errors["GetWorkerQuality"] = rpc_error(
        StatusCode.FAILED_PRECONDITION, "box label 'bus' not in categories", reason="unknown_label"
    )
    response = client.get("/v1/jobs/j-1/workers", headers=AUTH)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "unknown_label"


def test_job_workers_bad_method_is_400(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetJob"] = make_job()
    fakes.consolidation.errors["GetWorkerQuality"] = rpc_error(
        StatusCode.INVALID_ARGUMENT, "unknown consolidation method 'x'", reason="unknown_method"
    )
    response = client.get("/v1/jobs/j-1/workers?method=x", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_method"
