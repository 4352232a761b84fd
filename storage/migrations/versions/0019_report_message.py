"""Report threads: the staff's questions, the resident's answers and additions, internal notes;
the report a resident is adding to

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('author_telegram_id', sa.BigInteger(), nullable=True),
    sa.Column('author_name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('agency_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('visibility', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('photos', sa.JSON(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('area_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('reply_to_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivery', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('pauses', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('paused_hours', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reply_to_id'], ['report_message.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_message_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_report_message_report_at', ['report_id', 'at', 'id'], unique=False)
        batch_op.create_index('ix_report_message_queued', ['delivery'], unique=False,
                              postgresql_where=sa.text("delivery = 'queued'"),
                              sqlite_where=sa.text("delivery = 'queued'"))
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adding_report_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('adding_report_id')
    op.drop_table('report_message')
