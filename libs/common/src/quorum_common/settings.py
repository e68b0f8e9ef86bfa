"""Settings every service shares. Each service subclasses `ServiceSettings` once, in its settings.py."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
