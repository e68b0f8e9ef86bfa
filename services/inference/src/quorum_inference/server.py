"""Wiring: settings -> dependencies -> an unstarted GrpcService."""

from __future__ import annotations

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_common.db import make_engine, ping
from quorum_common.grpc_server import GrpcService
from quorum_inference import SCHEMA
from quorum_inference.servicer import InferenceServicer
from quorum_inference.settings import InferenceSettings


async def build_service(settings: InferenceSettings) -> GrpcService:
    engine = make_engine(settings.database_url, SCHEMA, pool_size=2)
    servicer = InferenceServicer(settings)
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
        cleanups=[engine.dispose],
    )
