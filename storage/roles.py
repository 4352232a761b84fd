"""Queries on staff roles: who may broadcast, moderate, or act for an agency."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Role, StaffRole

ROLES = tuple(role.value for role in Role)


async def has_role(session: AsyncSession, telegram_id: int, *roles: str) -> bool:
    """Whether the user holds any of `roles` (any role at all when none is named)."""
    query = select(StaffRole.id).where(StaffRole.telegram_id == telegram_id)
    if roles:
        query = query.where(StaffRole.role.in_(roles))
    return (await session.execute(query.limit(1))).first() is not None


async def grant(session: AsyncSession, telegram_id: int, role: str, *, agency_code: str | None = None,
                granted_by: int | None = None) -> bool:
    """Give `role` (for `agency_code`, if any); returns False when the user already had it."""
    role = Role(role).value
    if role == Role.AGENCY_STAFF and not agency_code:
        raise ValueError("the agency_staff role needs an agency")
    query = select(StaffRole.id).where(StaffRole.telegram_id == telegram_id, StaffRole.role == role)
    query = query.where(StaffRole.agency_code == agency_code if agency_code else StaffRole.agency_code.is_(None))
    if (await session.execute(query)).first() is not None:
        return False
    session.add(StaffRole(telegram_id=telegram_id, role=role, agency_code=agency_code or None, granted_by=granted_by))
    await session.flush()
    return True


async def revoke(session: AsyncSession, telegram_id: int, role: str) -> int:
    """Take `role` away (for every agency); returns how many grants were removed."""
    result = await session.execute(
        delete(StaffRole).where(StaffRole.telegram_id == telegram_id, StaffRole.role == Role(role).value))
    return result.rowcount or 0


async def list_roles(session: AsyncSession, telegram_id: int | None = None) -> list[StaffRole]:
    query = select(StaffRole).order_by(StaffRole.telegram_id, StaffRole.role, StaffRole.agency_code)
    if telegram_id is not None:
        query = query.where(StaffRole.telegram_id == telegram_id)
    return list((await session.execute(query)).scalars())
