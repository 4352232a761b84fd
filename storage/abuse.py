"""Bans and the hourly report limit, kept under a pseudonym of the resident's Telegram id.

/forget deletes the resident's row, so a ban or a count kept there would end with it: a banned
resident could send /forget and /start and report again. Both are kept instead under an HMAC-SHA256
of the Telegram id with the server's key: LOA_SECRET_KEY, or else a random key Loa makes on first
use and keeps in `server_secrets`. The pseudonym does not name anyone by itself; whoever holds the
key can test a given id against it (Telegram ids are few enough to try them all), which is what a
ban needs. The hourly limit keeps only the times of the last hour's reports, no report.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.models import Ban, ReportQuota, ServerSecret
from storage.types import utcnow

KEY_NAME = "pseudonyms"
WINDOW = timedelta(hours=1)


async def _key(session, secret: str | None, *, create: bool) -> bytes | None:
    """The HMAC key: the configured secret, else the stored one (made now when `create`)."""
    if secret:
        return secret.encode()
    row = await session.get(ServerSecret, KEY_NAME)
    if row is None and create:
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        # Two processes making it at once keep the first one's.
        await session.execute(insert(ServerSecret).values(name=KEY_NAME, value=secrets.token_hex(32),
                                                          created_at=utcnow())
                              .on_conflict_do_nothing(index_elements=["name"]))
        row = (await session.execute(select(ServerSecret).where(ServerSecret.name == KEY_NAME)
                                     .execution_options(populate_existing=True))).scalar_one()
    return bytes.fromhex(row.value) if row is not None else None


def _pseudonym(key: bytes, telegram_id: int) -> str:
    return hmac.new(key, str(int(telegram_id)).encode(), hashlib.sha256).hexdigest()


async def pseudonym(session, secret: str | None, telegram_id: int, *, create: bool = True) -> str | None:
    """The resident's pseudonym; None only when no key exists yet and `create` is false (then no
    ban and no count can exist either)."""
    key = await _key(session, secret, create=create)
    return None if key is None else _pseudonym(key, telegram_id)


async def ban_of(session, secret: str | None, telegram_id: int) -> Ban | None:
    """The ban on this Telegram id, if any. Reads only: fit for a look-up session."""
    name = await pseudonym(session, secret, telegram_id, create=False)
    return None if name is None else await session.get(Ban, name)


async def ban(session, secret: str | None, telegram_id: int, *, reason: str | None = None,
              by: int | None = None, report_code: str | None = None) -> bool:
    """Ban the resident; False when they were banned already (the first ban is kept as it was)."""
    name = await pseudonym(session, secret, telegram_id)
    if await session.get(Ban, name, with_for_update=True) is not None:
        return False
    session.add(Ban(pseudonym=name, reason=(reason or "").strip() or None, banned_by=by, report_code=report_code))
    await session.flush()
    return True


async def unban(session, secret: str | None, telegram_id: int) -> bool:
    """Lift the ban; False when there was none."""
    name = await pseudonym(session, secret, telegram_id, create=False)
    if name is None:
        return False
    return (await session.execute(delete(Ban).where(Ban.pseudonym == name))).rowcount > 0


async def next_report_at(session, secret: str | None, telegram_id: int, *, per_hour: int,
                         now: datetime | None = None) -> datetime | None:
    """None when the resident may file a report now; else the moment they may again."""
    now = now or utcnow()
    name = await pseudonym(session, secret, telegram_id, create=False)
    if name is None:
        return None
    recent = list((await session.execute(
        select(ReportQuota.at).where(ReportQuota.pseudonym == name, ReportQuota.at > now - WINDOW)
        .order_by(ReportQuota.at.desc()).limit(per_hour))).scalars())
    if len(recent) < per_hour:
        return None
    # The oldest report that keeps the count at the limit must leave the window first.
    return recent[per_hour - 1] + WINDOW


async def count_report(session, secret: str | None, telegram_id: int, *, now: datetime | None = None) -> None:
    """Count a report the resident filed now; times older than the window are dropped."""
    now = now or utcnow()
    name = await pseudonym(session, secret, telegram_id)
    await session.execute(delete(ReportQuota).where(ReportQuota.at <= now - WINDOW))
    session.add(ReportQuota(pseudonym=name, at=now))
    await session.flush()


async def count_bans(session) -> int:
    return int(await session.scalar(select(func.count()).select_from(Ban)))
