"""The `loa` command line."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click
from pydantic import ValidationError

from bot.logs import setup_logging
from bot.settings import Settings

NO_TOKEN = """\
Loa needs a Telegram bot token, and TELEGRAM_BOT_TOKEN is not set.

  1. In Telegram, open @BotFather (https://t.me/BotFather) and send /newbot.
  2. Choose a name and a username ending in "bot"; BotFather answers with a token
     like 123456789:AAE...
  3. Put it in a file named .env in this folder:  TELEGRAM_BOT_TOKEN=123456789:AAE...
     (or export it in the environment), then run `loa run` again.
"""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        lines = [f"  {'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in error.errors()]
        raise click.ClickException("the configuration is not valid:\n" + "\n".join(lines)) from None


@click.group(help="Loa: alerts from the city to its residents, and residents' reports to the city.")
def main() -> None:
    pass


@main.command(help="Run the bot (long polling).")
def run() -> None:
    settings = load_settings()
    if not settings.token:
        click.echo(NO_TOKEN, err=True)
        sys.exit(2)
    from telegram.error import InvalidToken, NetworkError

    from bot.runner import NotMigrated, run_polling

    setup_logging(settings.log_level, secrets=(settings.token,))
    try:
        asyncio.run(run_polling(settings))
    except InvalidToken:
        raise click.ClickException(
            "Telegram refused the bot token. Check TELEGRAM_BOT_TOKEN against what @BotFather gave you."
        ) from None
    except NetworkError as error:
        raise click.ClickException(
            f"cannot reach the Bot API at {settings.telegram_api_url}: {error.message}"
        ) from None
    except NotMigrated as error:
        raise click.ClickException(str(error)) from None


@main.group(help="The database schema.")
def db() -> None:
    pass


def _with_db(action):
    from storage.db import Database

    async def go():
        database = Database(load_settings().database_url)
        try:
            return await action(database)
        finally:
            await database.dispose()

    return asyncio.run(go())


@db.command(help="Bring the database up to the newest schema (or to REVISION).")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    from storage import migrate

    _with_db(lambda d: migrate.upgrade(d, revision))
    click.echo(f"database at {_with_db(migrate.current_revision)}")


@db.command(help="Step the schema back to REVISION (e.g. -1, or base).")
@click.argument("revision")
def downgrade(revision: str) -> None:
    from storage import migrate

    _with_db(lambda d: migrate.downgrade(d, revision))
    click.echo(f"database at {_with_db(migrate.current_revision) or 'base (empty)'}")


@db.command(help="Show the schema revision of the database.")
def current() -> None:
    from storage import migrate

    current_rev = _with_db(migrate.current_revision)
    head = migrate.head_revision()
    state = "up to date" if current_rev == head else f"behind the code's {head}: run `loa db upgrade`"
    click.echo(f"{current_rev or 'empty'} ({state})")


@db.command(help="Write a new migration from the difference between the models and the database.")
@click.option("-m", "--message", required=True)
def revision(message: str) -> None:
    from storage import migrate

    migrate.new_revision(load_settings().database_url, message)


@main.group("areas", help="Administrative units: the tree residents pick their area from.")
def areas_group() -> None:
    pass


async def _require_migrated(database) -> None:
    from storage import migrate

    if await migrate.current_revision(database) != migrate.head_revision():
        raise click.ClickException("the database is not up to date: run `loa db upgrade` first")


@areas_group.command("import", help="Create or update the units and boundaries of a data folder "
                     "(*.json unit lists, *.geojson boundaries; by default the shipped Vietnamese "
                     "data); running it again changes nothing.")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_areas(path: Path | None) -> None:
    from storage import areas

    path = path or areas.SHIPPED

    async def action(database):
        await _require_migrated(database)
        return await areas.import_units(database, path)

    started = time.perf_counter()
    try:
        counts = _with_db(action)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"areas from {path}: {counts.created} created, {counts.updated} updated, "
               f"{counts.unchanged} unchanged; {counts.with_boundary} with boundaries "
               f"({time.perf_counter() - started:.1f} s)")
    if counts.unmatched_boundaries:
        click.echo(f"boundaries of unknown units, ignored: {', '.join(counts.unmatched_boundaries)}", err=True)


@areas_group.command("show", help="Show a unit: its names, where it sits in the tree, its children.")
@click.argument("code")
def show_area(code: str) -> None:
    from storage import areas

    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            chain = await areas.path(session, code)
            return chain, (await areas.count_children(session, code) if chain else 0)

    chain, children = _with_db(action)
    if not chain:
        raise click.ClickException(f"no area with code {code}")
    area = chain[-1]
    click.echo(f"{area.code}  {area.full_name_vi} ({area.full_name_en})")
    click.echo(f"  kind: {area.kind}, level {area.level}")
    click.echo(f"  path: {' > '.join(f'{a.full_name_vi} [{a.code}]' for a in chain)}")
    click.echo(f"  children: {children}")
    if area.boundary is None:
        click.echo("  boundary: none")
    else:
        click.echo(f"  boundary: lon {area.min_lon:.5f} to {area.max_lon:.5f}, "
                   f"lat {area.min_lat:.5f} to {area.max_lat:.5f}")


if __name__ == "__main__":
    main()
