"""Bans and the hourly report limit under a pseudonym that /forget does not erase; the server's key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('server_secrets',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('bans',
    sa.Column('pseudonym', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('banned_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('banned_by', sa.BigInteger(), nullable=True),
    sa.Column('report_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.PrimaryKeyConstraint('pseudonym')
    )
    op.create_table('report_quota',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('report_quota', schema=None) as batch_op:
        batch_op.create_index('ix_report_quota_pseudonym_at', ['pseudonym', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_quota_at'), ['at'], unique=False)
    # Bans move to `bans`; no command ever set this column, so there is nothing to carry over.
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('banned_at')


def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('banned_at', storage.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('report_quota', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_quota_at'))
        batch_op.drop_index('ix_report_quota_pseudonym_at')
    op.drop_table('report_quota')
    op.drop_table('bans')
    op.drop_table('server_secrets')
