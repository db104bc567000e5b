"""plans, subscriptions, history, usage, metering

Revision ID: b0001
Revises: 
Create Date: 2026-12-02 07:15:01.472857
"""
from alembic import op
import sqlalchemy as sa


revision = 'b0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bil_history',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('change', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('plan_id', sa.String(length=26), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bil_history'))
    )
    op.create_index(op.f('ix_bil_history_tenant_id'), 'bil_history', ['tenant_id'], unique=False)
    op.create_table('bil_metered',
    sa.Column('message_id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_bil_metered'))
    )
    op.create_table('bil_plans',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('price_cents', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('sessions_limit', sa.Integer(), nullable=True),
    sa.Column('messages_limit', sa.BigInteger(), nullable=True),
    sa.Column('trial_days', sa.Integer(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bil_plans')),
    sa.UniqueConstraint('name', name=op.f('uq_bil_plans_name'))
    )
    op.create_table('bil_usage',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('messages', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'period_start', name=op.f('pk_bil_usage'))
    )
    op.create_table('bil_subscriptions',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=26), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['bil_plans.id'], name=op.f('fk_bil_subscriptions_plan_id_bil_plans')),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_bil_subscriptions'))
    )


def downgrade() -> None:
    op.drop_table('bil_subscriptions')
    op.drop_table('bil_usage')
    op.drop_table('bil_plans')
    op.drop_table('bil_metered')
    op.drop_index(op.f('ix_bil_history_tenant_id'), table_name='bil_history')
    op.drop_table('bil_history')
