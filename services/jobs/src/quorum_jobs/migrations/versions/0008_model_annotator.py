"""automated labeling: the model's predicted class for each object an iteration sent to humans ("" = none)

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
    op.add_column("job_objects", sa.Column("model_label", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("job_objects", "model_label")
