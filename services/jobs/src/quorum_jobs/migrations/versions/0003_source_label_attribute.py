"""verification and adjustment jobs: the attribute of the input lines holding the previous label

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
    op.add_column("jobs", sa.Column("source_label_attribute", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("jobs", "source_label_attribute")
