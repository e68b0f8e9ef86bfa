from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from quorum_common.settings import ServiceSettings
from quorum_consolidation.core.registry import METHODS


class ConsolidationSettings(ServiceSettings):
    default_method: str = Field(
        "mv", description="Method for streamed answers and for requests that name none (see core.registry)."
    )
    # "mv" stays the default until DS can revise early labels: objects labeled while the job's worker model
    # still rests on a few answers came out worse than majority vote in the end-to-end job (0.900 vs 0.915).
    streaming_method: str = Field(
        "mv",
        description="How streamed answers are consolidated: 'ds' labels each ready object by its "
        "posterior under the job's Dawid-Skene worker model (fitted on all the job's answers, refitted per "
        "refit_growth and refit_max_age_s; majority vote while the job has fewer than 2 objects with 2+ "
        "answers); any other method (e.g. 'mv') is fitted on each batch's ready objects alone.",
    )
    refit_growth: float = Field(
        0.2, gt=0, description="Refit a job's worker model when its answers grew by more than this share."
    )
    refit_max_age_s: float = Field(
        30.0, gt=0, description="Refit a job's worker model this old (seconds) if any answer arrived since."
    )
    job_model_cache_size: int = Field(256, ge=1, description="Jobs whose worker models are cached (LRU).")
    consumer_partitions: Annotated[list[int] | None, NoDecode] = Field(
        None,
        description="Partitions of the answers topic this replica consumes, e.g. '0,1,2,3' (scale-out by "
        "partition: replicas need disjoint sets); unset: all of them.",
    )
    consumer_max_batch: int = Field(500, ge=1, description="Answer events handled per transaction at most.")

    @field_validator("default_method", "streaming_method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"unknown consolidation method {value!r}; known: {', '.join(sorted(METHODS))}")
        return value

    @field_validator("consumer_partitions", mode="before")
    @classmethod
    def _parse_partitions(cls, value: object) -> object:
        """Accept '0,1,2' or '[0, 1, 2]' from the environment; empty means all partitions."""
        if isinstance(value, str):
            text = value.strip().strip("[]").strip()
            if not text:
                return None
            return [int(part) for part in text.split(",") if part.strip()]
        return value

    @field_validator("consumer_partitions")
    @classmethod
    def _non_negative(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(p < 0 for p in value)):
            raise ValueError(f"consumer_partitions must be non-negative partition numbers, got {value}")
        return sorted(set(value)) if value is not None else None
