"""custom jobs: the requester's HTML template and the post-processing ("majority" | "all")

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("template", sa.Text, nullable=False, server_default=""))
    op.add_column("jobs", sa.Column("custom_consolidation", sa.String(20), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("jobs", "custom_consolidation")
    op.drop_column("jobs", "template")
