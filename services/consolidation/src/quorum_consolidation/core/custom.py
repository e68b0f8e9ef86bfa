"""Custom jobs' post-processing (Quorum's built-in equivalent of Ground Truth's post-annotation Lambda).

Workers' answers are arbitrary JSON objects. Two answers are the same when their canonical JSON (sorted
keys, compact separators) is equal, so key order and whitespace never split a vote.

- "majority": the answer most workers gave; confidence = its share of the answers. A tie goes to the tied
  answer given first (answers are in submission order), so the result does not depend on a dict's order.
- "all": every worker's answer, in submission order.

Both are computed for every object; the jobs service writes the one the job chose.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def canonical_answer(answer: Any) -> str:
    return json.dumps(answer, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class CustomResult:
    majority: dict[str, Any]
    confidence: float
    votes: int
    answers: list[dict[str, Any]]  # [{"workerId": ..., "answer": {...}}, ...]


def consolidate_custom(answers: Sequence[tuple[str, dict[str, Any]]]) -> CustomResult:
    """`answers`: (worker_id, answer object) in submission order; at least one."""
    if not answers:
        raise ValueError("a custom object needs at least one answer")
    counts: dict[str, int] = {}
    first: dict[str, dict[str, Any]] = {}
    for _, answer in answers:
        key = canonical_answer(answer)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, answer)
    # dicts keep insertion order, so max() returns the earliest of the tied answers.
    winner = max(counts, key=lambda k: counts[k])
    return CustomResult(
        majority=first[winner],
        confidence=counts[winner] / len(answers),
        votes=counts[winner],
        answers=[{"workerId": worker, "answer": answer} for worker, answer in answers],
    )
