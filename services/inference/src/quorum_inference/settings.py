from __future__ import annotations

from typing import Literal

from pydantic import Field

from quorum_common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    backend: Literal["torch", "triton"] = Field("torch", description="In-process torch or a Triton server.")
    triton_url: str = Field("grpc://127.0.0.1:8001", description="Used when backend is triton.")
