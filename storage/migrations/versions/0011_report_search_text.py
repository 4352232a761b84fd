"""Reports: the case-folded text the dashboard's word search reads

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 19:10:00
"""
from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BATCH = 5000


def _searchable(description: str | None, address: str | None) -> str:
    # As complaints.reports.searchable does it (a migration keeps its own copy: the code may change).
    text = "\n".join(part for part in (description, address) if part)
    return unicodedata.normalize("NFC", text).casefold()


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    connection = op.get_bind()
    reports = sa.table('reports', sa.column('id', sa.Integer), sa.column('description', sa.Text),
                       sa.column('address_text', sa.String), sa.column('search_text', sa.Text))
    last = 0
    while True:
        rows = connection.execute(sa.select(reports.c.id, reports.c.description, reports.c.address_text)
                                  .where(reports.c.id > last).order_by(reports.c.id).limit(BATCH)).all()
        if not rows:
            break
        connection.execute(reports.update().where(reports.c.id == sa.bindparam('row_id'))
                           .values(search_text=sa.bindparam('text')),
                           [{'row_id': row.id, 'text': _searchable(row.description, row.address_text)} for row in rows])
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('search_text')
