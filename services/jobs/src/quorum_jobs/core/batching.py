"""Split data objects into PutJobObjects calls that stay well under gRPC's message size limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DEFAULT_BATCH_BYTES = 2 * 1024 * 1024
_PER_OBJECT_OVERHEAD = 24  # field tags, lengths and the object id of one DataObject


@dataclass(frozen=True, slots=True)
class DataObject:
    object_id: int
    source: str = ""
    source_ref: str = ""
    # Verification / adjustment: the previous label shown to the worker (workforce PreviousLabel JSON).
    previous_json: str = ""
    # Custom jobs: the whole manifest line as JSON (the task input).
    input_json: str = ""
    # Known-answer objects: their known class (never shown to workers; see core/known.py).
    known_label: str = ""
    # Automated-labeling jobs: the loop's model's predicted class when it sent the object to humans (never
    # shown to workers; consolidation counts it as a pseudo-worker's answer; see core/model_annotator.py).
    model_label: str = ""
    # Automated-labeling jobs: the answers a random draw of the loop gets at most (0 = the job's rule),
    # min_answers of them at once and more only while its label's posterior is below target_confidence (0:
    # all at once); core/autolabel.py: draw_answers.
    required_answers: int = 0
    min_answers: int = 0
    target_confidence: float = 0.0

    def approx_bytes(self) -> int:
        return (
            len(self.source.encode())
            + len(self.source_ref.encode())
            + len(self.previous_json.encode())
            + len(self.input_json.encode())
            + len(self.known_label.encode())
            + len(self.model_label.encode())
            + _PER_OBJECT_OVERHEAD
        )


def batches(
    objects: Iterable[DataObject], max_bytes: int = DEFAULT_BATCH_BYTES
) -> Iterator[list[DataObject]]:
    """Consecutive batches of at most `max_bytes` (a single larger object goes alone)."""
    batch: list[DataObject] = []
    size = 0
    for obj in objects:
        n = obj.approx_bytes()
        if batch and size + n > max_bytes:
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += n
    if batch:
        yield batch
