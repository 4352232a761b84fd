"""API tokens: bearer tokens of the agency REST API and api_keys of Open311 clients.

A token is shown once, when created (`loa_` and 32 random bytes in URL-safe base64); only its
SHA-256 is stored, so a leaked database does not leak tokens. A token acts for one agency (or,
without one, for a client of the city such as an Open311 app) and only within its scopes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select, update

from storage.models import Agency, ApiToken
from storage.types import utcnow

SCOPES = ("alerts", "reports", "open311")
PREFIX = "loa_"


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Caller:
    """Who a valid token speaks for."""

    token_id: int
    name: str
    agency_code: str | None
    scopes: frozenset[str]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(session: AsyncSession, *, name: str, scopes: list[str], agency_code: str | None = None,
                 now: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token: the row and the token itself (shown once, never stored)."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise TokenError(f"unknown scope {', '.join(unknown)}" if unknown else "give at least one scope")
    if not name.strip():
        raise TokenError("give the token a name")
    if agency_code is not None and await session.get(Agency, agency_code) is None:
        raise TokenError(f"no agency with code {agency_code}")
    if agency_code is None and set(scopes) & {"alerts", "reports"}:
        raise TokenError("the alerts and reports scopes act for an agency: give --agency CODE")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name.strip()[:100], agency_code=agency_code, scopes=sorted(set(scopes)),
                   token_hash=digest(token), prefix=token[:12], created_at=now or utcnow())
    session.add(row)
    await session.flush()
    return row, token


async def verify(session: AsyncSession, token: str, *, touch: bool = True) -> Caller | None:
    """The caller behind a token, or None for an unknown or revoked one."""
    if not token or not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = (await session.execute(select(ApiToken).where(ApiToken.token_hash == digest(token)))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if touch:
        row.last_used_at = utcnow()
    return Caller(row.id, row.name, row.agency_code, frozenset(row.scopes))


async def all_tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars())


async def revoke(session: AsyncSession, token_id: int, now: datetime | None = None) -> bool:
    result = await session.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                                   .values(revoked_at=now or utcnow()))
    return bool(result.rowcount)
