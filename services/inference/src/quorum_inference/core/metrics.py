"""Model-version metrics from held-out (validation) logits: calibration, accuracy, per-class thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from quorum_inference.core.calibration import (
    apply_temperature,
    fit_temperature,
    fit_temperature_and_noise,
    nll,
)
from quorum_inference.core.thresholds import (
    ClassThreshold,
    EarlierCertified,
    auto_label_mask,
    object_noise_from_confidence,
    pick_thresholds,
    pooled_certification,
)

# Estimating the human labels' error rate needs this many held-out labels; it is never taken above NOISE_CAP
# (consolidated crowd labels are ~93-97% right; a larger estimate more likely hides the model's own errors).
MIN_NOISE_FIT = 150
NOISE_CAP = 0.05

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
    confidence_level: float  # of this version's bounds (one look of a job: thresholds.look_confidence_level)
    thresholds: list[ClassThreshold] = field(default_factory=list)
    # Share of the validation set that the thresholds would auto-label, and their accuracy there.
    validation_coverage: float = 0.0
    validation_auto_accuracy: float = 0.0
    threshold_mode: str = "per_class"
    # Error rate assumed for the human labels when bounding accuracy (0: they are the truth).
    label_noise: float = 0.0
    # Held-out predictions the thresholds were certified on (<= n_validation; see `certify`).
    n_certified: int = 0
    # True: each candidate set's bound used the mean error rate of its own human labels (1 - their
    # consolidated confidences); `label_noise` is then their mean over the certified objects.
    per_object_label_noise: bool = False
    # Fine-tuning of the text encoder for this version (0: the encoder was reused, or none is fine-tuned), and
    # whether FINETUNE_MAX_SECONDS stopped it before its planned steps.
    finetune_steps: int = 0
    finetune_capped: bool = False
    # Error rate of the human labels of the validation objects the thresholds auto-label (per object when
    # confidences are known, else `label_noise`): what corrects `validation_auto_accuracy` for label noise.
    validation_auto_label_noise: float = 0.0
    # Pooled mode: draws inside earlier versions' machine-labeled sets that joined the bound (thresholds
    # module: the bound is then that of all the job's machine labels together).
    n_certified_earlier: int = 0
    # Pooled mode: the highest lower bound any threshold reached and its certification set's size (how close
    # a version that certified nothing came to the target).
    best_lower_bound: float = 0.0
    best_lower_bound_support: int = 0
    # The most of the objects it scores that this version may machine-label (thresholds.auto_label_mask):
    # the share of the certification draws above its thresholds when another network than the certifying
    # ones scores (cross-fitting), else 1 (no cap).
    max_auto_share: float = 1.0
    # Whether this version was one of the job's looks at certification (thresholds.look_epoch); a version
    # that was not certifies nothing, whatever its best bound.
    certification_look: bool = True
    # Random draws of the pool (expected) the job still needs before a training may look again: the draws up
    # to the next look epoch (thresholds.next_look_draws), over the share of draws that certify; 0 = a
    # training may look on the next draws (the job has not looked yet, or looks are not spent).
    draws_to_next_look: float = 0.0


def between_looks(
    n_train: int,
    n_classes: int,
    *,
    target_accuracy: float,
    confidence_level: float,
    threshold_mode: ThresholdMode,
    temperature: float,
    draws_to_next_look: float,
) -> ModelMetrics:
    """The metrics of a version trained between a job's looks without held-out predictions (only a look may
    certify, so nothing was cross-fitted): no thresholds, nothing measured (n_validation 0), and
    `temperature` carried over from the job's previous version, which scores its pool."""
    return replace(
        _unmeasured(n_train, n_classes, target_accuracy, confidence_level, threshold_mode, temperature),
        certification_look=False,
        draws_to_next_look=draws_to_next_look,
    )


def _unmeasured(
    n_train: int,
    n_classes: int,
    target_accuracy: float,
    confidence_level: float,
    threshold_mode: ThresholdMode,
    temperature: float,
) -> ModelMetrics:
    """A version's metrics without held-out predictions: no thresholds, nothing measured."""
    return ModelMetrics(
        n_train=n_train,
        n_validation=0,
        validation_accuracy=0.0,
        temperature=temperature,
        nll_uncalibrated=0.0,
        nll_calibrated=0.0,
        target_accuracy=target_accuracy,
        confidence_level=confidence_level,
        thresholds=[ClassThreshold(c, None, 0, 0.0, 0.0) for c in range(n_classes)],
        threshold_mode=threshold_mode,
    )


def evaluate(
    val_logits: NDArray[np.floating],
    val_labels: NDArray[np.integer],
    n_classes: int,
    *,
    n_train: int,
    target_accuracy: float,
    confidence_level: float,
    threshold_mode: ThresholdMode = "per_class",
    label_noise: float | None = 0.0,
    certify: NDArray[np.bool_] | None = None,
    label_confidence: NDArray[np.floating] | None = None,
    earlier: EarlierCertified | None = None,
    cap_share: bool = False,
    may_certify: bool = True,
) -> ModelMetrics:
    """Fit the temperature on the validation set, then pick thresholds on its calibrated confidences.

    `val_logits` may be out-of-fold logits of cross-fitted models (every human label held out once).
    `label_noise`: the human labels' error rate, or None to estimate it with the temperature
    (`fit_temperature_and_noise`, from MIN_NOISE_FIT held-out labels on, at most NOISE_CAP).
    `certify`: the validation objects thresholds are certified on (default all), e.g. those still like the
    unlabelled pool; the temperature and the noise estimate use every validation object.
    `label_confidence`: each validation label's consolidated confidence q_i (0 = unknown). When any is known,
    a candidate threshold's bound allows for the mean 1 - q_i of the objects above it (thresholds module
    docstring) instead of one rate for all; unknown ones count at the global rate. Over-confident q_i make
    the bound conservative, not optimistic.
    `earlier`: the draws inside the sets earlier versions machine-labeled (pooled mode only): each candidate
    threshold is bounded together with them, i.e. on all the job's machine labels.
    `cap_share`: the logits are held-out predictions of other networks than the one that will score the pool
    (cross-fitting): `max_auto_share` is then the share of the certified objects above the thresholds.
    `may_certify`: False when this training is not one of the job's looks (thresholds.look_epoch): the
    thresholds are then all None; the best bound a threshold reached is still reported.
    """
    val_logits = np.asarray(val_logits, dtype=np.float64).reshape(-1, n_classes)
    val_labels = np.asarray(val_labels, dtype=np.int64)
    n_val = len(val_labels)
    if n_val == 0:
        return _unmeasured(n_train, n_classes, target_accuracy, confidence_level, threshold_mode, 1.0)
    if label_noise is None and n_val >= MIN_NOISE_FIT:
        # Noisy human labels: fit the temperature of the *true* labels jointly with their error rate, and
        # bound accuracy with that rate (capped).
        temperature, fitted = fit_temperature_and_noise(val_logits, val_labels)
        probs = apply_temperature(val_logits, temperature)
        label_noise = min(NOISE_CAP, fitted)
    else:
        temperature = fit_temperature(val_logits, val_labels)
        probs = apply_temperature(val_logits, temperature)
        label_noise = label_noise or 0.0
    predicted = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    sub = np.ones(n_val, dtype=bool) if certify is None else np.asarray(certify, dtype=bool)
    object_noise = None
    if label_confidence is not None:
        q = np.asarray(label_confidence, dtype=np.float64)
        if len(q) != n_val:
            raise ValueError(f"label_confidence has {len(q)} values for {n_val} validation labels")
        object_noise = object_noise_from_confidence(q[sub], label_noise)
    pooled = threshold_mode == "pooled"
    prior = earlier if pooled and earlier is not None and len(earlier) else None
    best = (0.0, 0)  # pooled mode also reports how close its best threshold came
    if pooled:
        thresholds, best = pooled_certification(
            predicted[sub],
            conf[sub],
            val_labels[sub],
            n_classes,
            target_accuracy=target_accuracy,
            confidence_level=confidence_level,
            label_noise=label_noise,
            object_noise=object_noise,
            earlier=prior,
        )
    else:
        thresholds = pick_thresholds(
            predicted[sub],
            conf[sub],
            val_labels[sub],
            n_classes,
            target_accuracy=target_accuracy,
            confidence_level=confidence_level,
            label_noise=label_noise,
            object_noise=object_noise,
        )
    if not may_certify:
        thresholds = [ClassThreshold(c, None, 0, 0.0, 0.0) for c in range(n_classes)]
    global_noise = float(label_noise)
    if object_noise is not None and len(object_noise):
        label_noise = float(object_noise.mean())
    auto = auto_label_mask(predicted, conf, thresholds)
    max_share = 1.0
    if cap_share and sub.any():
        max_share = float(auto[sub].mean())
    auto_noise = global_noise
    if label_confidence is not None and auto.any():
        per_object = object_noise_from_confidence(np.asarray(label_confidence)[auto], global_noise)
        if per_object is not None:
            auto_noise = float(per_object.mean())
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
        label_noise=float(label_noise),
        n_certified=int(sub.sum()),
        per_object_label_noise=object_noise is not None,
        validation_auto_label_noise=auto_noise,
        n_certified_earlier=0 if prior is None else len(prior),
        best_lower_bound=best[0],
        best_lower_bound_support=best[1],
        max_auto_share=max_share,
        certification_look=may_certify,
    )
