"""objects with their own number of answers, never stopped early (the automated-labeling loop's random draws)

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
    op.add_column(
        "job_objects", sa.Column("required_answers", sa.Integer, nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("job_objects", "required_answers")
