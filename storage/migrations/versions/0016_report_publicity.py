"""What the public portal may show of a report (and of a draft): photo, place or ward

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 13:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reports filed before residents were asked show only their ward, never a photo.
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publicity', sa.String(length=8), nullable=False, server_default='ward'))
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publicity', sa.String(length=8), nullable=False, server_default='ward'))


def downgrade() -> None:
    with op.batch_alter_table('report_drafts', schema=None) as batch_op:
        batch_op.drop_column('publicity')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('publicity')
