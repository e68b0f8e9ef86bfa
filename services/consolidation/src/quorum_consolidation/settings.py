from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from quorum_common.settings import DEFAULT_LABEL_FILES_DIR, ServiceSettings
from quorum_consolidation.core.registry import METHODS


class ConsolidationSettings(ServiceSettings):
    label_files_dir: Path = Field(
        DEFAULT_LABEL_FILES_DIR,
        description="Where consolidated labels stored as files (segmentation masks) are written, as "
        "<dir>/<job_id>/<object_id>.png; output manifests reference them by path (`<attr>-ref`).",
    )
    default_method: str = Field("auto", description="Method for requests that name none (see core.registry).")
    streaming_method: str = Field(
        "auto",
        description="How streamed answers are consolidated: 'auto' (the default method) or 'ds' label "
        "each ready object by its posterior under the job's worker model (AutoDawidSkene or Dawid-Skene, "
        "fitted on all the job's answers, refitted per refit_growth and refit_max_age_s, earlier labels "
        "revised when a refit changes them; majority vote while few objects have overlapping answers); "
        "any other method (e.g. 'mv') is fitted on each batch's ready objects alone, without revisions.",
    )
    refit_growth: float = Field(
        0.2, gt=0, description="Refit a job's worker model when its answers grew by more than this share."
    )
    refit_max_age_s: float = Field(
        30.0, gt=0, description="Refit a job's worker model this old (seconds) if any answer arrived since."
    )
    job_model_cache_size: int = Field(256, ge=1, description="Jobs whose worker models are cached (LRU).")
    team_priors: bool = Field(
        True,
        description="Start each fit of a job's worker model from what the fits of the team's other jobs "
        "learned about its workers (confusion counts for the same category set, a one-coin skill across "
        "category sets), as at most team_prior_weight answers' worth of pseudo-counts per worker. What each "
        "fit learned is stored either way (when the answer events name the job's team).",
    )
    team_prior_weight: float = Field(
        20.0,
        gt=0,
        le=1000,
        description="Most answers' worth of carried-over pseudo-counts per worker (bench/team_priors.py: 20 "
        "beat 10 on small later jobs of the real crowd sets).",
    )
    revise_interval_s: float = Field(
        5.0,
        gt=0,
        description="How often cached job models are checked for answers that arrived since their fit (and "
        "refitted when the refit policy calls them stale), so a job's last labels get revised too.",
    )
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
