"""topics, subscriptions, onboarding state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:42:03.564851
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# The default alert topics, seeded once; a city edits the `topics` table to change them (README, "Agencies and areas").
DEFAULT_TOPICS = [
    ("weather", "Thời tiết và thiên tai", "Weather and disasters"),
    ("traffic", "Giao thông", "Traffic"),
    ("health", "Y tế và dịch bệnh", "Health and epidemics"),
    ("food_safety", "An toàn thực phẩm", "Food safety"),
    ("security", "An ninh trật tự", "Public security"),
    ("utilities", "Điện, nước", "Power and water"),
    ("general", "Thông báo chung", "General announcements"),
]


def upgrade() -> None:
    topics = op.create_table('topics',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name_vi', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('subscribed_by_default', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.bulk_insert(topics, [
        {"code": code, "name_vi": vi, "name_en": en, "position": i, "subscribed_by_default": True}
        for i, (code, vi, en) in enumerate(DEFAULT_TOPICS)
    ])
    op.create_table('subscriptions',
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('topic_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_code'], ['topics.code'], ),
    sa.PrimaryKeyConstraint('resident_id', 'topic_code')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_topic_code'), ['topic_code'], unique=False)

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('onboarded', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('awaiting', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('awaiting')
        batch_op.drop_column('onboarded')

    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_topic_code'))

    op.drop_table('subscriptions')
    op.drop_table('topics')
