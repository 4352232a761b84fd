"""The `loa` command line: on top of every layer (docs/ARCHITECTURE.md), since `loa run` starts
either the bot (bot/runner.py) or, without a token, the sandbox (sandbox/run.py), and the
operator's commands (db, areas, broadcast, roles, agencies, tokens, residents, retention) call the domain
and storage directly."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from pydantic import ValidationError
from sqlalchemy import select

from broadcasts import alerts, lifecycle
from broadcasts.alerts import Severity, Urgency
from broadcasts.drafts import unknown_choices
from broadcasts.service import SenderService
from complaints import agencies, bans, media, retention
from kernel.i18n import translator
from kernel.logs import setup_logging
from kernel.settings import Settings
from storage import areas, jobs, migrate, roles, tokens
from storage.db import Database
from storage.models import Alert, Area, Category

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


@main.command(help="Run the bot and its HTTP server (HTTP_HOST:HTTP_PORT: health, metrics, APIs) "
              "until Ctrl-C or SIGTERM. Long polling, or a webhook with --webhook or when WEBHOOK_URL is set. "
              "Without TELEGRAM_BOT_TOKEN: the sandbox (the bot on the built-in Telegram emulator, demo data, "
              "a web chat at http://HTTP_HOST:HTTP_PORT/).")
@click.option("--webhook", is_flag=True,
              help="Receive updates on a webhook at WEBHOOK_URL (needs WEBHOOK_URL and WEBHOOK_SECRET).")
@click.option("--prepare", is_flag=True,
              help="Before starting the bot, bring its database up to the newest schema and import the shipped "
                   "areas (what `make run` does). The sandbox ignores it: it builds a database of its own.")
def run(webhook: bool, prepare: bool) -> None:
    settings = load_settings()
    if not settings.token:
        if webhook or settings.webhook_url:
            raise click.ClickException("webhook mode needs TELEGRAM_BOT_TOKEN, the token @BotFather gives the bot "
                                       "(https://t.me/BotFather, /newbot)")
        _run_sandbox(settings)
        return
    # Here, not at the top: the bot, its web server and the sandbox cost about 2 s of CPU to import
    # (4.5 s against 2.5 s for the rest, `python -X importtime`), which every other `loa` command
    # (db upgrade, roles, broadcast...) would pay. No circle: nothing imports this module.
    from telegram.error import InvalidToken, NetworkError

    from bot.runner import CannotStart
    from bot.runner import run as run_bot
    from web import webhook as hooks

    if webhook or settings.webhook_url:
        trouble = hooks.problem(settings)
        if trouble:
            raise click.ClickException(trouble)
    if prepare:
        _prepare(settings)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    setup_logging(settings.log_level, secrets=(settings.token, secret))
    try:
        asyncio.run(run_bot(settings))
    except InvalidToken:
        raise click.ClickException(
            "Telegram refused the bot token. Check TELEGRAM_BOT_TOKEN against what @BotFather gave you."
        ) from None
    except NetworkError as error:
        raise click.ClickException(
            f"cannot reach the Bot API at {settings.telegram_api_url}: {error.message}"
        ) from None
    except CannotStart as error:
        raise click.ClickException(str(error)) from None


def _prepare(settings: Settings) -> None:
    """`loa db upgrade` and `loa areas import`, for `make run` with a token: only the real bot's
    database is prepared, so that the sandbox never touches it."""

    async def action(database):
        await migrate.upgrade(database)
        return await areas.import_units(database, areas.SHIPPED)

    counts = _with_db(action, settings)
    click.echo(f"database at {migrate.head_revision()}; areas: {counts.created} created, {counts.updated} updated, "
               f"{counts.unchanged} unchanged")


def _run_sandbox(settings: Settings) -> None:
    # Here, not at the top: see `run`.
    from bot.runner import CannotStart, stop_on_signals
    from sandbox import run as sandbox

    setup_logging(settings.log_level)

    async def serve() -> None:
        await sandbox.run(settings, stop_on_signals(), announce=click.echo)

    try:
        asyncio.run(serve())
    except CannotStart as error:
        raise click.ClickException(str(error)) from None


@main.group(help="The database schema.")
def db() -> None:
    pass


def _with_db(action, settings: Settings | None = None):
    async def go():
        loaded = settings or load_settings()
        database = Database(loaded.database_url, pool_size=loaded.db_pool_size)
        try:
            return await action(database)
        finally:
            await database.dispose()

    return asyncio.run(go())


@db.command(help="Bring the database up to the newest schema (or to REVISION).")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    _with_db(lambda d: migrate.upgrade(d, revision))
    click.echo(f"database at {_with_db(migrate.current_revision)}")


@db.command(help="Step the schema back to REVISION (e.g. -1, or base).")
@click.argument("revision")
def downgrade(revision: str) -> None:
    _with_db(lambda d: migrate.downgrade(d, revision))
    click.echo(f"database at {_with_db(migrate.current_revision) or 'base (empty)'}")


@db.command(help="Show the schema revision of the database.")
def current() -> None:
    current_rev = _with_db(migrate.current_revision)
    head = migrate.head_revision()
    state = "up to date" if current_rev == head else f"behind the code's {head}: run `loa db upgrade`"
    click.echo(f"{current_rev or 'empty'} ({state})")


@db.command(help="Write a new migration from the difference between the models and the database.")
@click.option("-m", "--message", required=True)
def revision(message: str) -> None:
    migrate.new_revision(load_settings().database_url, message)


@main.group("areas", help="Administrative units: the tree residents pick their area from.")
def areas_group() -> None:
    pass


async def _require_migrated(database) -> None:
    if await migrate.current_revision(database) != migrate.head_revision():
        raise click.ClickException("the database is not up to date: run `loa db upgrade` first")


@areas_group.command("import", help="Create or update the units and boundaries of a data folder "
                     "(*.json unit lists, *.geojson boundaries; by default the shipped Vietnamese "
                     "data); running it again changes nothing.")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_areas(path: Path | None) -> None:
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


# ---------------------------------------------------------------- broadcasts


class InvalidInput(click.ClickException):
    """A bad option value: one line naming the valid choices, exit code 2 (like a usage error)."""

    exit_code = 2


FOLLOW_INTERVAL = 1.0  # seconds between two progress lines


@main.group("broadcast", help="Alerts to the residents who follow a topic in some areas.")
def broadcast_group() -> None:
    pass


def _parse_expires(value: str | None, tz):
    """"2h", "30m", "1d", "90s" from now, or an ISO time (the city's time zone if it has none)."""
    if value is None:
        return None
    now = datetime.now(timezone.utc)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value.lower())
    if match:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        moment = now + timedelta(seconds=float(match.group(1)) * unit)
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"--expires {value!r} is neither a duration (30m, 2h, 1d) nor an ISO time "
                               "(2026-11-24T18:00)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
    if moment <= now:
        raise InvalidInput(f"--expires {value!r} is in the past")
    return moment.astimezone(timezone.utc)


async def _check_choices(session, topic: str, area_codes: list[str]) -> None:

    unknown = await unknown_choices(session, topic, area_codes)
    if unknown.topic:
        raise InvalidInput(f"unknown topic {topic!r} (choose from "
                           f"{', '.join(unknown.topics) or 'none: the topics table is empty'})")
    if unknown.areas:
        top = (await session.execute(select(Area.code).where(Area.parent_code.is_(None))
                                     .order_by(Area.code))).scalars().all()
        if not top:
            raise InvalidInput(f"unknown area {unknown.areas[0]!r}: there are no areas in the database "
                               "(run `loa areas import` first)")
        raise InvalidInput(f"unknown area {', '.join(map(repr, unknown.areas))} (an area code, see `loa areas show "
                           f"CODE`; the top-level ones are {', '.join(top)})")


def _progress_line(progress, elapsed: float | None = None) -> str:
    at = f"{elapsed:6.1f} s  " if elapsed is not None else ""
    return (f"  {at}sent {progress.sent:,}  failed {progress.failed:,}  "
            f"blocked {progress.blocked:,}  waiting for quiet hours {progress.waiting_quiet_hours:,}  "
            f"remaining {progress.remaining:,}")


def _summary(alert_id: int, progress, elapsed: float | None = None) -> str:
    took = f" in {elapsed:.1f} s" if elapsed is not None else ""
    parts = [f"{progress.sent:,} sent", f"{progress.failed:,} failed", f"{progress.blocked:,} blocked"]
    for name in ("cancelled", "expired"):
        if getattr(progress, name):
            parts.append(f"{getattr(progress, name):,} {name}")
    return f"alert {alert_id}{took}: " + ", ".join(parts) + f" of {progress.total:,}"


async def _follow(database, settings, alert_id: int, interval: float) -> int:
    """Print progress until nothing is due for the alert; send it too if no bot is sending.

    Returns the exit code: 0 when everything due was handled, 1 if the alert was cancelled
    meanwhile or following was interrupted.
    """

    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupted.set)
    # This process sends only if it is elected: no running bot holds the sender lock. It keeps
    # trying while it follows, so it also takes over if the bot stops halfway.
    service = SenderService(database, settings)
    service.start()
    started = time.monotonic()
    said_who = False
    code = 0
    try:
        while True:
            async with database.read() as session:
                progress = await alerts.progress(session, alert_id)
                status = (await session.get(Alert, alert_id)).status
            if not said_who and (service.leading or time.monotonic() - started > 3 or progress.sent):
                said_who = True
                click.echo("sending from this process (no bot is running)" if service.leading
                           else "a running bot is sending it; following its progress")
            if progress.remaining == 0 or status == alerts.Status.CANCELLED:
                break
            click.echo(_progress_line(progress, time.monotonic() - started))
            try:
                await asyncio.wait_for(interrupted.wait(), interval)
            except TimeoutError:
                continue
            click.echo(f"interrupted: the rest is sent by the bot, or by `loa broadcast send` again; "
                       f"follow it with `loa broadcast status {alert_id}`", err=True)
            return 1
        click.echo(_summary(alert_id, progress, time.monotonic() - started))
        if status == alerts.Status.CANCELLED:
            click.echo(f"alert {alert_id} was cancelled")
            code = 1
        if progress.waiting_quiet_hours:
            click.echo(f"{progress.waiting_quiet_hours:,} wait for the end of the residents' quiet hours; "
                       f"the running bot sends them then (`loa broadcast status {alert_id}`)")
        return code
    finally:
        await service.stop()  # writes the outcomes of messages in flight
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@broadcast_group.command("send", help="Send an alert now: to the residents of the areas (and every unit "
                         "below them) who follow the topic. Prints the number of recipients, then the "
                         "progress until it is sent; this process sends it unless a running bot does.")
@click.option("--topic", required=True, help="topic code, e.g. weather")
@click.option("--area", "area_codes", required=True, multiple=True, help="area code (repeat for several)")
@click.option("--severity", required=True, help="extreme, severe, moderate, minor or unknown")
@click.option("--urgency", default="unknown", show_default=True,
              help="immediate, expected, future, past or unknown")
@click.option("--text", required=True, help="the message, in Vietnamese")
@click.option("--text-en", help="the message in English, for residents who chose English")
@click.option("--link", help="a link for more information (http or https)")
@click.option("--expires", help="not sent after this: a duration (30m, 2h, 1d) or an ISO time")
@click.option("--paid", is_flag=True, help="send as a paid broadcast (Telegram allows over 30 a second, billed)")
@click.option("--no-wait", is_flag=True, help="only queue it: the running bot sends it")
@click.option("--interval", type=float, default=FOLLOW_INTERVAL, show_default=True, hidden=True,
              help="seconds between two progress lines")
def broadcast_send(topic: str, area_codes: tuple[str, ...], severity: str, urgency: str, text: str,
                   text_en: str | None, link: str | None, expires: str | None, paid: bool, no_wait: bool,
                   interval: float) -> None:
    settings = load_settings()
    severities = [s.value for s in Severity]
    if severity.lower() not in severities:
        raise InvalidInput(f"unknown severity {severity!r} (choose from {', '.join(severities)})")
    urgencies = [u.value for u in Urgency]
    if urgency.lower() not in urgencies:
        raise InvalidInput(f"unknown urgency {urgency!r} (choose from {', '.join(urgencies)})")
    if not text.strip():
        raise InvalidInput("--text is empty")
    if link is not None and not link.startswith(("http://", "https://")):
        raise InvalidInput(f"--link {link!r} is not an http or https address")
    expires_at = _parse_expires(expires, settings.tz)
    if not no_wait and not settings.token:
        click.echo(NO_TOKEN.replace("`loa run`", "the command"), err=True)
        sys.exit(2)
    setup_logging("WARNING", secrets=(settings.token or "",))
    texts = {"vi": text.strip()}
    if text_en and text_en.strip():
        texts["en"] = text_en.strip()

    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            await _check_choices(session, topic, list(area_codes))
            sent = await lifecycle.send(
                session, lifecycle.By("cli"), tz=settings.tz, topic_code=topic, severity=severity.lower(),
                urgency=urgency.lower(), area_codes=list(dict.fromkeys(area_codes)), texts=texts, link=link,
                paid_broadcast=paid, expires_at=expires_at)
            alert_id = sent.alert.id
        # Composed here (no bot to wake: this process sends it, or a running bot finds it when it polls).
        count, _left = await lifecycle.compose_now(database, sent.effects, tz=settings.tz)
        click.echo(f"alert {alert_id}: {count:,} recipients")
        if count == 0 or no_wait:
            if count:
                click.echo(f"queued; the running bot sends it (follow with `loa broadcast status {alert_id}`)")
            return 0
        return await _follow(database, settings, alert_id, interval)

    sys.exit(_with_db(action))


@broadcast_group.command("status", help="Show an alert and how far its sending got.")
@click.argument("alert_id", type=int)
def broadcast_status(alert_id: int) -> None:
    tz = load_settings().tz

    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            alert = await session.get(Alert, alert_id)
            return alert, (await alerts.progress(session, alert_id) if alert else None)

    alert, progress = _with_db(action)
    if alert is None:
        raise click.ClickException(f"no alert {alert_id}")
    text = next(iter(alert.texts.values()), "") if alert.texts else ""
    click.echo(f"alert {alert.id}: {alert.status}  {alert.topic_code}, {alert.severity}, "
               f"areas {', '.join(alert.area_codes)}  (from {alert.source}, "
               f"created {alert.created_at.astimezone(tz):%Y-%m-%d %H:%M})")
    click.echo(f"  text: {text[:70] + ('…' if len(text) > 70 else '')}")
    if alert.expires_at:
        click.echo(f"  expires: {alert.expires_at.astimezone(tz):%Y-%m-%d %H:%M}")
    click.echo(_progress_line(progress))
    click.echo("  " + _summary(alert.id, progress))


@broadcast_group.command("cancel", help="Stop an alert: its messages not yet sent are dropped (a scheduled "
                         "alert's schedule stops).")
@click.argument("alert_id", type=int)
def broadcast_cancel(alert_id: int) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            alert = await session.get(Alert, alert_id)
            if alert is None:
                raise click.ClickException(f"no alert {alert_id}")
            try:
                return (await lifecycle.stop(session, alert, lifecycle.command_way(alert), lifecycle.By("cli"))).dropped
            except lifecycle.Refused as refusal:
                if refusal.code == lifecycle.No.FINISHED:
                    raise click.ClickException(f"alert {alert_id} is already {alert.status}: "
                                               "nothing to cancel") from None
                raise click.ClickException(f"alert {alert_id}: its schedule already ran (cancel the alert it "
                                           "sent)") from None

    count = _with_db(action)
    click.echo(f"alert {alert_id} cancelled: {count:,} messages not yet sent were dropped")


# ---------------------------------------------------------------- roles


ROLE_NAMES = ("admin", "moderator", "agency_staff", "broadcaster")


@main.group("roles", help="Staff roles: who may broadcast, moderate, or work for an agency.")
def roles_group() -> None:
    pass


@roles_group.command("grant", help="Give TELEGRAM_ID a role (admin, moderator, agency_staff, broadcaster); "
                     "agency_staff needs --agency. Granting a role twice adds nothing.")
@click.argument("telegram_id", type=int)
@click.argument("role", type=click.Choice(ROLE_NAMES))
@click.option("--agency", "agency", default=None, help="The agency's code (required for agency_staff).")
def roles_grant(telegram_id: int, role: str, agency: str | None) -> None:
    if role == "agency_staff" and not agency:
        raise click.UsageError("the agency_staff role needs --agency CODE")

    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await roles.grant(session, telegram_id, role, agency_code=agency)

    added = _with_db(action)
    what = f"{role}" + (f" for agency {agency}" if agency else "")
    click.echo(f"{telegram_id}: {what} granted" if added else f"{telegram_id} already has {what}: nothing changed")


@roles_group.command("revoke", help="Take a role away from TELEGRAM_ID (for every agency).")
@click.argument("telegram_id", type=int)
@click.argument("role", type=click.Choice(ROLE_NAMES))
def roles_revoke(telegram_id: int, role: str) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await roles.revoke(session, telegram_id, role)

    removed = _with_db(action)
    click.echo(f"{telegram_id}: {role} revoked" if removed else f"{telegram_id} does not have {role}: nothing changed")


@roles_group.command("list", help="Show every role granted (admins of LOA_ADMIN_IDS too).")
def roles_list() -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            return await roles.list_roles(session)

    settings = load_settings()
    granted = _with_db(action)
    for telegram_id in sorted(settings.admin_ids):
        click.echo(f"{telegram_id}  admin  (LOA_ADMIN_IDS)")
    for row in granted:
        agency = f"  agency {row.agency_code}" if row.agency_code else ""
        click.echo(f"{row.telegram_id}  {row.role}{agency}  (granted {row.granted_at:%Y-%m-%d %H:%M} UTC)")
    if not granted and not settings.admin_ids:
        click.echo("no roles granted (grant one with `loa roles grant TELEGRAM_ID ROLE`)")


# ---------------------------------------------------------------- agencies


@main.group("agencies", help="Agencies that handle reports, and the routing rules that pick one.")
def agencies_group() -> None:
    pass


@agencies_group.command("load", help="Create or update the agencies and routes of a TOML file (see "
                        "storage/seed/agencies-hanoi.toml); loading it again changes nothing. A bad "
                        "reference names itself and nothing is written.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def agencies_load(path: Path) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await agencies.load(session, config)

    try:
        config = agencies.read_config(path)
        counts = _with_db(action)
    except agencies.ConfigError as error:
        raise click.ClickException(f"{path} was not loaded:\n  " + "\n  ".join(error.problems)) from None
    click.echo(f"agencies from {path}: {counts.created} created, {counts.updated} updated, "
               f"{counts.unchanged} unchanged; routes: {counts.routes_created} created, "
               f"{counts.routes_updated} updated, {counts.routes_unchanged} unchanged")


def _scope(rule) -> str:
    return f"{rule.category_code or '*'} in {rule.area_code or '*'}"


@agencies_group.command("list", help="The agencies: code, name, group, what they serve.")
def agencies_list() -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            return await agencies.all_agencies(session), await agencies.rules_of(session)

    rows, rules = _with_db(action)
    if not rows:
        click.echo("no agencies (load some with `loa agencies load FILE`)")
        return
    routes: dict[str, int] = {}
    for rule in rules:
        routes[rule.agency_code] = routes.get(rule.agency_code, 0) + 1
    for agency in rows:
        chat = agency.telegram_chat_id or "no group"
        state = "" if agency.active else "  (inactive)"
        click.echo(f"{agency.code:<24} {agency.name_vi}  [{chat}]  areas: {', '.join(agency.area_codes) or 'all'}; "
                   f"categories: {', '.join(agency.category_codes) or 'all'}; "
                   f"routes: {routes.get(agency.code, 0)}{state}")


@agencies_group.command("show", help="One agency: its names, group, areas, categories and routes.")
@click.argument("code")
def agencies_show(code: str) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            return await agencies.get(session, code), await agencies.rules_of(session, code)

    agency, rules = _with_db(action)
    if agency is None:
        raise click.ClickException(f"no agency with code {code}")
    click.echo(f"{agency.code}  {agency.name_vi} ({agency.name_en}){'' if agency.active else '  inactive'}")
    click.echo(f"  group: {agency.telegram_chat_id or 'not set (loa agencies chat CODE CHAT_ID)'}")
    click.echo(f"  areas: {', '.join(agency.area_codes) or 'all'}")
    click.echo(f"  categories: {', '.join(agency.category_codes) or 'all'}")
    click.echo(f"  routes: {'; '.join(_scope(r) for r in rules) or 'none'}")


@agencies_group.command("route", help="Which agency a report of CATEGORY in AREA goes to by default.")
@click.argument("category")
@click.argument("area")
def agencies_route(category: str, area: str) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            if await session.get(Category, category) is None:
                raise click.ClickException(f"unknown category {category}")
            if await session.get(Area, area) is None:
                raise click.ClickException(f"unknown area {area}")
            return await agencies.route(session, category, area)

    agency = _with_db(action)
    if agency is None:
        click.echo(f"{category} in {area}: no routing rule, moderators choose")
    else:
        click.echo(f"{category} in {area}: {agency.code}  {agency.name_vi} ({agency.name_en})")


@agencies_group.command("chat", help="Set the Telegram group of an agency's staff (0 to unset); group "
                        "ids are negative, e.g. -1001234567890.",
                        context_settings={"ignore_unknown_options": True})
@click.argument("code")
@click.argument("chat_id", type=int)
def agencies_chat(code: str, chat_id: int) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await agencies.set_chat(session, code, chat_id)

    if _with_db(action) is None:
        raise click.ClickException(f"no agency with code {code}")
    click.echo(f"agency {code}: group {chat_id or 'unset'}")


# ---------------------------------------------------------------- API tokens


@main.group("tokens", help="Tokens of the agency REST API and Open311 api_keys.")
def tokens_group() -> None:
    pass


@tokens_group.command("create", help="Create a token and print it once (only its hash is kept).")
@click.option("--name", required=True, help="Who uses it, e.g. \"URENCO dispatch\" or an Open311 app's name.")
@click.option("--agency", "agency", default=None, help="The agency it acts for (needed for alerts and reports).")
@click.option("--scopes", required=True, help="Comma-separated: alerts, reports, open311.")
def tokens_create(name: str, agency: str | None, scopes: str) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await tokens.create(session, name=name, agency_code=agency,
                                       scopes=[s.strip() for s in scopes.split(",") if s.strip()])

    try:
        row, token = _with_db(action)
    except tokens.TokenError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"token {row.id} ({row.name}; scopes {', '.join(row.scopes)}"
               + (f"; agency {row.agency_code}" if row.agency_code else "") + ")")
    click.echo(token)
    click.echo("Keep it now: it is not shown again.", err=True)


@tokens_group.command("list", help="Every token: id, name, agency, scopes, when last used, revoked.")
def tokens_list() -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.read() as session:
            return await tokens.all_tokens(session)

    rows = _with_db(action)
    for row in rows:
        used = f"last used {row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never used"
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.id}  {row.prefix}…  {row.name}  agency {row.agency_code or '-'}  "
                   f"scopes {','.join(row.scopes)}  {used}  {state}")
    if not rows:
        click.echo("no tokens (create one with `loa tokens create`)")


@tokens_group.command("revoke", help="Revoke token TOKEN_ID: it is refused from now on.")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await tokens.revoke(session, token_id)

    if not _with_db(action):
        raise click.ClickException(f"no active token {token_id}")
    click.echo(f"token {token_id} revoked")


@main.group("residents", help="Residents: ban one from filing reports, or lift the ban. A ban outlives /forget.")
def residents_group() -> None:
    pass


@residents_group.command("ban", help="Stop TELEGRAM_ID filing reports (alerts still reach them); they are told "
                         "politely by the running bot. Banning twice changes nothing.")
@click.argument("telegram_id", type=int)
@click.option("--reason", default=None, help="why, for the staff's records (the resident is not shown it)")
def residents_ban(telegram_id: int, reason: str | None) -> None:
    settings = load_settings()

    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await bans.ban(session, settings.pseudonym_secret, telegram_id, reason=reason,
                                  gettext=lambda language: translator(language).gettext)

    if not _with_db(action):
        click.echo(f"{telegram_id} is banned already: nothing changed")
        return
    click.echo(f"{telegram_id} banned: Loa refuses their reports from now on, also after /forget")


@residents_group.command("unban", help="Let TELEGRAM_ID file reports again; they are told by the running bot.")
@click.argument("telegram_id", type=int)
def residents_unban(telegram_id: int) -> None:
    settings = load_settings()

    async def action(database):
        await _require_migrated(database)
        async with database.transaction() as session:
            return await bans.unban(session, settings.pseudonym_secret, telegram_id,
                                    gettext=lambda language: translator(language).gettext)

    if not _with_db(action):
        raise click.ClickException(f"{telegram_id} is not banned")
    click.echo(f"{telegram_id} may file reports again")


RETENTION_LABELS = {
    "sign_in_links": "dashboard sign-in links used or expired",
    "dashboard_sessions": "dashboard sessions ended or expired",
    "outbox": "outbox rows sent, failed, blocked, cancelled or expired",
    "photo_file_ids": "Telegram file ids of stored report photos",
    "thread_file_ids": "thread messages' Telegram file ids of stored photos",
    "update_claims": "claims of Telegram updates handled",
    "drafts": "abandoned report drafts",
    "drafts_files": "their photo files",
}


@main.group("retention", help="Deleting what Loa is done with, each kind after its period (LOA_SIGN_IN_DAYS, "
            "LOA_OUTBOX_DAYS, LOA_DRAFT_DAYS, LOA_FILE_ID_DAYS, LOA_UPDATE_CLAIM_DAYS). "
            "The running bot does it every 10 minutes.")
def retention_group() -> None:
    pass


@retention_group.command("run", help="Delete now what is past its period, in small batches, and print how "
                         "much went per kind.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted, per kind; delete nothing.")
def retention_run(dry_run: bool) -> None:
    settings = load_settings()
    periods = retention.Periods.of(settings)

    async def action(database):
        await _require_migrated(database)
        if dry_run:
            return await retention.due(database, periods)
        # The running bots' retention job takes this lock too (storage/jobs.py): one run at a time.
        async with jobs.alone(database, retention.JOB) as mine:
            if not mine:
                return None
            return await retention.run(database, periods, media.MediaStore(settings.media_dir))

    found = _with_db(action)
    if found is None:
        _ = translator(settings.default_language).gettext
        raise click.ClickException(_("The retention job is running in a Loa instance right now; nothing was "
                                     "deleted. Run the command again once it is done (in a few minutes)."))
    verb = "would delete" if dry_run else "deleted"
    for kind, count in found.items():
        click.echo(f"{verb} {count:>10,}  {RETENTION_LABELS[kind]} ({kind})")
    if dry_run:
        click.echo("dry run: nothing was deleted")


if __name__ == "__main__":
    main()
