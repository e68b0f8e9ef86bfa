"""Wiring: settings -> dependencies -> an unstarted GrpcService."""

from __future__ import annotations

import asyncio

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_common.db import make_engine, make_sessionmaker, ping
from quorum_common.grpc_server import GrpcService
from quorum_inference import SCHEMA
from quorum_inference.adapters.backends import make_backend
from quorum_inference.adapters.engine import InferenceEngine
from quorum_inference.adapters.store import ModelStore
from quorum_inference.servicer import InferenceServicer
from quorum_inference.settings import InferenceSettings


async def build_service(settings: InferenceSettings) -> GrpcService:
    engine = make_engine(settings.database_url, SCHEMA, pool_size=2)
    backend = make_backend(
        settings.backend, triton_url=settings.triton_url, triton_embedded=settings.triton_embedded
    )
    inference = InferenceEngine(settings, ModelStore(make_sessionmaker(engine)), backend)
    servicer = InferenceServicer(settings, inference)

    async def close() -> None:
        await asyncio.to_thread(inference.close)  # stops an embedded Triton server
        await engine.dispose()

    return GrpcService(
        name="inference",
        service_names=[inference_pb2.DESCRIPTOR.services_by_name["InferenceService"].full_name],
        registrars=[
            lambda server: inference_pb2_grpc.add_InferenceServiceServicer_to_server(servicer, server)
        ],
        host=settings.grpc_host,
        port=settings.grpc_port,
        grace_period_s=settings.grace_period_s,
        metrics_port=settings.metrics_port,
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        readiness=lambda: ping(engine),
        cleanups=[close],
    )
