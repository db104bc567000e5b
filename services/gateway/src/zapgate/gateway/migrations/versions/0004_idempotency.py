"""idempotency of lifecycle commands; request fingerprints; sends whose publish failed

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
    op.create_table(
        "unpublished_sends",
        sa.Column("message_id", sa.String(26), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_unpublished_sends_message_id_messages", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_unpublished_sends"),
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
    op.drop_table("unpublished_sends")
    op.drop_column("messages", "request_hash")
