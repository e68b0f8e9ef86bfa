"""The gateway app over fake backends (the real services have their own tests and the e2e suite)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import ADMIN_KEY, WORKER_TOKEN, FakeStub, authenticate_requester, rpc_error
from grpc import StatusCode
from grpc_health.v1 import health_pb2

from quorum.workforce.v1 import workforce_pb2
from quorum_gateway.app import create_app
from quorum_gateway.clients import GrpcClients
from quorum_gateway.settings import GatewaySettings


def authenticate_worker(request: workforce_pb2.AuthenticateWorkerRequest) -> workforce_pb2.Worker:
    if request.token != WORKER_TOKEN:
        raise rpc_error(StatusCode.UNAUTHENTICATED, "the worker token is not valid", "invalid_token")
    return workforce_pb2.Worker(worker_id="w-1", owner_id="r-1", name="Wanda", team_ids=["t-1"], answers=7)


@pytest.fixture
def settings() -> GatewaySettings:
    return GatewaySettings(
        jobs_addr="127.0.0.1:1",
        workforce_addr="127.0.0.1:2",
        consolidation_addr="127.0.0.1:3",
        admin_api_key=ADMIN_KEY,
        max_manifest_bytes=4096,
        max_answer_bytes=512,
    )


@pytest.fixture
def fakes() -> SimpleNamespace:
    jobs = FakeStub(streaming={"GetOutputManifest"})
    jobs.responses["AuthenticateRequester"] = authenticate_requester
    workforce = FakeStub(streaming={"ListAnswers"})
    workforce.responses["AuthenticateWorker"] = authenticate_worker
    health = {name: FakeStub() for name in ("jobs", "workforce", "consolidation")}
    for stub in health.values():
        stub.responses["Check"] = health_pb2.HealthCheckResponse(
            status=health_pb2.HealthCheckResponse.SERVING
        )
    return SimpleNamespace(jobs=jobs, workforce=workforce, consolidation=FakeStub(), health=health)


@pytest.fixture
def clients(fakes: SimpleNamespace) -> GrpcClients:
    return GrpcClients(
        jobs=fakes.jobs, workforce=fakes.workforce, consolidation=fakes.consolidation, health=fakes.health
    )


@pytest.fixture
def client(settings: GatewaySettings, clients: GrpcClients) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clients=clients), raise_server_exceptions=False) as test_client:
        yield test_client
