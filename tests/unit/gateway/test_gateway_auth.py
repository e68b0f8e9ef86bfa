"""Authentication: admin key, requester API keys, worker tokens, and the token cache."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import ADMIN_KEY, REQUESTER_KEY, WORKER_TOKEN, rpc_error
from grpc import StatusCode
from pydantic import ValidationError

from quorum.jobs.v1 import jobs_pb2
from quorum.workforce.v1 import workforce_pb2
from quorum_gateway import auth
from quorum_gateway.app import create_app
from quorum_gateway.settings import GatewaySettings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(response, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == code


def test_requester_route_without_credentials_is_401(client: TestClient) -> None:
    assert_401(client.get("/v1/jobs"), "unauthenticated")


def test_requester_route_with_a_non_bearer_scheme_is_401(client: TestClient) -> None:
    assert_401(client.get("/v1/jobs", headers={"Authorization": "Basic abc"}), "unauthenticated")


def test_wrong_requester_key_is_401_invalid_api_key(client: TestClient) -> None:
    response = client.get("/v1/teams", headers=bearer("nope"))
    assert_401(response, "invalid_api_key")
    assert "nope" not in response.text


def test_oversized_token_is_refused_without_a_backend_call(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    assert_401(client.get("/v1/teams", headers=bearer("x" * 5000)), "invalid_api_key")
    assert fakes.jobs.requests("AuthenticateRequester") == []


def test_x_api_key_header_is_accepted(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["ListTeams"] = workforce_pb2.ListTeamsResponse()
    response = client.get("/v1/teams", headers={"X-API-Key": REQUESTER_KEY})
    assert response.status_code == 200
    assert fakes.workforce.requests("ListTeams")[0].owner_id == "r-1"


def test_auth_backend_down_is_503_not_401(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.errors["AuthenticateRequester"] = rpc_error(
        StatusCode.UNAVAILABLE, "connect failed 10.0.0.1:5"
    )
    response = client.get("/v1/teams", headers=bearer(REQUESTER_KEY))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert "10.0.0.1" not in response.text


def test_admin_route_needs_the_admin_key(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["CreateRequester"] = jobs_pb2.CreateRequesterResponse(
        requester=jobs_pb2.Requester(requester_id="r-9", name="Zed"), api_key="k-9"
    )
    assert_401(client.post("/v1/requesters", json={"name": "Zed"}), "unauthenticated")
    # A requester's key is not the admin key.
    assert_401(
        client.post("/v1/requesters", json={"name": "Zed"}, headers=bearer(REQUESTER_KEY)), "invalid_api_key"
    )
    assert fakes.jobs.requests("CreateRequester") == []

    response = client.post("/v1/requesters", json={"name": "Zed"}, headers=bearer(ADMIN_KEY))
    assert response.status_code == 201
    assert response.json() == {"requester_id": "r-9", "name": "Zed", "api_key": "k-9"}
    assert fakes.jobs.requests("CreateRequester")[0].name == "Zed"


def test_admin_key_is_not_a_requester_key(client: TestClient) -> None:
    assert_401(client.get("/v1/jobs", headers=bearer(ADMIN_KEY)), "invalid_api_key")


def test_worker_routes_need_a_valid_worker_token(client: TestClient) -> None:
    assert_401(client.post("/v1/worker/tasks/next"), "unauthenticated")
    assert_401(client.post("/v1/worker/tasks/next", headers=bearer("bad")), "invalid_token")
    assert_401(
        client.post("/v1/worker/tasks/t-1/answer", json={"label": "cat"}, headers=bearer("bad")),
        "invalid_token",
    )
    # A requester key is not a worker token.
    assert_401(client.get("/v1/worker/me", headers=bearer(REQUESTER_KEY)), "invalid_token")


def test_worker_header_parsing(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["NextTask"] = workforce_pb2.NextTaskResponse()
    ok = {"Authorization": f"bearer  {WORKER_TOKEN}"}  # the scheme is case-insensitive
    assert client.post("/v1/worker/tasks/next", headers=ok).status_code == 204
    assert_401(client.post("/v1/worker/tasks/next", headers={"Authorization": "Bearer "}), "unauthenticated")
    assert_401(
        client.post("/v1/worker/tasks/next", headers={"Authorization": WORKER_TOKEN}), "unauthenticated"
    )
    assert_401(client.post("/v1/worker/tasks/next", headers=bearer("x" * 600)), "invalid_token")


def test_backend_unauthenticated_on_a_normal_call_is_401(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.errors["ListTeams"] = rpc_error(StatusCode.UNAUTHENTICATED, "revoked", "key_revoked")
    assert_401(client.get("/v1/teams", headers=bearer(REQUESTER_KEY)), "key_revoked")


def test_successful_lookups_are_cached(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["NextTask"] = workforce_pb2.NextTaskResponse()
    fakes.workforce.responses["ListTeams"] = workforce_pb2.ListTeamsResponse()
    for _ in range(3):
        assert client.post("/v1/worker/tasks/next", headers=bearer(WORKER_TOKEN)).status_code == 204
        assert client.get("/v1/teams", headers=bearer(REQUESTER_KEY)).status_code == 200
    assert len(fakes.workforce.requests("AuthenticateWorker")) == 1
    assert len(fakes.jobs.requests("AuthenticateRequester")) == 1


def test_failed_lookups_are_not_cached(client: TestClient, fakes) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        client.get("/v1/teams", headers=bearer("wrong"))
    assert len(fakes.jobs.requests("AuthenticateRequester")) == 2


def test_cache_disabled_with_zero_ttl(settings: GatewaySettings, clients, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.workforce.responses["NextTask"] = workforce_pb2.NextTaskResponse()
    app = create_app(settings.model_copy(update={"auth_cache_ttl_s": 0}), clients=clients)
    with TestClient(app) as client:
        for _ in range(2):
            client.post("/v1/worker/tasks/next", headers=bearer(WORKER_TOKEN))
    assert len(fakes.workforce.requests("AuthenticateWorker")) == 2


def test_ttl_cache_expires_and_evicts_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    cache: auth.TtlCache[str] = auth.TtlCache(ttl_s=30, max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")  # evicts b
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    now[0] += 31
    assert cache.get("a") is None and len(cache) == 1


def test_cache_keys_hold_no_raw_token() -> None:
    key = auth.token_key("worker", "super-secret")
    assert "super-secret" not in key and key.startswith("worker:")


def test_settings_refuse_the_placeholder_and_require_the_admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"jobs_addr": "a:1", "workforce_addr": "b:1", "consolidation_addr": "c:1"}
    monkeypatch.delenv("ADMIN_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="admin_api_key"):
        GatewaySettings(**base)
    with pytest.raises(ValidationError, match="placeholder"):
        GatewaySettings(**base, admin_api_key="changethis")
    monkeypatch.setenv("ADMIN_API_KEY", "s3cret")
    monkeypatch.setenv("JOBS_ADDR", "jobs:50051")
    loaded = GatewaySettings(workforce_addr="b:1", consolidation_addr="c:1")
    assert loaded.jobs_addr == "jobs:50051" and loaded.port == 8080
    assert loaded.max_manifest_bytes == 100 * 1024 * 1024 and loaded.max_answer_bytes == 256 * 1024
    assert "s3cret" not in repr(loaded)
