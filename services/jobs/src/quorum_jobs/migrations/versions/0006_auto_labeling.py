"""automated labeling: per-job settings, each object's loop iteration, and the iterations

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("auto_labeling", sa.Boolean, nullable=False, server_default="false"))
    op.add_column("jobs", sa.Column("auto_target_accuracy", sa.Double, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("auto_min_dataset_size", sa.Integer, nullable=False, server_default="0"))
    op.add_column(
        "jobs", sa.Column("auto_max_human_labeled", sa.BigInteger, nullable=False, server_default="0")
    )
    op.add_column("job_objects", sa.Column("auto_iteration", sa.Integer, nullable=True))
    op.add_column(
        "job_objects", sa.Column("auto_validation", sa.Boolean, nullable=False, server_default="false")
    )
    op.create_table(
        "autolabel_iterations",
        sa.Column(
            "job_id", sa.String(32), sa.ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("iteration", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("model_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("model_id", sa.Text, nullable=False, server_default=""),
        sa.Column("metrics", JSONB, nullable=False, server_default="{}"),
        sa.Column("machine_labeled", sa.BigInteger, nullable=False),
        sa.Column("sent_to_humans", sa.BigInteger, nullable=False),
        sa.Column("human_labeled_total", sa.BigInteger, nullable=False),
        sa.Column("machine_labeled_total", sa.BigInteger, nullable=False),
        sa.Column("unlabeled", sa.BigInteger, nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        # False until the objects sent to humans are in workforce (retried until they are).
        sa.Column("released", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "ix_job_objects_auto_pending",
        "job_objects",
        ["job_id"],
        postgresql_where=sa.text("auto_iteration IS NOT NULL AND label IS NULL AND failure_reason IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_job_objects_auto_pending", table_name="job_objects")
    op.drop_table("autolabel_iterations")
    op.drop_column("job_objects", "auto_validation")
    op.drop_column("job_objects", "auto_iteration")
    for name in ("auto_max_human_labeled", "auto_min_dataset_size", "auto_target_accuracy", "auto_labeling"):
        op.drop_column("jobs", name)
