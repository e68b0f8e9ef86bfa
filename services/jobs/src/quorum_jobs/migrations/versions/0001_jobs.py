"""requesters, jobs, job objects, outbox, consumer offsets

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requesters",
        sa.Column("requester_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("api_key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("requester_id", sa.String(32), sa.ForeignKey("requesters.requester_id"), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("task_type", sa.String(64), nullable=False),
        sa.Column("label_attribute_name", sa.String(127), nullable=False),
        sa.Column("categories", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("workers_per_object", sa.Integer, nullable=False),
        sa.Column("task_time_limit_s", sa.Integer, nullable=False),
        sa.Column("price_per_task_usd", sa.Double, nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("instructions", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("human_labeled", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("machine_labeled", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("label_answers", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failure_reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "ix_jobs_requester_created",
        "jobs",
        ["requester_id", sa.text("created_at DESC"), sa.text("job_id DESC")],
    )
    op.create_index("uq_jobs_requester_name", "jobs", ["requester_id", sa.text("lower(name)")], unique=True)
    op.create_index(
        "ix_jobs_active_status",
        "jobs",
        ["status"],
        postgresql_where=sa.text("status IN ('initializing', 'in_progress', 'stopping')"),
    )
    op.create_table(
        "job_objects",
        sa.Column(
            "job_id", sa.String(32), sa.ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("object_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("class_index", sa.Integer, nullable=True),
        sa.Column("confidence", sa.Double, nullable=True),
        sa.Column("human_annotated", sa.Boolean, nullable=True),
        sa.Column("labeled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_count", sa.Integer, nullable=True),
        sa.Column("failure_reason", sa.Text, nullable=True),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("consumer_offsets", "outbox", "job_objects", "jobs", "requesters"):
        op.drop_table(table)
