"""gRPC edge of the inference service: protos in, engine call, protos out."""

from __future__ import annotations

import grpc

from quorum.inference.v1 import inference_pb2, inference_pb2_grpc
from quorum_inference.adapters.engine import InferenceEngine
from quorum_inference.core.backend import describe_device
from quorum_inference.core.types import InferenceObject, ModelVersion
from quorum_inference.settings import InferenceSettings


def _objects(items: list[inference_pb2.InferenceObject]) -> list[InferenceObject]:
    return [
        InferenceObject(
            object_id=o.object_id,
            text=o.text,
            image_uri=o.image_uri,
            label=o.label,
            validation=o.validation,
            label_confidence=o.label_confidence,
        )
        for o in items
    ]


def _version_pb(mv: ModelVersion, backend: str) -> inference_pb2.ModelVersion:
    m = mv.metrics
    return inference_pb2.ModelVersion(
        model_id=mv.model_id,
        job_id=mv.job_id,
        version=mv.version,
        modality=mv.modality,
        categories=mv.categories,
        warm_start_model_id=mv.warm_start_model_id or "",
        created_at_ms=mv.created_at_ms,
        backend=backend,
        metrics=inference_pb2.ModelMetrics(
            n_train=m.n_train,
            n_validation=m.n_validation,
            validation_accuracy=m.validation_accuracy,
            temperature=m.temperature,
            nll_uncalibrated=m.nll_uncalibrated,
            nll_calibrated=m.nll_calibrated,
            target_accuracy=m.target_accuracy,
            confidence_level=m.confidence_level,
            validation_coverage=m.validation_coverage,
            validation_auto_accuracy=m.validation_auto_accuracy,
            threshold_mode=m.threshold_mode,
            label_noise=m.label_noise,
            per_object_label_noise=m.per_object_label_noise,
            n_certified=m.n_certified,
            finetune_steps=m.finetune_steps,
            finetune_capped=m.finetune_capped,
            validation_auto_label_noise=m.validation_auto_label_noise,
            n_certified_earlier=m.n_certified_earlier,
            best_lower_bound=m.best_lower_bound,
            best_lower_bound_support=m.best_lower_bound_support,
            max_auto_share=m.max_auto_share,
            certification_look=m.certification_look,
            draws_to_next_look=m.draws_to_next_look,
            thresholds=[
                inference_pb2.ClassThreshold(
                    category=mv.categories[t.class_index],
                    has_threshold=t.threshold is not None,
                    threshold=t.threshold or 0.0,
                    support=t.support,
                    accuracy=t.accuracy,
                    lower_bound=t.lower_bound,
                )
                for t in m.thresholds
            ],
        ),
    )


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, settings: InferenceSettings, engine: InferenceEngine) -> None:
        self._settings = settings
        self._engine = engine

    async def GetBackendInfo(  # noqa: N802 - gRPC method name
        self, request: inference_pb2.GetBackendInfoRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.BackendInfo:
        return inference_pb2.BackendInfo(
            backend=self._settings.backend,
            device=describe_device(self._engine.device.type == "cuda", "torch"),
        )

    async def TrainModel(  # noqa: N802 - gRPC method name
        self, request: inference_pb2.TrainModelRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.ModelVersion:
        mv = await self._engine.train(
            request.job_id,
            _objects(list(request.objects)),
            list(request.categories),
            target_accuracy=request.target_accuracy,
            warm_start_model_id=request.warm_start_model_id,
            threshold_mode=request.threshold_mode,
            label_noise=request.label_noise,
            machine_labeled_versions=list(request.machine_labeled_versions),
        )
        return _version_pb(mv, self._engine.backend.name)

    async def Predict(  # noqa: N802 - gRPC method name
        self, request: inference_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.PredictResponse:
        objects = _objects(list(request.objects))
        result = await self._engine.predict(
            request.job_id,
            request.version,
            objects,
            select_count=request.select_count,
            labeled=_objects(list(request.labeled)),
            pool_size=request.pool_size,
        )
        cats = result.version.categories
        return inference_pb2.PredictResponse(
            version=result.version.version,
            model_id=result.version.model_id,
            categories=cats,
            predictions=[
                inference_pb2.ObjectPrediction(
                    object_id=o.object_id,
                    probabilities=result.probabilities[i].tolist(),
                    label=cats[int(result.predicted[i])],
                    confidence=float(result.confidence[i]),
                    auto_label=bool(result.auto_label[i]),
                )
                for i, o in enumerate(objects)
            ],
            selected_object_ids=[objects[i].object_id for i in result.selected],
            random_object_ids=[objects[i].object_id for i in result.random],
        )

    async def GetModelMetrics(  # noqa: N802 - gRPC method name
        self, request: inference_pb2.GetModelMetricsRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.ModelVersion:
        mv = await self._engine.version(request.job_id, request.version)
        return _version_pb(mv, self._engine.backend.name)
