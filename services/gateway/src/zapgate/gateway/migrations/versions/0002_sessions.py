"""sessions: desired state and projected status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("tenant_id", sa.String(26), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("config", postgresql.JSONB(), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("qr_value", sa.Text(), nullable=True),
        sa.Column("qr_index", sa.Integer(), nullable=True),
        sa.Column("qr_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_sessions_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_sessions_tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("sessions")
