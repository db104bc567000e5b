"""worker messages (the outbox of each session) and session config

Revision ID: w0002
Revises: w0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "w0002"
down_revision = "w0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "worker_sessions", sa.Column("config", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    op.create_table(
        "worker_messages",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("session", sa.String(63), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("chat", sa.String(128), nullable=False),
        sa.Column("wa_id", sa.String(64), nullable=False),
        sa.Column("content", JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worker_messages"),
    )
    op.create_index(
        "ix_worker_messages_pending", "worker_messages", ["tenant", "session", "id"],
        postgresql_where=sa.text("rank = 0"),
    )  # fmt: skip
    op.create_index("ix_worker_messages_partition_rank", "worker_messages", ["partition", "rank"])


def downgrade() -> None:
    op.drop_table("worker_messages")
    op.drop_column("worker_sessions", "config")
