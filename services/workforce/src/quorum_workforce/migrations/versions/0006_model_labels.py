"""automated-labeling jobs: the model's predicted class for each object sent to humans ("" for the others)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_objects", sa.Column("model_label", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("job_objects", "model_label")
