"""The one interface both backends implement, and which device a backend reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

Modality = Literal["text", "image"]


@dataclass(frozen=True)
class ModelKey:
    job_id: str
    version: int

    @property
    def name(self) -> str:
        """A name Triton accepts for a model (letters, digits, '_' and '-')."""
        return f"job-{self.job_id}-v{self.version}"


class ScoringBackend(Protocol):
    """Turns model inputs (embeddings or image tensors) into logits for one trained model version.

    Training always happens in-process with torch; a backend decides where the trained network *runs*:
    in this process ("torch") or in a Triton Inference Server ("triton"). `model` is the trained network
    (an adapters-level torch module, opaque to the core).
    """

    name: str

    def publish(self, key: ModelKey, model: Any, input_shape: tuple[int, ...]) -> None:
        """Make a trained model version servable (idempotent)."""
        ...

    def logits(self, key: ModelKey, model: Any, inputs: NDArray[np.float32]) -> NDArray[np.float32]:
        """(n, n_classes) logits for (n, *input_shape) inputs."""
        ...

    def close(self) -> None: ...


def describe_device(cuda_available: bool, backend: str) -> str:
    if backend == "triton":
        return "remote"
    return "cuda" if cuda_available else "cpu"
