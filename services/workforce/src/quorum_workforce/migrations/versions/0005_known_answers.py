"""known-answer objects of classification jobs: each object's known class ("" for the others)

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
    op.add_column("job_objects", sa.Column("known_label", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("job_objects", "known_label")
