"""idempotency of lifecycle commands; request fingerprints; re-queueing of stuck sends

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("request_hash", sa.String(64), nullable=True))
    op.add_column("messages", sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_messages_queued", "messages", ["created_at"], postgresql_where=sa.text("direction = 'out' AND rank = 0")
    )
    op.create_table(
        "command_keys",
        sa.Column("tenant_id", sa.String(26), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("session", sa.String(63), nullable=False),
        sa.Column("verb", sa.String(16), nullable=False),
        sa.Column("command_id", sa.String(26), nullable=False),
        sa.Column("command", sa.LargeBinary(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_command_keys_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_command_keys"),
    )


def downgrade() -> None:
    op.drop_table("command_keys")
    op.drop_index("ix_messages_queued", table_name="messages")
    op.drop_column("messages", "requeued_at")
    op.drop_column("messages", "request_hash")
