"""Alembic environment: async engines, batch mode on SQLite, or a connection handed in by storage.migrate."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import Database

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=storage.models.included_for(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    db = Database(config.get_main_option("sqlalchemy.url"))
    try:
        async with db.engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await db.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _configure(connection)
else:
    asyncio.run(_run_with_own_engine())
