"""The CLI's client against the real gateway app (fake gRPC backends): the two sides agree on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from quorum.jobs.v1 import jobs_pb2
from quorum_cli import commands_common
from quorum_cli.client import QuorumClient
from quorum_cli.main import app
from quorum_common.errors import REASON_METADATA_KEY
from quorum_gateway.app import create_app
from quorum_gateway.clients import GrpcClients
from quorum_gateway.settings import GatewaySettings

runner = CliRunner()
KEY = ["--api", "http://testserver", "--api-key", "good-key"]


class Stream:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    async def _iterate(self) -> Any:
        for item in self.items:
            yield item

    def __aiter__(self) -> Any:
        return self._iterate()

    def cancel(self) -> None:
        pass


class FakeJobs:
    def __init__(self) -> None:
        self.created: list[jobs_pb2.CreateJobRequest] = []

    async def AuthenticateRequester(self, request: Any, timeout: float | None = None) -> jobs_pb2.Requester:  # noqa: N802
        if request.api_key != "good-key":
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAUTHENTICATED, grpc.aio.Metadata(), grpc.aio.Metadata()
            )
        return jobs_pb2.Requester(requester_id="r-1", name="Ada")

    async def CreateJob(self, request: Any, timeout: float | None = None) -> jobs_pb2.Job:  # noqa: N802
        self.created.append(request)
        return jobs_pb2.Job(
            job_id="j-1", name=request.name, status="initializing", categories=request.categories
        )

    async def GetJob(self, request: Any, timeout: float | None = None) -> jobs_pb2.Job:  # noqa: N802
        if request.job_id != "j-1":
            trailing = grpc.aio.Metadata((REASON_METADATA_KEY, "job_not_found"))
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.NOT_FOUND, grpc.aio.Metadata(), trailing, f"job {request.job_id!r} not found"
            )
        counters = jobs_pb2.LabelCounters(total=4, human_labeled=2, unlabeled=2)
        return jobs_pb2.Job(job_id="j-1", name="cats", status="in_progress", counters=counters, answers=6)

    def GetOutputManifest(self, request: Any, timeout: float | None = None) -> Stream:  # noqa: N802
        return Stream([jobs_pb2.ManifestChunk(data=b'{"source": "a"}\n'), jobs_pb2.ManifestChunk(data=b"")])


class GatewayTransport(httpx.BaseTransport):
    """The CLI's httpx client speaking to the ASGI app through Starlette's TestClient (which may be built on
    another httpx package, httpx2, when that is installed: so requests and responses are copied across)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers, body = list(request.headers.multi_items()), request.read()
        response = self.client.request(request.method, str(request.url), headers=headers, content=body)
        return httpx.Response(
            response.status_code, headers=list(response.headers.multi_items()), content=response.content
        )


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeJobs]:
    fake = FakeJobs()
    settings = GatewaySettings(
        jobs_addr="x:1", workforce_addr="x:1", consolidation_addr="x:1", admin_api_key="admin"
    )
    clients = GrpcClients(jobs=fake, workforce=None, consolidation=None)
    with TestClient(create_app(settings, clients=clients)) as test_client:
        transport = GatewayTransport(test_client)

        def factory(api_url: str, api_key: str | None = None, **_: Any) -> QuorumClient:
            return QuorumClient(api_url, api_key, transport=transport)

        monkeypatch.setattr(commands_common, "client_factory", factory)
        monkeypatch.chdir(tmp_path)
        yield fake


def test_job_create_upload_is_understood_by_the_gateway(jobs: FakeJobs, tmp_path: Path) -> None:
    manifest = tmp_path / "in.manifest"
    manifest.write_bytes(b'{"source": "good"}\n{"source": "bad"}\n')
    result = runner.invoke(
        app,
        [
            "job", "create", "--name", "moods", "--task-type", "text-classification", "--team", "t-1",
            "--categories", "pos,neg", "--workers-per-object", "5", "--time-limit", "90", "--price", "0.05",
            "--manifest", str(manifest), "--label-attribute-name", "mood",
            "--known-answer-attribute", "gold-label", *KEY,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [request] = jobs.created
    assert request.known_answer_attribute == "gold-label"
    assert request.manifest_data == manifest.read_bytes()
    assert list(request.categories) == ["pos", "neg"]
    assert (request.workers_per_object, request.task_time_limit_s) == (5, 90)
    assert request.price_per_task_usd == pytest.approx(0.05)
    assert (request.team_id, request.label_attribute_name, request.requester_id) == ("t-1", "mood", "r-1")


def test_status_and_errors_through_the_gateway(jobs: FakeJobs) -> None:
    result = runner.invoke(app, ["job", "status", "j-1", *KEY])
    assert result.exit_code == 0, result.output
    assert "50.0% of 4 objects" in result.output

    result = runner.invoke(app, ["job", "status", "j-404", *KEY])
    assert result.exit_code == 1
    assert "job_not_found" in result.output and "job 'j-404' not found" in result.output

    result = runner.invoke(app, ["job", "status", "j-1", "--api", "http://testserver", "--api-key", "bad"])
    assert result.exit_code == 1 and "invalid_api_key" in result.output


def test_output_download_through_the_gateway(jobs: FakeJobs, tmp_path: Path) -> None:
    result = runner.invoke(app, ["job", "output", "j-1", "-o", "output.manifest", *KEY])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "output.manifest").read_bytes() == b'{"source": "a"}\n'
