"""adaptive automated-labeling jobs: the loop's random draws get every answer the job allows

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
        "job_objects", sa.Column("full_redundancy", sa.Boolean, nullable=False, server_default="false")
    )


def downgrade() -> None:
    op.drop_column("job_objects", "full_redundancy")
