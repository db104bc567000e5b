"""chats: one row per conversation, kept as messages are recorded (listing no longer scans history)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("tenant_id", sa.String(26), nullable=False),
        sa.Column("session", sa.String(63), nullable=False),
        sa.Column("chat", sa.String(128), nullable=False),
        sa.Column("last_message_id", sa.String(26), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("unread", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_chats_tenant_id_tenants", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "session", "chat", name="pk_chats"),
    )
    op.create_index("ix_chats_recent", "chats", ["tenant_id", "session", "last_message_id"])
    # The conversations of the history recorded so far.
    op.execute(
        """
        INSERT INTO chats (tenant_id, session, chat, last_message_id, last_message_at, messages, unread)
        SELECT tenant_id, session, chat, max(id), max(created_at), count(*),
               count(*) FILTER (WHERE direction = 'in' AND NOT seen)
        FROM messages GROUP BY tenant_id, session, chat
        """
    )


def downgrade() -> None:
    op.drop_index("ix_chats_recent", table_name="chats")
    op.drop_table("chats")
