"""staff cards: where each report's cards are in the moderators' and the agency's groups, the
questions the bot asked staff there, and an index for the duplicate suggestions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mod_card_chat_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('mod_card_message_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('agency_card_chat_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('agency_card_message_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('cards_synced_at', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_reports_category_created', ['category_code', 'created_at'], unique=False)
    # Reports filed before this version are not posted to the groups now.
    op.execute("UPDATE reports SET cards_synced_at = updated_at")

    op.create_table('staff_prompts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('telegram_id', sa.BigInteger(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('expected_event_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chat_id', 'message_id', name='uq_staff_prompts_message')
    )


def downgrade() -> None:
    op.drop_table('staff_prompts')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_category_created')
        batch_op.drop_column('cards_synced_at')
        batch_op.drop_column('agency_card_message_id')
        batch_op.drop_column('agency_card_chat_id')
        batch_op.drop_column('mod_card_message_id')
        batch_op.drop_column('mod_card_chat_id')
