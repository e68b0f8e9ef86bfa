"""automated labeling: answers per random draw (auto_labeling.validation_workers_per_object), kept per object

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("auto_validation_workers", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column(
        "job_objects", sa.Column("required_answers", sa.Integer, nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("job_objects", "required_answers")
    op.drop_column("jobs", "auto_validation_workers")
