"""team priors: each job's team (from its answer events) and what each job's worker model learned per worker

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_teams",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "worker_skills",
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("worker_id", sa.String(128), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("n_answers", sa.Integer, nullable=False),
        sa.Column("correct", sa.Float, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("worker_skills")
    op.drop_table("job_teams")
