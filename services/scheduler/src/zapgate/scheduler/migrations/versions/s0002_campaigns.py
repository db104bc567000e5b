"""campaigns

Revision ID: s0002
Revises: s0001
Create Date: 2026-12-02 06:09:59.136943
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 's0002'
down_revision = 's0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sch_campaigns',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('list_id', sa.String(length=26), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=64)), nullable=True),
    sa.Column('message', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('template_id', sa.String(length=26), nullable=True),
    sa.Column('variables', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sessions', postgresql.ARRAY(sa.String(length=63)), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('throttle', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('window', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('progress_sent', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('progress_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sch_campaigns'))
    )
    op.create_index('ix_sch_campaigns_live', 'sch_campaigns', ['state'], unique=False, postgresql_where="state IN ('scheduled', 'running')")
    op.create_index(op.f('ix_sch_campaigns_tenant_id'), 'sch_campaigns', ['tenant_id'], unique=False)
    op.create_table('sch_campaign_lanes',
    sa.Column('campaign_id', sa.String(length=26), nullable=False),
    sa.Column('session', sa.String(length=63), nullable=False),
    sa.Column('next_send_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('sent_today', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['sch_campaigns.id'], name=op.f('fk_sch_campaign_lanes_campaign_id_sch_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'session', name=op.f('pk_sch_campaign_lanes'))
    )
    op.add_column('sch_deliveries', sa.Column('campaign_id', sa.String(length=26), nullable=True))
    op.add_column('sch_deliveries', sa.Column('seq', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('sch_deliveries', sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_sch_deliveries_campaign', 'sch_deliveries', ['campaign_id', 'session', 'seq'], unique=False)
    op.create_index('ix_sch_deliveries_chat', 'sch_deliveries', ['tenant_id', 'chat'], unique=False)
    op.create_foreign_key(op.f('fk_sch_deliveries_campaign_id_sch_campaigns'), 'sch_deliveries', 'sch_campaigns', ['campaign_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_sch_deliveries_campaign_id_sch_campaigns'), 'sch_deliveries', type_='foreignkey')
    op.drop_index('ix_sch_deliveries_chat', table_name='sch_deliveries')
    op.drop_index('ix_sch_deliveries_campaign', table_name='sch_deliveries')
    op.drop_column('sch_deliveries', 'replied_at')
    op.drop_column('sch_deliveries', 'seq')
    op.drop_column('sch_deliveries', 'campaign_id')
    op.drop_table('sch_campaign_lanes')
    op.drop_index(op.f('ix_sch_campaigns_tenant_id'), table_name='sch_campaigns')
    op.drop_index('ix_sch_campaigns_live', table_name='sch_campaigns', postgresql_where="state IN ('scheduled', 'running')")
    op.drop_table('sch_campaigns')
