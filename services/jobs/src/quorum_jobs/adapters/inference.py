"""gRPC client of the inference service for the automated-labeling loop: train on human labels, then score
the rest (and pick what humans label next). Errors are InferenceError (adapters.peers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_jobs.adapters.peers import PeerError, channel_options


class InferenceError(PeerError):
    peer = "inference"


@dataclass(frozen=True, slots=True)
class LoopObject:
    """An object as the model sees it: inline text, or an image URI; `label` (and the consolidated confidence
    in it, `label_confidence`, 0 = unknown) only for training."""

    object_id: int
    text: str = ""
    image_uri: str = ""
    label: str = ""
    validation: bool = False
    label_confidence: float = 0.0

    def proto(self) -> inference_pb2.InferenceObject:
        return inference_pb2.InferenceObject(
            object_id=str(self.object_id),
            text=self.text,
            image_uri=self.image_uri,
            label=self.label,
            validation=self.validation,
            label_confidence=min(1.0, max(0.0, self.label_confidence)),
        )


@dataclass(frozen=True, slots=True)
class TrainedModel:
    model_id: str
    version: int
    # The model's metrics as a JSON-able dict (thresholds, validation figures), stored per iteration.
    metrics: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MachineLabel:
    object_id: int
    label: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Scored:
    machine_labels: list[MachineLabel]  # objects whose prediction clears its class threshold
    selected: list[int]  # object ids for humans next, most informative first
    # Every scored object's predicted class (object id -> label), and those of `selected` drawn at random.
    predicted: dict[int, str] = field(default_factory=dict)
    random: list[int] = field(default_factory=list)


class InferenceClient:
    def __init__(self, addr: str, *, timeout_s: float) -> None:
        self.addr = addr
        self.timeout_s = timeout_s
        self._channel = grpc.aio.insecure_channel(addr, options=channel_options(256 * 1024 * 1024))
        self._stub = inference_pb2_grpc.InferenceServiceStub(self._channel)

    async def train(
        self,
        job_id: str,
        objects: Sequence[LoopObject],
        categories: Sequence[str],
        target_accuracy: float,
        label_noise: float = 0.0,
        machine_labeled_versions: Sequence[int] = (),
    ) -> TrainedModel:
        """`machine_labeled_versions`: the job's versions whose machine labels were committed (only their
        certified sets pool with the new version's bound)."""
        request = inference_pb2.TrainModelRequest(
            job_id=job_id,
            objects=[o.proto() for o in objects],
            categories=list(categories),
            target_accuracy=target_accuracy,
            label_noise=label_noise,
            machine_labeled_versions=list(machine_labeled_versions),
        )
        try:
            mv = await self._stub.TrainModel(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as err:
            raise InferenceError("TrainModel", err.code(), err.details() or "") from err
        metrics = MessageToDict(
            mv.metrics, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
        return TrainedModel(mv.model_id, mv.version, metrics)

    async def score(
        self,
        job_id: str,
        version: int,
        objects: Sequence[LoopObject],
        select_count: int,
        labeled: Sequence[LoopObject] = (),
        pool_size: int = 0,
    ) -> Scored:
        request = inference_pb2.PredictRequest(
            job_id=job_id,
            version=version,
            objects=[o.proto() for o in objects],
            select_count=select_count,
            labeled=[LoopObject(o.object_id, o.text, o.image_uri).proto() for o in labeled],
            pool_size=pool_size,
        )
        try:
            resp = await self._stub.Predict(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as err:
            raise InferenceError("Predict", err.code(), err.details() or "") from err
        machine = [
            MachineLabel(int(p.object_id), p.label, p.confidence) for p in resp.predictions if p.auto_label
        ]
        return Scored(
            machine,
            [int(i) for i in resp.selected_object_ids],
            {int(p.object_id): p.label for p in resp.predictions},
            [int(i) for i in resp.random_object_ids],
        )

    async def close(self) -> None:
        await self._channel.close()
