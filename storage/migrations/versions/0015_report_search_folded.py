"""Reports: the search text as folded words (no case, no diacritics, đ as d), each after a space;
on SQLite, an index of it with the state for the search to read

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 11:00:00
"""
from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

BATCH = 5000


_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")


def _folded(text: str) -> str:
    # As complaints.reports.searchable does it with kernel.text.words (a migration keeps its own
    # copy: the code may change): folded words, each after a space.
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).replace("đ", "d").replace("ð", "d")
    return "".join(" " + word for word in _WORD.findall(text))


def _case_folded(text: str) -> str:
    # What 0011 wrote.
    return unicodedata.normalize("NFC", text).casefold()


def _rewrite(fold) -> None:
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
                           [{'row_id': row.id,
                             'text': fold("\n".join(part for part in (row.description, row.address_text) if part))}
                            for row in rows])
        last = rows[-1].id


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    _rewrite(_folded)
    if _sqlite():  # the models' ddl_if(dialect="sqlite")
        with op.batch_alter_table('reports', schema=None) as batch_op:
            batch_op.create_index('ix_reports_search_text', ['search_text', 'state', 'code'], unique=False)


def downgrade() -> None:
    if _sqlite():
        with op.batch_alter_table('reports', schema=None) as batch_op:
            batch_op.drop_index('ix_reports_search_text')
    _rewrite(_case_folded)
