"""the event spool: events kept until NATS takes them

Revision ID: w0003
Revises: w0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "w0003"
down_revision = "w0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_event_spool",
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("dedup", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_worker_event_spool"),
    )


def downgrade() -> None:
    op.drop_table("worker_event_spool")
