"""PIX charges, processed notifications, the simulator provider's payments, alerts

Revision ID: b0002
Revises: b0001
Create Date: 2026-12-02 16:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = 'b0002'
down_revision = 'b0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bil_charges',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=26), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('period_key', sa.String(length=40), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=True),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('qr_code', sa.Text(), nullable=True),
    sa.Column('ticket_url', sa.Text(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bil_charges')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_bil_charges_idempotency_key'))
    )
    op.create_index(op.f('ix_bil_charges_tenant_id'), 'bil_charges', ['tenant_id'], unique=False)
    op.create_table('bil_notifications',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_bil_notifications'))
    )
    op.create_table('bil_simulated_payments',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('external_reference', sa.String(length=64), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('qr_code', sa.Text(), nullable=False),
    sa.Column('date_of_expiration', sa.DateTime(timezone=True), nullable=False),
    sa.Column('date_approved', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bil_simulated_payments')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_bil_simulated_payments_idempotency_key'))
    )
    op.create_table('bil_alerts',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'key', name=op.f('pk_bil_alerts'))
    )
    op.create_index(op.f('ix_bil_alerts_published_at'), 'bil_alerts', ['published_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_bil_alerts_published_at'), table_name='bil_alerts')
    op.drop_table('bil_alerts')
    op.drop_table('bil_simulated_payments')
    op.drop_table('bil_notifications')
    op.drop_index(op.f('ix_bil_charges_tenant_id'), table_name='bil_charges')
    op.drop_table('bil_charges')
