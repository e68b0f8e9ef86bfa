"""adaptive redundancy: target confidence and minimum workers per object

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
    op.add_column("jobs", sa.Column("target_confidence", sa.Double, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("min_workers_per_object", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("jobs", "min_workers_per_object")
    op.drop_column("jobs", "target_confidence")
