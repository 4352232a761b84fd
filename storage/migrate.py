"""Alembic, driven from code: `loa db ...` and the tests use these."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def _on_connection(db: Database, action, *args) -> None:
    config = alembic_config(db.url)

    def run(connection) -> None:
        config.attributes["connection"] = connection
        action(config, *args)

    async with db.engine.begin() as connection:
        await connection.run_sync(run)


async def upgrade(db: Database, revision: str = "head") -> None:
    await _on_connection(db, command.upgrade, revision)


async def downgrade(db: Database, revision: str) -> None:
    await _on_connection(db, command.downgrade, revision)


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def pending_model_changes(db: Database) -> list:
    """What the models declare that the migrations do not create (empty when they agree)."""
    def diff(connection) -> list:
        ctx = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": storage.models.included_for(connection.dialect.name)})
        return compare_metadata(ctx, SQLModel.metadata)

    async with db.engine.connect() as connection:
        return await connection.run_sync(diff)


def new_revision(url: str, message: str) -> None:
    """Write a new migration from the difference between the models and the database at `url`."""
    command.revision(alembic_config(url), message=message, autogenerate=True)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
