from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint, func

from quorum_inference import SCHEMA

metadata = MetaData(schema=SCHEMA)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("job_id", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # 0002: what the version is and how good it is
    Column("modality", String(16), nullable=False, server_default="text"),
    Column("categories", JSON, nullable=False, server_default="[]"),
    Column("arch", JSON, nullable=False, server_default="{}"),
    Column("metrics", JSON, nullable=False, server_default="{}"),
    Column("weights_path", Text, nullable=False, server_default=""),
    Column("warm_start_model_id", String(64), nullable=True),
    UniqueConstraint("job_id", "version", name="uq_model_versions_job_version"),
)
