"""automated labeling: each object's model label ("" for the others), from its answer events

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("object_state", sa.Column("model_label", sa.String(256), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("object_state", "model_label")
