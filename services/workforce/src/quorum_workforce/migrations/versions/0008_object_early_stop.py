"""objects with their own early stop: min_answers takers at once, then one at a time until the label's
posterior reaches target_confidence (the automated-labeling loop's random draws)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_objects", sa.Column("min_answers", sa.Integer, nullable=False, server_default="0"))
    op.add_column("job_objects", sa.Column("target_confidence", sa.Float, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("job_objects", "target_confidence")
    op.drop_column("job_objects", "min_answers")
