"""The automated-labeling model as one more annotator (pure).

When an iteration of the loop sends objects to humans, the model that iteration trained has already
predicted each of them, before any human saw it: an independent opinion. Each such object carries that
predicted class to workforce (`DataObject.model_label`), which puts it on the object's answer events, and the
consolidation counts it as one answer of a pseudo-worker whose confusion matrix it learns like any worker's.

Not the random draws: those are samples of the unlabelled pool that certify later versions' thresholds, and a
human label nudged towards an earlier model's opinion would make a later model's agreement with it look
better than it is (an optimistic bound).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping


def model_labels(
    to_humans: Iterable[int], predicted: Mapping[int, str], random: Collection[int]
) -> dict[int, str]:
    """object id -> the model's predicted class, for every object of `to_humans` that the model predicted
    (`predicted`) and that is not one of its random draws (`random`)."""
    return {oid: predicted[oid] for oid in to_humans if oid not in random and predicted.get(oid, "")}
