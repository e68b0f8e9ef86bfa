"""model versions: modality, categories, architecture, metrics, weights, warm start

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "model_versions", sa.Column("modality", sa.String(16), nullable=False, server_default="text")
    )
    op.add_column("model_versions", sa.Column("categories", sa.JSON, nullable=False, server_default="[]"))
    op.add_column("model_versions", sa.Column("arch", sa.JSON, nullable=False, server_default="{}"))
    op.add_column("model_versions", sa.Column("metrics", sa.JSON, nullable=False, server_default="{}"))
    op.add_column("model_versions", sa.Column("weights_path", sa.Text, nullable=False, server_default=""))
    op.add_column("model_versions", sa.Column("warm_start_model_id", sa.String(64), nullable=True))
    op.create_unique_constraint("uq_model_versions_job_version", "model_versions", ["job_id", "version"])


def downgrade() -> None:
    op.drop_constraint("uq_model_versions_job_version", "model_versions", type_="unique")
    for column in ("warm_start_model_id", "weights_path", "metrics", "arch", "categories", "modality"):
        op.drop_column("model_versions", column)
