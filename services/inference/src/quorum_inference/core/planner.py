"""Iteration arithmetic of the automated-labelling loop (Ground Truth's, GT-FORMATS.md section 2.5).

Ground Truth: minimum 1,250 objects; a random first batch to humans; a human-labelled validation set of 20%
of the dataset below 5,000 objects and 10% above; `MaxConcurrentTaskCount` human labels per iteration
(1,000 in the console); stop when everything is labelled or a human-label budget is spent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GT_MIN_DATASET = 1250
GT_LARGE_DATASET = 5000


@dataclass(frozen=True)
class LoopConfig:
    target_accuracy: float = 0.95
    confidence_level: float = 0.95
    min_dataset_size: int = GT_MIN_DATASET
    batch_size: int = 1000  # human labels per iteration (GT's MaxConcurrentTaskCount)
    first_batch_size: int | None = None  # None: the validation set plus one training batch
    validation_fraction: float | None = None  # None: GT's rule (20% / 10%)
    max_human_labelled: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.target_accuracy < 1.0:
            raise ValueError(f"target_accuracy must be in (0, 1), got {self.target_accuracy}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.validation_fraction is not None and not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")


def validation_size(n_objects: int, fraction: float | None = None) -> int:
    """Human-labelled validation objects: GT's 20% below 5,000 objects, 10% from 5,000 on."""
    if fraction is None:
        fraction = 0.2 if n_objects < GT_LARGE_DATASET else 0.1
    return int(np.ceil(fraction * n_objects))


def eligible(n_objects: int, config: LoopConfig) -> bool:
    """Whether a dataset is large enough for automated labelling."""
    return n_objects >= config.min_dataset_size


def first_batch_size(n_objects: int, config: LoopConfig) -> int:
    if config.first_batch_size is not None:
        return min(n_objects, config.first_batch_size)
    return min(n_objects, validation_size(n_objects, config.validation_fraction) + config.batch_size)


@dataclass(frozen=True)
class FirstBatch:
    validation: list[int]  # object indices humans label and the model never trains on
    training: list[int]


def plan_first_batch(n_objects: int, config: LoopConfig, seed: int = 0) -> FirstBatch:
    """A uniformly random first batch, split into validation and training indices."""
    size = first_batch_size(n_objects, config)
    picked = np.random.default_rng(seed).permutation(n_objects)[:size]
    n_val = min(size, validation_size(n_objects, config.validation_fraction))
    return FirstBatch(validation=sorted(picked[:n_val].tolist()), training=sorted(picked[n_val:].tolist()))


def next_batch_size(n_unlabelled: int, n_human_labelled: int, config: LoopConfig) -> int:
    """Humans' batch for the next iteration: the batch size, capped by what is left and by the budget."""
    size = min(config.batch_size, n_unlabelled)
    if config.max_human_labelled is not None:
        size = min(size, max(0, config.max_human_labelled - n_human_labelled))
    return size


def should_stop(n_unlabelled: int, n_human_labelled: int, config: LoopConfig) -> bool:
    """Everything labelled, or the human-label budget spent."""
    return n_unlabelled == 0 or next_batch_size(n_unlabelled, n_human_labelled, config) == 0
