"""Settings every service shares. Each service subclasses `ServiceSettings` once, in its settings.py."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Where consolidation writes label files (segmentation masks) and jobs serves them from, by default.
DEFAULT_LABEL_FILES_DIR = Path(tempfile.gettempdir()) / "quorum" / "label-files"


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver whatever the scheme a user gives (postgres://, postgresql://)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class ServiceSettings(BaseSettings):
    """Environment-driven settings common to every gRPC service (no prefix: one process, one service)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    grpc_host: str = Field("127.0.0.1", description="Interface the gRPC server binds.")
    grpc_port: int = Field(0, ge=0, le=65535, description="0 picks a free port (tests).")
    database_url: str = Field(..., description="PostgreSQL URL; the service uses its own schema in it.")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092")
    log_level: str = Field("INFO")
    log_json: bool = Field(True, description="JSON lines logs (false: human-readable console).")
    grace_period_s: float = Field(10.0, ge=0, description="How long in-flight calls may drain on SIGTERM.")
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics port; 0 disables it.")
    db_pool_size: int = Field(10, ge=1)
    max_concurrent_rpcs: int = Field(1000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)


def split_list(value: object) -> object:
    """A settings validator's helper: "a, b" (or "") -> ["a", "b"] (other values unchanged)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class ContentServiceSettings(ServiceSettings):
    """Settings of a service that serves objects' images (`quorum_common.content`): workforce to the worker
    holding a task, jobs to the job's owner."""

    content_roots: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Directories the objects' images may be served from (comma-separated); empty: any local "
        "image file a manifest names.",
    )
    content_max_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest image served.")
    content_url_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="http(s) URL prefixes objects' images may be fetched from (comma-separated, e.g. "
        "'https://images.example.com/'); empty: URLs are never fetched (a manifest could name internal "
        "hosts).",
    )

    @field_validator("content_roots", "content_url_prefixes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_list(value)
