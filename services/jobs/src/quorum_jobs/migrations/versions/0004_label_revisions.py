"""label revisions: consolidation revises a label when a refitted worker model changes it

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_objects", sa.Column("label_revision", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("job_objects", "label_revision")
