"""adaptive redundancy: job target/minimum, closed objects, consumer offsets (labels consumer)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("target_confidence", sa.Float, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("min_workers_per_object", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "closed_objects",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("object_id", sa.BigInteger, primary_key=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consumer_offsets")
    op.drop_table("closed_objects")
    op.drop_column("jobs", "min_workers_per_object")
    op.drop_column("jobs", "target_confidence")
