"""worker sessions: desired state and encrypted credentials

Revision ID: w0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "w0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_sessions",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("session", sa.String(63), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("credentials", sa.LargeBinary(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "session", name="pk_worker_sessions"),
    )
    op.create_index("ix_worker_sessions_partition", "worker_sessions", ["partition"])


def downgrade() -> None:
    op.drop_table("worker_sessions")
