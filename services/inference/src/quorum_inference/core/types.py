"""Domain values of the inference service (no protos, no I/O)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quorum_inference.core.backend import Modality
from quorum_inference.core.metrics import ModelMetrics
from quorum_inference.core.thresholds import ClassThreshold


@dataclass(frozen=True)
class InferenceObject:
    object_id: str
    text: str = ""
    image_uri: str = ""
    label: str = ""  # the human label (training); empty when predicting
    validation: bool = False  # held out for calibration / thresholds
    label_confidence: float = 0.0  # probability that `label` is right (consolidation's); 0 = unknown


@dataclass(frozen=True)
class ModelVersion:
    model_id: str
    job_id: str
    version: int
    modality: Modality
    categories: list[str]
    metrics: ModelMetrics
    weights_path: str
    arch: dict[str, Any]
    warm_start_model_id: str | None = None
    created_at_ms: int = 0


def metrics_to_json(m: ModelMetrics) -> dict[str, Any]:
    return asdict(m)


def metrics_from_json(data: dict[str, Any]) -> ModelMetrics:
    fields = dict(data)
    fields["thresholds"] = [ClassThreshold(**t) for t in data.get("thresholds", [])]
    return ModelMetrics(**fields)


def modality_of(objects: list[InferenceObject]) -> Modality:
    """Every object must carry exactly one of text / image_uri, and all the same one."""
    kinds: set[str] = set()
    for i, o in enumerate(objects):
        if bool(o.text) == bool(o.image_uri):
            raise ValueError(f"objects[{i}] must have exactly one of text or image_uri")
        kinds.add("text" if o.text else "image")
    if len(kinds) > 1:
        raise ValueError("objects mix text and image_uri; one model version covers one modality")
    return "text" if kinds == {"text"} else "image"


@dataclass(frozen=True)
class Predictions:
    version: ModelVersion
    probabilities: NDArray[np.float64]  # (n, n_classes), calibrated
    predicted: NDArray[np.int64]
    confidence: NDArray[np.float64]
    auto_label: NDArray[np.bool_]  # clears its class's threshold
    selected: list[int] = field(default_factory=list)  # indices picked for humans, most informative first
