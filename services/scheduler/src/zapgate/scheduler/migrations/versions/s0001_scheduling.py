"""contacts, opt-out, templates, schedules, fires, deliveries

Revision ID: s0001
Revises: 
Create Date: 2026-12-02 05:53:58.783169
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 's0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sch_lists',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sch_lists'))
    )
    op.create_index(op.f('ix_sch_lists_tenant_id'), 'sch_lists', ['tenant_id'], unique=False)
    op.create_table('sch_schedules',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('session', sa.String(length=63), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cron', sa.String(length=200), nullable=True),
    sa.Column('interval_seconds', sa.Integer(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('max_count', sa.Integer(), nullable=True),
    sa.Column('fired', sa.Integer(), nullable=False),
    sa.Column('next_fire_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('to_chat', sa.String(length=128), nullable=True),
    sa.Column('list_id', sa.String(length=26), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=64)), nullable=True),
    sa.Column('message', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('template_id', sa.String(length=26), nullable=True),
    sa.Column('variables', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('catchup_seconds', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sch_schedules'))
    )
    op.create_index('ix_sch_schedules_due', 'sch_schedules', ['next_fire_at'], unique=False, postgresql_where="state = 'active'")
    op.create_index(op.f('ix_sch_schedules_tenant_id'), 'sch_schedules', ['tenant_id'], unique=False)
    op.create_table('sch_suppressions',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('chat', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'chat', name=op.f('pk_sch_suppressions'))
    )
    op.create_table('sch_templates',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('message', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('defaults', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sch_templates'))
    )
    op.create_index(op.f('ix_sch_templates_tenant_id'), 'sch_templates', ['tenant_id'], unique=False)
    op.create_table('sch_tenant_settings',
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('optout_keywords', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_sch_tenant_settings'))
    )
    op.create_table('sch_contacts',
    sa.Column('list_id', sa.String(length=26), nullable=False),
    sa.Column('chat', sa.String(length=128), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('fields', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['sch_lists.id'], name=op.f('fk_sch_contacts_list_id_sch_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', 'chat', name=op.f('pk_sch_contacts'))
    )
    op.create_table('sch_fires',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('schedule_id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('nominal_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['schedule_id'], ['sch_schedules.id'], name=op.f('fk_sch_fires_schedule_id_sch_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sch_fires')),
    sa.UniqueConstraint('schedule_id', 'nominal_at', name='uq_sch_fires_schedule_nominal')
    )
    op.create_index(op.f('ix_sch_fires_schedule_id'), 'sch_fires', ['schedule_id'], unique=False)
    op.create_table('sch_deliveries',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('fire_id', sa.String(length=26), nullable=True),
    sa.Column('session', sa.String(length=63), nullable=False),
    sa.Column('chat', sa.String(length=128), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('message', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('message_id', sa.String(length=26), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fire_id'], ['sch_fires.id'], name=op.f('fk_sch_deliveries_fire_id_sch_fires'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sch_deliveries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_sch_deliveries_idempotency_key'))
    )
    op.create_index(op.f('ix_sch_deliveries_fire_id'), 'sch_deliveries', ['fire_id'], unique=False)
    op.create_index('ix_sch_deliveries_message', 'sch_deliveries', ['message_id'], unique=False)
    op.create_index('ix_sch_deliveries_pending', 'sch_deliveries', ['next_attempt_at'], unique=False, postgresql_where="status = 'pending'")


def downgrade() -> None:
    op.drop_index('ix_sch_deliveries_pending', table_name='sch_deliveries', postgresql_where="status = 'pending'")
    op.drop_index('ix_sch_deliveries_message', table_name='sch_deliveries')
    op.drop_index(op.f('ix_sch_deliveries_fire_id'), table_name='sch_deliveries')
    op.drop_table('sch_deliveries')
    op.drop_index(op.f('ix_sch_fires_schedule_id'), table_name='sch_fires')
    op.drop_table('sch_fires')
    op.drop_table('sch_contacts')
    op.drop_table('sch_tenant_settings')
    op.drop_index(op.f('ix_sch_templates_tenant_id'), table_name='sch_templates')
    op.drop_table('sch_templates')
    op.drop_table('sch_suppressions')
    op.drop_index(op.f('ix_sch_schedules_tenant_id'), table_name='sch_schedules')
    op.drop_index('ix_sch_schedules_due', table_name='sch_schedules', postgresql_where="state = 'active'")
    op.drop_table('sch_schedules')
    op.drop_index(op.f('ix_sch_lists_tenant_id'), table_name='sch_lists')
    op.drop_table('sch_lists')
