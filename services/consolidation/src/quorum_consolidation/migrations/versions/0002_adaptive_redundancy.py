"""adaptive redundancy: an object's minimum answers and target confidence

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
    op.add_column("object_state", sa.Column("min_answers", sa.Integer, nullable=False, server_default="0"))
    op.add_column(
        "object_state", sa.Column("target_confidence", sa.Float, nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("object_state", "target_confidence")
    op.drop_column("object_state", "min_answers")
