"""gRPC server lifecycle shared by every service.

`GrpcService` builds an unstarted `grpc.aio` server (so tests can bind port 0), registers health and
reflection, maps `QuorumError` to status codes in one interceptor, runs the service's background tasks
(outbox relay, consumers, sweepers) and shuts down in order on SIGTERM/SIGINT: health goes NOT_SERVING
first so probes drain traffic, in-flight calls get `grace_period_s`, then tasks and pools close.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Histogram, start_http_server

from quorum_common.errors import REASON_METADATA_KEY, QuorumError
from quorum_common.logging import get_logger

log = get_logger(__name__)

RPC_SECONDS = Histogram(
    "quorum_grpc_server_handling_seconds", "gRPC calls handled, by method and status code", ["method", "code"]
)

Registrar = Callable[[grpc.aio.Server], None]
BackgroundTask = Callable[[], Awaitable[None]]
Cleanup = Callable[[], Awaitable[None]]


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        code = "OK"
        try:
            return await behavior(request, context)
        except QuorumError as err:
            code = err.status.name
            await _abort(context, err, method)
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except grpc.aio.AbortError:
            code = "ABORTED_BY_HANDLER"
            raise
        except Exception:
            code = "INTERNAL"
            error_id = uuid.uuid4().hex[:12]
            log.exception("rpc_failed", method=method, error_id=error_id)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (id {error_id})")
        finally:
            RPC_SECONDS.labels(method, code).observe(time.perf_counter() - started)

    return wrapper


def _wrap_stream(behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async for item in behavior(request, context):
                yield item
        except QuorumError as err:
            await _abort(context, err, method)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("rpc_failed", method=method, error_id=error_id)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (id {error_id})")

    return wrapper


async def _abort(context: grpc.aio.ServicerContext, err: QuorumError, method: str) -> None:
    log.info("rpc_rejected", method=method, status=err.status.name, reason=err.reason, detail=err.message)
    await context.abort(err.status, err.message, trailing_metadata=((REASON_METADATA_KEY, err.reason),))


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Domain errors become status codes; anything unexpected becomes INTERNAL (traceback to logs only)."""

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


@dataclass
class GrpcService:
    """One service process: a gRPC server plus the background tasks it owns."""

    name: str
    service_names: Sequence[str]
    registrars: Sequence[Registrar]
    host: str = "127.0.0.1"
    port: int = 0
    grace_period_s: float = 10.0
    max_concurrent_rpcs: int = 1000
    max_message_bytes: int = 64 * 1024 * 1024
    background: Sequence[BackgroundTask] = ()
    cleanups: Sequence[Cleanup] = ()
    readiness: Callable[[], Awaitable[bool]] | None = None
    metrics_port: int = 0
    health: health.aio.HealthServicer = field(default_factory=health.aio.HealthServicer)
    bound_port: int = 0
    _server: grpc.aio.Server | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def build(self) -> grpc.aio.Server:
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(
            interceptors=[ErrorMappingInterceptor()],
            options=options,
            maximum_concurrent_rpcs=self.max_concurrent_rpcs,
        )
        for register in self.registrars:
            register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        self.bound_port = server.add_insecure_port(f"{self.host}:{self.port}")
        if self.bound_port == 0:
            raise RuntimeError(f"could not bind {self.host}:{self.port}")
        self._server = server
        return server

    async def _set_health(self, status: int) -> None:
        await self.health.set("", status)
        for service_name in self.service_names:
            await self.health.set(service_name, status)

    async def _watch_readiness(self) -> None:
        """SERVING only while dependencies answer (cartservice's Ping pattern)."""
        assert self.readiness is not None
        current: int | None = None
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel stop() sends.
                async with asyncio.timeout(5):
                    ok = await self.readiness()
            except Exception:  # a dependency that errors (or times out) is a dependency that is down
                ok = False
            status = (
                health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            if status != current:
                log.info("health", serving=ok)
                await self._set_health(status)
                current = status
            await asyncio.sleep(2)

    async def start(self) -> None:
        server = self._server or self.build()
        await server.start()
        if self.metrics_port:
            start_http_server(self.metrics_port, addr=self.host)
        for task in self.background:
            self._tasks.append(asyncio.create_task(_supervised(task), name=getattr(task, "__name__", "task")))
        if self.readiness is not None:
            self._tasks.append(asyncio.create_task(self._watch_readiness(), name="readiness"))
        else:
            await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("started", port=self.bound_port)

    async def stop(self) -> None:
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if self._server is not None:
            await self._server.stop(self.grace_period_s)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A client library that swallows a cancel must not hang shutdown: give tasks a bounded time.
            _done, pending = await asyncio.wait(self._tasks, timeout=5)
            for task in pending:
                log.warning("task_did_not_stop", task=task.get_name())
        for cleanup in self.cleanups:
            with contextlib.suppress(Exception):
                await cleanup()
        log.info("stopped")

    async def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_event.set)
        await self.start()
        print(f"{self.name} listening on {self.host}:{self.bound_port}", flush=True)  # noqa: T201 - readiness line for supervisors
        await stop_event.wait()
        log.info("shutting_down", grace_period_s=self.grace_period_s)
        await self.stop()


async def _supervised(task: BackgroundTask) -> None:
    """Keep a background loop alive: log and restart it after an unexpected error."""
    name = getattr(task, "__qualname__", repr(task))
    while True:
        try:
            await task()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_task_crashed", task=name)
            await asyncio.sleep(1)
