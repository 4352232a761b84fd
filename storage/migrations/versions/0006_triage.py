"""triage: agencies, routing rules, followers of reports; the state machine's and the deadlines'
columns on reports and report events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 12:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agencies',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name_vi', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('telegram_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('area_codes', sa.JSON(), nullable=False),
    sa.Column('category_codes', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('area_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('agency_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agency_code'], ['agencies.code'], ),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], ),
    sa.ForeignKeyConstraint(['category_code'], ['categories.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('category_code', 'area_code', name='uq_routing_rules_scope')
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_rules_agency_code'), ['agency_code'], unique=False)

    op.create_table('report_followers',
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', 'resident_id')
    )
    with op.batch_alter_table('report_followers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_followers_resident_id'), ['resident_id'], unique=False)

    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('agency_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('photo_file_id', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True))
        batch_op.add_column(sa.Column('visible', sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('take_up_due_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('overdue_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rating', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('rating_comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('rated_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reopened_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_reports_agency_code'), ['agency_code'], unique=False)
        batch_op.create_foreign_key('fk_reports_duplicate_of_id_reports', 'reports', ['duplicate_of_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key('fk_reports_agency_code_agencies', 'agencies', ['agency_code'], ['code'])



def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint('fk_reports_agency_code_agencies', type_='foreignkey')
        batch_op.drop_constraint('fk_reports_duplicate_of_id_reports', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_reports_agency_code'))
        batch_op.drop_column('reopened_count')
        batch_op.drop_column('rated_at')
        batch_op.drop_column('rating_comment')
        batch_op.drop_column('rating')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('overdue_at')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('take_up_due_at')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('agency_code')

    with op.batch_alter_table('report_events', schema=None) as batch_op:
        batch_op.drop_column('visible')
        batch_op.drop_column('photo_file_id')
        batch_op.drop_column('agency_code')
        batch_op.drop_column('actor_name')
        batch_op.drop_column('action')

    with op.batch_alter_table('report_followers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_followers_resident_id'))

    op.drop_table('report_followers')
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rules_agency_code'))

    op.drop_table('routing_rules')
    op.drop_table('agencies')
