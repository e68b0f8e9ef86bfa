"""Gateway settings: one typed object read from the environment (no prefix: one process, one service)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "changethis"


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface the HTTP server binds (HOST).")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port (PORT); 0 picks a free one.")

    jobs_addr: str = Field(..., description="host:port of the jobs gRPC service (JOBS_ADDR).")
    workforce_addr: str = Field(..., description="host:port of the workforce gRPC service (WORKFORCE_ADDR).")
    consolidation_addr: str = Field(
        ..., description="host:port of the consolidation gRPC service (CONSOLIDATION_ADDR)."
    )

    admin_api_key: SecretStr = Field(..., description="Bearer key of the admin routes (ADMIN_API_KEY).")

    max_manifest_bytes: int = Field(100 * 1024 * 1024, ge=1, description="Largest job-creation body.")
    max_answer_bytes: int = Field(256 * 1024, ge=1, description="Largest body of every other request.")
    auth_cache_ttl_s: float = Field(
        30.0, ge=0, description="How long a verified token is trusted; 0 disables."
    )
    auth_cache_size: int = Field(10_000, ge=1, description="Most tokens kept in the auth cache (LRU).")

    grpc_deadline_s: float = Field(10.0, gt=0, description="Deadline of ordinary backend calls.")
    grpc_upload_deadline_s: float = Field(
        300.0, gt=0, description="Deadline of job creation (manifest load)."
    )
    grpc_stream_deadline_s: float = Field(900.0, gt=0, description="Deadline of output/answer exports.")
    readiness_timeout_s: float = Field(2.0, gt=0, description="Per-backend health-check timeout of /readyz.")

    log_level: str = Field("INFO")
    log_json: bool = Field(True, description="JSON lines logs (false: human-readable console).")
    access_log: bool = Field(False, description="uvicorn access log (off by default: it costs throughput).")

    @field_validator("admin_api_key")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if not secret.strip():
            raise ValueError("ADMIN_API_KEY must not be empty")
        if secret == PLACEHOLDER_SECRET:
            raise ValueError(f'ADMIN_API_KEY is the placeholder "{PLACEHOLDER_SECRET}"; set a real secret')
        return value
