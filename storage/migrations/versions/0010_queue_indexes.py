"""Dashboard queue: indexes for its sorts, state by state, and for its counts per state

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_created_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_updated_id', ['updated_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_due_id', ['due_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_priority_id', ['priority', 'id'], unique=False)
        batch_op.create_index('ix_reports_state_created_id', ['state', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_state_updated_id', ['state', 'updated_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_state_due_id', ['state', 'due_at', 'id'], unique=False)
        batch_op.create_index('ix_reports_agency_state', ['agency_code', 'state'], unique=False)
        batch_op.create_index('ix_reports_area_state', ['area_code', 'state'], unique=False)
        batch_op.create_index('ix_reports_category_state', ['category_code', 'state'], unique=False)
        batch_op.create_index('ix_reports_overdue_state_due', ['state', 'due_at', 'id'], unique=False, postgresql_where=sa.text('overdue_at IS NOT NULL'), sqlite_where=sa.text('overdue_at IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_overdue_state_due', postgresql_where=sa.text('overdue_at IS NOT NULL'), sqlite_where=sa.text('overdue_at IS NOT NULL'))
        batch_op.drop_index('ix_reports_category_state')
        batch_op.drop_index('ix_reports_area_state')
        batch_op.drop_index('ix_reports_agency_state')
        batch_op.drop_index('ix_reports_state_due_id')
        batch_op.drop_index('ix_reports_state_updated_id')
        batch_op.drop_index('ix_reports_state_created_id')
        batch_op.drop_index('ix_reports_priority_id')
        batch_op.drop_index('ix_reports_due_id')
        batch_op.drop_index('ix_reports_updated_id')
        batch_op.drop_index('ix_reports_created_id')
