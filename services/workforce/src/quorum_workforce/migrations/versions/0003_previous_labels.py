"""verification and adjustment jobs: each object's previous label, shown to the worker

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_objects", sa.Column("previous_json", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("job_objects", "previous_json")
