"""known-answer objects: the manifest attribute that marks them and holds their class ("" = none)

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
    op.add_column("jobs", sa.Column("known_answer_attribute", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("jobs", "known_answer_attribute")
