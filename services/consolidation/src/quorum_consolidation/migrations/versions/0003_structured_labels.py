"""structured task types: answer payloads, each object's previous label, and structured labels

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
    op.add_column("answers", sa.Column("payload_json", sa.Text, nullable=False, server_default=""))
    op.add_column("object_state", sa.Column("previous_json", sa.Text, nullable=False, server_default=""))
    op.add_column("object_state", sa.Column("label_json", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("object_state", "label_json")
    op.drop_column("object_state", "previous_json")
    op.drop_column("answers", "payload_json")
