"""Error mapping: every gRPC status to HTTP with one JSON shape; malformed input; unexpected failures."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import REQUESTER_KEY, WORKER_TOKEN, rpc_error
from grpc import StatusCode
from structlog.testing import capture_logs

from quorum_gateway.errors import GRPC_TO_HTTP

AUTH = {"Authorization": f"Bearer {REQUESTER_KEY}"}
WORKER = {"Authorization": f"Bearer {WORKER_TOKEN}"}


@pytest.mark.parametrize(
    ("status", "http_status", "default_code"),
    [
        (StatusCode.INVALID_ARGUMENT, 400, "invalid_argument"),
        (StatusCode.UNAUTHENTICATED, 401, "unauthenticated"),
        (StatusCode.PERMISSION_DENIED, 403, "permission_denied"),
        (StatusCode.NOT_FOUND, 404, "not_found"),
        (StatusCode.ALREADY_EXISTS, 409, "already_exists"),
        (StatusCode.FAILED_PRECONDITION, 409, "failed_precondition"),
        (StatusCode.RESOURCE_EXHAUSTED, 429, "resource_exhausted"),
        (StatusCode.UNAVAILABLE, 503, "unavailable"),
        (StatusCode.DEADLINE_EXCEEDED, 503, "deadline_exceeded"),
    ],
)
def test_status_codes_map_to_http_with_the_domain_reason(
    client: TestClient, fakes, status: StatusCode, http_status: int, default_code: str
) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["GetJob"] = rpc_error(status, "job j-1 is stopped", reason="some_reason")
    response = client.get("/v1/jobs/j-1", headers=AUTH)
    assert response.status_code == http_status
    assert response.json() == {"error": {"code": "some_reason", "message": "job j-1 is stopped"}}
    assert response.headers["content-type"] == "application/json"

    # Without trailing metadata the status's default reason is used.
    fakes.jobs.errors["GetJob"] = rpc_error(status, "whatever")
    body = client.get("/v1/jobs/j-1", headers=AUTH).json()
    assert body["error"]["code"] == default_code
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}


def test_the_table_covers_the_documented_codes() -> None:
    assert GRPC_TO_HTTP[StatusCode.INVALID_ARGUMENT][0] == 400
    assert GRPC_TO_HTTP[StatusCode.FAILED_PRECONDITION][0] == 409
    assert GRPC_TO_HTTP[StatusCode.RESOURCE_EXHAUSTED][0] == 429


def test_unavailable_hides_transport_details_and_asks_to_retry(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["GetJob"] = rpc_error(
        StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: ipv4:10.1.2.3:50051"
    )
    response = client.get("/v1/jobs/j-1", headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "10.1.2.3" not in response.text


@pytest.mark.parametrize("status", [StatusCode.INTERNAL, StatusCode.UNKNOWN, StatusCode.DATA_LOSS])
def test_backend_internal_errors_are_500_without_details(client: TestClient, fakes, status) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["GetJob"] = rpc_error(status, "Exception calling application: KeyError('password')")
    response = client.get("/v1/jobs/j-1", headers=AUTH)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal" and error["message"].startswith("internal error (id ")
    assert "password" not in response.text


def test_unexpected_exception_is_500_json_without_traceback(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["GetJob"] = RuntimeError("db password is hunter2")
    with capture_logs() as logs:
        response = client.get("/v1/jobs/j-1", headers=AUTH)
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal"
    assert body["error"]["message"].startswith("internal error (id ")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    # The traceback goes to the logs, under the id the client was given.
    [entry] = [e for e in logs if e["event"] == "request_failed"]
    assert entry["error_id"] in body["error"]["message"] and entry["exc_info"] is True


def test_unexpected_exception_in_auth_is_500_json(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.errors["AuthenticateWorker"] = ValueError("boom")
    with capture_logs():
        response = client.post("/v1/worker/tasks/next", headers=WORKER)
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal"


def test_malformed_json_is_400_not_500(client: TestClient) -> None:
    response = client.post(
        "/v1/worker/tasks/t-1/answer",
        content=b'{"label": ',
        headers={**WORKER, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_non_utf8_body_is_a_clear_4xx(client: TestClient) -> None:
    for path, headers in (("/v1/worker/tasks/t-1/answer", WORKER), ("/v1/teams", AUTH), ("/v1/jobs", AUTH)):
        response = client.post(
            path, content=b'{"label": "\xff\xfe"}', headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), (path, response.text)
        error = response.json()["error"]
        assert error["code"] in ("invalid_json", "invalid_body", "validation_error")
        assert error["message"]


def test_wrong_types_are_422_naming_the_field(client: TestClient) -> None:
    response = client.post("/v1/worker/tasks/t-1/answer", json={"label": ["cat"]}, headers=WORKER)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "label" in error["message"]


def test_non_json_content_type_is_422(client: TestClient) -> None:
    response = client.post(
        "/v1/teams", content=b"name=x", headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "no such route: GET /v1/nothing"}
    response = client.delete("/v1/teams")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_query_validation_is_422(client: TestClient) -> None:
    response = client.get("/v1/jobs?page_size=0", headers=AUTH)
    assert response.status_code == 422
    assert "page_size" in response.json()["error"]["message"]
