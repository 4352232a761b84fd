"""Retention of the update claims (an index on done_at), and the retention job run once by the
advisory lock of storage/jobs.py: `retention_runs` keeps what the last run deleted only

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_update_claims_done', 'update_claims', ['done_at'], unique=False,
                    postgresql_where=sa.text('done_at IS NOT NULL'), sqlite_where=sa.text('done_at IS NOT NULL'))
    with op.batch_alter_table('retention_runs') as batch:
        batch.drop_column('next_run_at')


def downgrade() -> None:
    with op.batch_alter_table('retention_runs') as batch:
        batch.add_column(sa.Column('next_run_at', storage.types.UTCDateTime(timezone=True), nullable=False,
                                   server_default=sa.text("'1970-01-01 00:00:00+00:00'")))
    op.drop_index('ix_update_claims_done', table_name='update_claims')
