"""Signing in to the web dashboard without a password.

A member of staff sends /dashboard to the bot and receives a link holding a one-time token:
random, signed with HMAC-SHA256 (so a forged or mistyped one is refused before the database is
asked), valid LINK_MINUTES, spent by its first use. Opening it starts a session: the browser's
cookie holds a random id, the table only its SHA-256, with the CSRF token every form of that
session must carry. A session ends on sign-out or SESSION_HOURS after it began.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import DashboardLogin, DashboardSession
from storage.types import utcnow

LINK_MINUTES = 10
SESSION_HOURS = 12
_SIGNATURE_CHARS = 22  # of URL-safe base64: 132 bits of the HMAC


def signing_key(secret: str) -> bytes:
    """The key links are signed with, derived from a secret the operator already keeps (the bot
    token), so that there is no other secret to configure."""
    return hmac.new(secret.encode(), b"loa dashboard links", hashlib.sha256).digest()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _signature(key: bytes, token: str) -> str:
    mac = hmac.new(key, token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:_SIGNATURE_CHARS]


def _verified(key: bytes, signed: str) -> str | None:
    """The token inside `signed` (token.signature) when the signature is right."""
    token, dot, signature = (signed or "").rpartition(".")
    if not dot or not token or len(signed) > 200:
        return None
    return token if hmac.compare_digest(_signature(key, token), signature) else None


async def create_link(session: AsyncSession, key: bytes, telegram_id: int, *, name: str | None = None,
                      language: str = "vi", now: datetime | None = None) -> str:
    """A new one-time token for `telegram_id`, signed: what goes into the link. The session it
    opens shows `name` and speaks `language`."""
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    session.add(DashboardLogin(token_hash=_digest(token), telegram_id=telegram_id, name=name, language=language,
                               created_at=now,
                               expires_at=now + timedelta(minutes=LINK_MINUTES)))
    await session.flush()
    return f"{token}.{_signature(key, token)}"


async def spend_link(session: AsyncSession, key: bytes, signed: str, *,
                     now: datetime | None = None) -> DashboardLogin | None:
    """The link's record (who it was made for), if it is genuine, unused and unexpired; it is
    then spent (an UPDATE that only one of two simultaneous uses can win). None otherwise."""
    token = _verified(key, signed)
    if token is None:
        return None
    now = now or utcnow()
    token_hash = _digest(token)
    spent = await session.execute(
        update(DashboardLogin)
        .where(DashboardLogin.token_hash == token_hash, DashboardLogin.used_at.is_(None),
               DashboardLogin.expires_at > now)
        .values(used_at=now))
    if spent.rowcount != 1:
        return None
    return (await session.execute(select(DashboardLogin)
                                  .where(DashboardLogin.token_hash == token_hash))).scalar_one()


def is_genuine(key: bytes, signed: str) -> bool:
    """Whether the link's signature is right (it may still be spent or expired)."""
    return _verified(key, signed) is not None


@dataclass(frozen=True)
class Opened:
    cookie: str  # the session id, for the browser only
    csrf_token: str


async def open_session(session: AsyncSession, telegram_id: int, *, name: str | None, language: str,
                       now: datetime | None = None) -> Opened:
    now = now or utcnow()
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(DashboardSession(id_hash=_digest(cookie), telegram_id=telegram_id, name=name, language=language,
                                 csrf_token=csrf, created_at=now,
                                 expires_at=now + timedelta(hours=SESSION_HOURS)))
    await session.flush()
    return Opened(cookie, csrf)


async def current(session, cookie: str | None, *, now: datetime | None = None) -> DashboardSession | None:
    """The live session of this cookie: not ended, not expired."""
    if not cookie or len(cookie) > 100:
        return None
    found = (await session.execute(select(DashboardSession).where(
        DashboardSession.id_hash == _digest(cookie)))).scalar_one_or_none()
    if found is None or found.ended_at is not None or found.expires_at <= (now or utcnow()):
        return None
    return found


async def set_language(session: AsyncSession, cookie: str, language: str) -> None:
    await session.execute(update(DashboardSession).where(DashboardSession.id_hash == _digest(cookie))
                          .values(language=language))


async def end(session: AsyncSession, cookie: str, *, now: datetime | None = None) -> None:
    await session.execute(update(DashboardSession)
                          .where(DashboardSession.id_hash == _digest(cookie), DashboardSession.ended_at.is_(None))
                          .values(ended_at=now or utcnow()))


def same_token(expected: str, given: str | None) -> bool:
    """A form's CSRF token against the session's, in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())


# Retention (complaints/retention.py): links used or expired, sessions ended or expired, before a
# time; counted, or deleted a bounded batch at a time.
def _old_links(before: datetime):
    return or_(DashboardLogin.used_at < before, DashboardLogin.expires_at < before)


def _old_sessions(before: datetime):
    return or_(DashboardSession.ended_at < before, DashboardSession.expires_at < before)


async def count_old_links(session: AsyncSession, before: datetime) -> int:
    return (await session.execute(select(func.count()).select_from(DashboardLogin)
                                  .where(_old_links(before)))).scalar_one()


async def count_old_sessions(session: AsyncSession, before: datetime) -> int:
    return (await session.execute(select(func.count()).select_from(DashboardSession)
                                  .where(_old_sessions(before)))).scalar_one()


async def purge_old_links(session: AsyncSession, before: datetime, limit: int) -> int:
    keys = select(DashboardLogin.token_hash).where(_old_links(before)).limit(limit)
    return (await session.execute(delete(DashboardLogin).where(
        DashboardLogin.token_hash.in_(keys.scalar_subquery())))).rowcount or 0


async def purge_old_sessions(session: AsyncSession, before: datetime, limit: int) -> int:
    keys = select(DashboardSession.id_hash).where(_old_sessions(before)).limit(limit)
    return (await session.execute(delete(DashboardSession).where(
        DashboardSession.id_hash.in_(keys.scalar_subquery())))).rowcount or 0
