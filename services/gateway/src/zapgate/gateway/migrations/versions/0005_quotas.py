"""per-tenant quota overrides; media objects counted against a tenant's media quota

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("quotas", postgresql.JSONB(), nullable=True))
    op.create_table(
        "media_objects",
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("tenant_id", sa.String(26), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_media_objects_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_media_objects"),
    )
    op.create_index("ix_media_objects_tenant", "media_objects", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_media_objects_tenant", table_name="media_objects")
    op.drop_table("media_objects")
    op.drop_column("tenants", "quotas")
