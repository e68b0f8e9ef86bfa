"""gRPC edge of the inference service: protos in, core call, protos out."""

from __future__ import annotations

import grpc

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_inference.core.backend import describe_device
from quorum_inference.settings import InferenceSettings


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, settings: InferenceSettings) -> None:
        self._settings = settings

    async def GetBackendInfo(  # noqa: N802 - gRPC method name
        self, request: inference_pb2.GetBackendInfoRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.BackendInfo:
        return inference_pb2.BackendInfo(
            backend=self._settings.backend, device=describe_device(False, self._settings.backend)
        )
