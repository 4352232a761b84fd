"""Alerts: identifiers unique per owner (the sending agency, "" for the city), not globally

A CAP message is taken once per agency: agency A's message with sender S and identifier I no
longer makes agency B's message with the same S and I a duplicate.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=32), nullable=False, server_default=''))
    op.execute("UPDATE alerts SET owner = agency_code WHERE agency_code IS NOT NULL")
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_source_identifier')
        batch_op.create_index('ix_alerts_source_owner_identifier', ['source', 'owner', 'identifier'], unique=True)


def downgrade() -> None:
    # Fails if two owners share an identifier: which alert would keep it is not ours to choose.
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_source_owner_identifier')
        batch_op.create_index('ix_alerts_source_identifier', ['source', 'identifier'], unique=True)
        batch_op.drop_column('owner')
