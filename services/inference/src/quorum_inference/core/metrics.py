"""Model-version metrics from held-out (validation) logits: calibration, accuracy, per-class thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from quorum_inference.core.calibration import apply_temperature, fit_temperature, nll
from quorum_inference.core.thresholds import (
    ClassThreshold,
    auto_label_mask,
    pick_pooled_threshold,
    pick_thresholds,
)

# per_class: each class's machine labels meet the target; pooled: all machine labels together do.
ThresholdMode = Literal["per_class", "pooled"]


@dataclass(frozen=True)
class ModelMetrics:
    n_train: int
    n_validation: int
    validation_accuracy: float
    temperature: float
    nll_uncalibrated: float
    nll_calibrated: float
    target_accuracy: float
    confidence_level: float
    thresholds: list[ClassThreshold] = field(default_factory=list)
    # Share of the validation set that the thresholds would auto-label, and their accuracy there.
    validation_coverage: float = 0.0
    validation_auto_accuracy: float = 0.0
    threshold_mode: str = "per_class"


def evaluate(
    val_logits: NDArray[np.floating],
    val_labels: NDArray[np.integer],
    n_classes: int,
    *,
    n_train: int,
    target_accuracy: float,
    confidence_level: float,
    threshold_mode: ThresholdMode = "per_class",
) -> ModelMetrics:
    """Fit the temperature on the validation set, then pick thresholds on its calibrated confidences."""
    val_logits = np.asarray(val_logits, dtype=np.float64).reshape(-1, n_classes)
    val_labels = np.asarray(val_labels, dtype=np.int64)
    n_val = len(val_labels)
    if n_val == 0:
        thresholds = [ClassThreshold(c, None, 0, 0.0, 0.0) for c in range(n_classes)]
        return ModelMetrics(
            n_train,
            0,
            0.0,
            1.0,
            0.0,
            0.0,
            target_accuracy,
            confidence_level,
            thresholds,
            threshold_mode=threshold_mode,
        )
    temperature = fit_temperature(val_logits, val_labels)
    probs = apply_temperature(val_logits, temperature)
    predicted = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    pick = pick_pooled_threshold if threshold_mode == "pooled" else pick_thresholds
    thresholds = pick(
        predicted,
        conf,
        val_labels,
        n_classes,
        target_accuracy=target_accuracy,
        confidence_level=confidence_level,
    )
    auto = auto_label_mask(predicted, conf, thresholds)
    return ModelMetrics(
        n_train=n_train,
        n_validation=n_val,
        validation_accuracy=float((predicted == val_labels).mean()),
        temperature=temperature,
        nll_uncalibrated=nll(val_logits, val_labels),
        nll_calibrated=nll(val_logits, val_labels, temperature),
        target_accuracy=target_accuracy,
        confidence_level=confidence_level,
        thresholds=thresholds,
        validation_coverage=float(auto.mean()),
        validation_auto_accuracy=float((predicted[auto] == val_labels[auto]).mean()) if auto.any() else 0.0,
        threshold_mode=threshold_mode,
    )
