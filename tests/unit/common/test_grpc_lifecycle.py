"""Shared gRPC lifecycle: health flips to NOT_SERVING first, in-flight calls drain, errors map to codes."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_common.errors import REASON_METADATA_KEY, InvalidArgument, reason_from_rpc_error
from quorum_common.grpc_server import GrpcService

SERVICE = inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name


class SlowServicer(inference_pb2_grpc.InferenceServiceServicer):
    """Answers after `delay_s`; raises a domain error or a bug on request."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.fail: Exception | None = None
        self.started = asyncio.Event()

    async def GetBackendInfo(self, request, context):  # noqa: ANN001, ANN201, N802
        self.started.set()
        await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        return inference_pb2.BackendInfo(backend="test", device="cpu")


async def _service(servicer: SlowServicer, grace_s: float = 5.0) -> GrpcService:
    service = GrpcService(
        name="test",
        service_names=[SERVICE],
        registrars=[lambda s: inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, s)],
        grace_period_s=grace_s,
    )
    await service.start()
    return service


async def test_sigterm_path_flips_health_then_drains_in_flight_calls() -> None:
    servicer = SlowServicer()
    service = await _service(servicer)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        stub = inference_pb2_grpc.InferenceServiceStub(channel)
        assert (await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))).status == 1  # SERVING

        servicer.delay_s = 1.0
        in_flight = asyncio.ensure_future(stub.GetBackendInfo(inference_pb2.GetBackendInfoRequest()))
        await servicer.started.wait()
        stopping = asyncio.create_task(service.stop())
        await asyncio.sleep(0.2)
        # Health went NOT_SERVING before the server stopped taking calls (probes drain traffic first).
        assert service.health._server_status[SERVICE] == health_pb2.HealthCheckResponse.NOT_SERVING  # noqa: SLF001
        reply = await in_flight  # the in-flight call completes within the grace period
        assert reply.backend == "test"
        await stopping
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetBackendInfo(inference_pb2.GetBackendInfoRequest(), timeout=1)
        assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_domain_errors_map_to_status_and_reason_and_bugs_to_internal() -> None:
    servicer = SlowServicer()
    service = await _service(servicer)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
            stub = inference_pb2_grpc.InferenceServiceStub(channel)
            servicer.fail = InvalidArgument("categories: need at least 2", reason="invalid_job_spec")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetBackendInfo(inference_pb2.GetBackendInfoRequest())
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.details() == "categories: need at least 2"
            assert reason_from_rpc_error(err.value) == "invalid_job_spec"
            assert (REASON_METADATA_KEY, "invalid_job_spec") in tuple(err.value.trailing_metadata() or ())

            servicer.fail = KeyError("secret internals")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetBackendInfo(inference_pb2.GetBackendInfoRequest())
            assert err.value.code() == grpc.StatusCode.INTERNAL
            assert "secret" not in (err.value.details() or "") and "internal error" in (
                err.value.details() or ""
            )
    finally:
        await service.stop()


async def test_readiness_reports_not_serving_while_a_dependency_is_down() -> None:
    up = asyncio.Event()

    async def ready() -> bool:
        return up.is_set()

    service = GrpcService(
        name="t", service_names=[SERVICE], registrars=[], readiness=ready, grace_period_s=0.1
    )
    await service.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await asyncio.sleep(0.1)
            status = (await health.Check(health_pb2.HealthCheckRequest(service=""))).status
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            up.set()
            for _ in range(50):  # the watcher polls every 2 s
                status = (await health.Check(health_pb2.HealthCheckRequest(service=""))).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.1)
            assert status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await service.stop()
