"""Fake gRPC stubs for the gateway's unit tests: they record calls and answer what a test sets up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc

from quorum.jobs.v1 import jobs_pb2
from quorum_common.errors import REASON_METADATA_KEY

ADMIN_KEY = "admin-secret-key"
REQUESTER_KEY = "req-key-1"
OTHER_REQUESTER_KEY = "req-key-2"
WORKER_TOKEN = "worker-token-1"


def rpc_error(code: grpc.StatusCode, details: str = "", reason: str | None = None) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata((REASON_METADATA_KEY, reason)) if reason else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


class FakeStreamCall:
    """What a unary-stream stub call returns: async-iterable, cancellable; may fail after some items."""

    def __init__(self, items: Iterable[Any], error: BaseException | None = None) -> None:
        self.items = list(items)
        self.error = error
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        for item in self.items:
            yield item
        if self.error is not None:
            raise self.error

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class FakeStub:
    """Any CamelCase attribute is an RPC. `responses[name]` is a value or a callable(request) -> value;
    `errors[name]` is raised instead. Streaming RPCs (`streaming`) return a FakeStreamCall."""

    def __init__(self, streaming: Iterable[str] = ()) -> None:
        self.calls: list[tuple[str, Any, float | None]] = []
        self.responses: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.streaming = set(streaming)

    def requests(self, name: str) -> list[Any]:
        return [request for method, request, _ in self.calls if method == name]

    def _answer(self, name: str, request: Any) -> Any:
        if name in self.errors:
            raise self.errors[name]
        response = self.responses[name]
        return response(request) if callable(response) else response

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name[:1].isupper():
            raise AttributeError(name)
        if name in self.streaming:

            def stream_call(request: Any, timeout: float | None = None, **_: Any) -> Any:
                self.calls.append((name, request, timeout))
                return self._answer(name, request)

            return stream_call

        async def unary_call(request: Any, timeout: float | None = None, **_: Any) -> Any:
            self.calls.append((name, request, timeout))
            return self._answer(name, request)

        return unary_call


def authenticate_requester(request: jobs_pb2.AuthenticateRequesterRequest) -> jobs_pb2.Requester:
    known = {REQUESTER_KEY: ("r-1", "Ada"), OTHER_REQUESTER_KEY: ("r-2", "Bob")}
    if request.api_key not in known:
        raise rpc_error(grpc.StatusCode.UNAUTHENTICATED, "the API key is not valid", "invalid_api_key")
    requester_id, name = known[request.api_key]
    return jobs_pb2.Requester(requester_id=requester_id, name=name)


def make_job(job_id: str = "j-1", **overrides: Any) -> jobs_pb2.Job:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "requester_id": "r-1",
        "name": "cats",
        "task_type": "image-classification",
        "label_attribute_name": "cats",
        "categories": ["cat", "dog"],
        "workers_per_object": 3,
        "task_time_limit_s": 300,
        "price_per_task_usd": 0.012,
        "team_id": "t-1",
        "status": "in_progress",
        "counters": jobs_pb2.LabelCounters(
            total=10, human_labeled=3, machine_labeled=1, failed=1, unlabeled=5
        ),
        "answers": 12,
        "cost_usd": 0.144,
        "created_at_ms": 1_790_000_000_123,
    }
    fields.update(overrides)
    return jobs_pb2.Job(**fields)
