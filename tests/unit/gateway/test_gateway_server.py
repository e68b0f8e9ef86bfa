"""The gateway as a real HTTP server: `python -m quorum_gateway`, and what a client sees on the wire."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from gateway_fakes import REQUESTER_KEY, FakeStreamCall, rpc_error
from grpc import StatusCode

from quorum.jobs.v1 import jobs_pb2
from quorum_gateway.app import create_app
from quorum_gateway.clients import GrpcClients
from quorum_gateway.settings import GatewaySettings

REPO = Path(__file__).resolve().parents[3]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_API_KEY", "PORT", "HOST")}
    env.update(
        JOBS_ADDR="127.0.0.1:1",
        WORKFORCE_ADDR="127.0.0.1:1",
        CONSOLIDATION_ADDR="127.0.0.1:1",
        PORT="0",
        LOG_JSON="true",
        GRPC_DEADLINE_S="2",
        **extra,
    )
    return env


def test_main_serves_and_reports_unready_backends() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "quorum_gateway"],
        env=_env(ADMIN_API_KEY="k"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("gateway listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
        # Nothing listens on the backends: a request needing auth is 503, never 401 or 500.
        response = httpx.get(f"{url}/v1/jobs", headers={"Authorization": "Bearer x"}, timeout=10)
        assert response.status_code == 503, response.text
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_main_refuses_to_start_without_an_admin_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "quorum_gateway"],
        env=_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ADMIN_API_KEY" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def served(settings: GatewaySettings, clients: GrpcClients) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, clients=clients), log_config=None, loop="asyncio")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_an_export_failing_mid_stream_is_an_incomplete_response(served: str, fakes) -> None:  # type: ignore[no-untyped-def]
    fakes.jobs.responses["GetOutputManifest"] = FakeStreamCall(
        [jobs_pb2.ManifestChunk(data=b"x" * 100_000)], error=rpc_error(StatusCode.UNAVAILABLE, "gone")
    )
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{served}/v1/jobs/j-1/output", headers={"Authorization": f"Bearer {REQUESTER_KEY}"})


def test_oversized_upload_is_refused_before_it_is_read(served: str, fakes) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{served}/v1/jobs",
        content=b"x" * 1_000_000,
        headers={"Authorization": f"Bearer {REQUESTER_KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert fakes.jobs.requests("CreateJob") == []


def _raw_post(served: str, head: str, body: bytes) -> bytes:
    """Sends a whole request at once, lets the server answer and close, then reads everything it sent."""
    url = urlsplit(served)
    request = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {REQUESTER_KEY}\r\n"
        f"Content-Type: application/json\r\n{head}\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request + body)
        time.sleep(0.5)  # the server has answered and closed by now
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


# A server that closes a socket holding unread upload bytes sends a TCP reset, which destroys its own 413 in
# the client's buffers (the client sees "connection reset"). The gateway reads the refused body away first.
def test_a_refused_declared_length_upload_is_answered_not_reset(served: str, fakes) -> None:  # type: ignore[no-untyped-def]
    received = _raw_post(served, "Content-Length: 1000000\r\n", b"x" * 1_000_000)
    assert received.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"payload_too_large" in received and b"MAX_MANIFEST_BYTES" in received
    assert fakes.jobs.requests("CreateJob") == []


def test_a_refused_chunked_upload_is_answered_not_reset(served: str, fakes) -> None:  # type: ignore[no-untyped-def]
    chunk = b"x" * 8192
    body = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 100 + b"0\r\n\r\n"
    received = _raw_post(served, "Transfer-Encoding: chunked\r\n", body)
    assert received.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"payload_too_large" in received
    assert fakes.jobs.requests("CreateJob") == []


def test_a_client_expecting_100_continue_is_refused_before_it_sends_the_body(served: str, fakes) -> None:  # type: ignore[no-untyped-def]
    url = urlsplit(served)
    request = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {REQUESTER_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)  # headers only: the body waits for "100 Continue", which must not come
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"payload_too_large" in received
