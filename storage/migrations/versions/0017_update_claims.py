"""Update claims: which instance took each Telegram update, so that several instances handle
each once and each chat's in order (storage/updates.py)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 14:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('update_claims',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('taken_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('update_id')
    )
    op.create_index('ix_update_claims_chat_pending', 'update_claims', ['chat_id', 'update_id'],
                    postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))
    op.create_index('ix_update_claims_taken_pending', 'update_claims', ['taken_at'],
                    postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_update_claims_taken_pending', table_name='update_claims')
    op.drop_index('ix_update_claims_chat_pending', table_name='update_claims')
    op.drop_table('update_claims')
