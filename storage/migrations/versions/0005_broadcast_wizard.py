"""alerts: the broadcaster's wizard step and language

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 11:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wizard_step', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('sender_language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.create_index('ix_alerts_sender_step', ['sender_telegram_id', 'wizard_step'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_sender_step')
        batch_op.drop_column('sender_language')
        batch_op.drop_column('wizard_step')
