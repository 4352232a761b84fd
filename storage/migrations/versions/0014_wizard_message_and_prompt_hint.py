"""The /broadcast wizard's live message; when a staff member was told how to answer a question

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wizard_message_id', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('staff_prompts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hinted_at', storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_prompts', schema=None) as batch_op:
        batch_op.drop_column('hinted_at')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('wizard_message_id')
