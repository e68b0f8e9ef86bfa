"""One call from answers to labels, whatever the method."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quorum_consolidation.core.answers import Answers
from quorum_consolidation.core.registry import make_aggregator


@dataclass(frozen=True, slots=True)
class ConsolidatedLabel:
    object_id: Any
    label: str
    class_index: int
    confidence: float
    answer_count: int
    method: str


def consolidate(
    answers: Answers | Iterable[tuple[Any, Any, str]],
    categories: Sequence[str],
    method: str,
    params: Mapping[str, Any] | None = None,
) -> list[ConsolidatedLabel]:
    """Labels for every object in `answers` (triples of (object_id, worker_id, label), or indexed Answers).

    Objects come back sorted by object id. Raises ConsolidationInputError (a ValueError) for an unknown
    method, a label outside `categories`, fewer than 2 categories or a worker answering an object twice.
    """
    aggregator = make_aggregator(method, params)  # first, so a bad method fails even on empty input
    data = answers if isinstance(answers, Answers) else Answers.from_triples(answers, categories)
    if tuple(categories) != data.categories:
        raise ValueError("categories differ from the ones the Answers were indexed with")
    if data.n_answers == 0:
        return []
    aggregator.fit(data)
    assert aggregator.labels_ is not None
    labels = aggregator.labels_.tolist()
    confidences = aggregator.confidences().tolist()
    counts = data.answer_counts().tolist()
    cats = data.categories
    # Building the output records is the only per-object Python step; the estimate itself is vectorised.
    return [
        ConsolidatedLabel(
            object_id=oid, label=cats[c], class_index=c, confidence=conf, answer_count=n, method=method
        )
        for oid, c, conf, n in zip(data.object_ids.tolist(), labels, confidences, counts, strict=True)
    ]
