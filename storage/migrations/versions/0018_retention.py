"""Retention: the per-alert tallies of deleted outbox rows, and the retention job's claim

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 13:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_tallies',
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('sent', sa.BigInteger(), nullable=False),
    sa.Column('failed', sa.BigInteger(), nullable=False),
    sa.Column('blocked', sa.BigInteger(), nullable=False),
    sa.Column('cancelled', sa.BigInteger(), nullable=False),
    sa.Column('expired', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('alert_id')
    )
    op.create_table('retention_runs',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('next_run_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_deleted', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('retention_runs')
    op.drop_table('delivery_tallies')
