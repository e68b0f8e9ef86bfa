"""known-answer objects: each object's known class ("" for the others), from its answer events

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
    op.add_column("object_state", sa.Column("known_label", sa.String(256), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("object_state", "known_label")
