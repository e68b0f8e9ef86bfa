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
    consumer_partitions: Annotated[list[int] | None, NoDecode] = Field(
        None,
        description="Partitions of the answers topic this replica consumes, e.g. '0,1,2,3' (scale-out by "
        "partition: replicas need disjoint sets); unset: all of them.",
    )
    consumer_max_batch: int = Field(500, ge=1, description="Answer events handled per transaction at most.")

    @field_validator("default_method")
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
