"""Teams, workers, probes and the OpenAPI document."""

from __future__ import annotations

from fastapi.testclient import TestClient
from gateway_fakes import REQUESTER_KEY, make_job, rpc_error
from grpc import StatusCode
from grpc_health.v1 import health_pb2

from quorum.consolidation.v1 import consolidation_pb2
from quorum.jobs.v1 import jobs_pb2
from quorum.workforce.v1 import workforce_pb2

AUTH = {"Authorization": f"Bearer {REQUESTER_KEY}"}


def test_teams(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    team = workforce_pb2.Team(
        team_id="t-1", owner_id="r-1", name="annotators", created_at_ms=1_790_000_000_000
    )
    fakes.workforce.responses["CreateTeam"] = team
    fakes.workforce.responses["ListTeams"] = workforce_pb2.ListTeamsResponse(teams=[team])
    response = client.post("/v1/teams", json={"name": "annotators"}, headers=AUTH)
    assert response.status_code == 201
    assert response.json() == {
        "team_id": "t-1",
        "name": "annotators",
        "created_at": "2026-09-21T14:13:20.000Z",
    }
    request = fakes.workforce.requests("CreateTeam")[0]
    assert (request.owner_id, request.name) == ("r-1", "annotators")
    response = client.get("/v1/teams", headers=AUTH)
    assert response.json()["count"] == 1 and response.json()["data"][0]["team_id"] == "t-1"


def test_duplicate_team_is_409(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.errors["CreateTeam"] = rpc_error(
        StatusCode.ALREADY_EXISTS, "you already have it", "team_exists"
    )
    response = client.post("/v1/teams", json={"name": "annotators"}, headers=AUTH)
    assert response.status_code == 409 and response.json()["error"]["code"] == "team_exists"


def test_empty_team_name_is_422(client: TestClient) -> None:
    assert client.post("/v1/teams", json={"name": ""}, headers=AUTH).status_code == 422


def test_workers(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    worker = workforce_pb2.Worker(worker_id="w-1", owner_id="r-1", name="Wanda", team_ids=["t-1"])
    fakes.workforce.responses["CreateWorker"] = workforce_pb2.CreateWorkerResponse(worker=worker, token="tok")
    fakes.workforce.responses["ListWorkers"] = workforce_pb2.ListWorkersResponse(workers=[worker])
    response = client.post("/v1/workers", json={"name": "Wanda", "team_ids": ["t-1"]}, headers=AUTH)
    assert response.status_code == 201
    assert response.json()["token"] == "tok" and response.json()["worker"]["team_ids"] == ["t-1"]
    request = fakes.workforce.requests("CreateWorker")[0]
    assert (request.owner_id, request.name, list(request.team_ids)) == ("r-1", "Wanda", ["t-1"])

    response = client.get("/v1/workers?team_id=t-1", headers=AUTH)
    assert response.status_code == 200 and response.json()["count"] == 1
    assert fakes.workforce.requests("ListWorkers")[0].team_id == "t-1"
    client.get("/v1/workers", headers=AUTH)
    assert fakes.workforce.requests("ListWorkers")[1].team_id == ""


def test_team_workers_list_what_accuracy_means_in_the_team_s_jobs(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    team = workforce_pb2.Team(team_id="t-1", owner_id="r-1", name="annotators")
    fakes.workforce.responses["ListTeams"] = workforce_pb2.ListTeamsResponse(teams=[team])
    fakes.jobs.responses["ListJobs"] = jobs_pb2.ListJobsResponse(
        jobs=[make_job("j-1"), make_job("j-2", task_type="bounding-box"), make_job("j-3", team_id="t-2")]
    )
    measures = ["expected accuracy under the worker model", "box reliability"]
    fakes.consolidation.responses["GetTeamWorkerQuality"] = consolidation_pb2.TeamWorkerQualityResponse(
        team_id="t-1",
        method="ds",
        jobs=2,
        accuracy_measures=measures,
        agreement_measures=["share of answers equal to the consolidated label"],
        skipped_job_ids=[],
        workers=[
            consolidation_pb2.TeamWorkerQuality(
                worker_id="w-1", answers=12, jobs=2, accuracy=0.9, agreement_with_consensus=0.8
            ),
            consolidation_pb2.TeamWorkerQuality(
                worker_id="w-2",
                answers=10,
                jobs=1,
                accuracy=0.7,
                agreement_with_consensus=0.6,
                known_answers=4,
                known_accuracy=0.75,
            ),
        ],
    )
    response = client.get("/v1/teams/t-1/workers", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accuracy_measures"] == measures and body["skipped_job_ids"] == []
    assert body["data"] == [
        {"worker_id": "w-1", "answers": 12, "jobs": 2, "accuracy": 0.9, "agreement": 0.8}
        | {"known_answers": 0, "known_accuracy": None},
        {"worker_id": "w-2", "answers": 10, "jobs": 1, "accuracy": 0.7, "agreement": 0.6}
        | {"known_answers": 4, "known_accuracy": 0.75},
    ]
    [request] = fakes.consolidation.requests("GetTeamWorkerQuality")
    assert list(request.job_ids) == ["j-1", "j-2"]


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_every_backend_serves(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["backends"] == {
        "jobs": "SERVING",
        "workforce": "SERVING",
        "consolidation": "SERVING",
    }


def test_readyz_names_the_backends_that_are_not_serving(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.health["workforce"].responses["Check"] = health_pb2.HealthCheckResponse(
        status=health_pb2.HealthCheckResponse.NOT_SERVING
    )
    fakes.health["consolidation"].errors["Check"] = rpc_error(StatusCode.UNAVAILABLE, "refused")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert "workforce (NOT_SERVING)" in body["error"]["message"]
    assert "consolidation (UNAVAILABLE)" in body["error"]["message"]
    assert "jobs" not in body["error"]["message"]


def test_openapi_documents_every_route(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("post", "/v1/requesters"),
        ("post", "/v1/teams"),
        ("get", "/v1/teams"),
        ("post", "/v1/workers"),
        ("get", "/v1/workers"),
        ("post", "/v1/jobs"),
        ("get", "/v1/jobs"),
        ("get", "/v1/jobs/{job_id}"),
        ("post", "/v1/jobs/{job_id}/stop"),
        ("get", "/v1/jobs/{job_id}/output"),
        ("get", "/v1/jobs/{job_id}/answers"),
        ("post", "/v1/worker/tasks/next"),
        ("post", "/v1/worker/tasks/{task_id}/answer"),
        ("post", "/v1/worker/tasks/{task_id}/decline"),
        ("get", "/v1/worker/me"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    }
    assert expected <= {(method, path) for path, ops in paths.items() for method in ops}
    create = paths["/v1/jobs"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobPublic")
    assert "413" in create["responses"] and "204" in paths["/v1/worker/tasks/next"]["post"]["responses"]
    assert {"RequesterKey", "RequesterApiKey", "WorkerToken", "AdminKey"} <= set(
        spec["components"]["securitySchemes"]
    )
    # The task loop reads its header itself (speed) but still documents the scheme.
    for path in (
        "/v1/worker/tasks/next",
        "/v1/worker/tasks/{task_id}/answer",
        "/v1/worker/tasks/{task_id}/decline",
    ):
        assert paths[path]["post"]["security"] == [{"WorkerToken": []}]
    assert {"RequesterKey": []} in paths["/v1/jobs"]["get"]["security"]
    assert paths["/v1/requesters"]["post"]["security"] == [{"AdminKey": []}]
