"""custom jobs: the job's HTML template and each object's task input (its manifest line as JSON)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("template", sa.Text, nullable=False, server_default=""))
    op.add_column("job_objects", sa.Column("input_json", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("job_objects", "input_json")
    op.drop_column("jobs", "template")
