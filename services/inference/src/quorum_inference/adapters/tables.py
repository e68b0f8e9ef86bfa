from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func

from quorum_inference import SCHEMA

metadata = MetaData(schema=SCHEMA)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("job_id", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
