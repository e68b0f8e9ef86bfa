"""teams, workers, jobs, objects, answers, declines, outbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("owner_id", "name", name="uq_teams_owner_name"),
    )
    op.create_table(
        "workers",
        sa.Column("worker_id", sa.String(64), primary_key=True),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_workers_owner_id", "workers", ["owner_id"])
    op.create_table(
        "worker_teams",
        sa.Column(
            "worker_id",
            sa.String(64),
            sa.ForeignKey("workers.worker_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "team_id", sa.String(64), sa.ForeignKey("teams.team_id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_index("ix_worker_teams_team", "worker_teams", ["team_id"])
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("task_type", sa.String(100), nullable=False),
        sa.Column("categories", ARRAY(sa.Text), nullable=False),
        sa.Column("workers_per_object", sa.Integer, nullable=False),
        sa.Column("task_time_limit_s", sa.Integer, nullable=False),
        sa.Column("price_per_task_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("instructions", sa.Text, nullable=False, server_default=""),
        sa.Column("object_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_jobs_team_id", "jobs", ["team_id"])
    op.create_table(
        "job_objects",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("object_id", sa.BigInteger, primary_key=True),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("source_ref", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "answers",
        sa.Column("answer_id", sa.String(64), primary_key=True),
        sa.Column("task_id", sa.String(64), nullable=False, unique=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("object_id", sa.BigInteger, nullable=False),
        sa.Column("worker_id", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_spent_s", sa.Float, nullable=False),
        sa.UniqueConstraint("job_id", "object_id", "worker_id", name="uq_answers_job_object_worker"),
    )
    op.create_index("ix_answers_worker", "answers", ["worker_id"])
    op.create_table(
        "declines",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("object_id", sa.BigInteger, primary_key=True),
        sa.Column("worker_id", sa.String(64), primary_key=True),
        sa.Column("declined_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
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


def downgrade() -> None:
    for table in ("outbox", "declines", "answers", "job_objects", "jobs", "worker_teams", "workers", "teams"):
        op.drop_table(table)
