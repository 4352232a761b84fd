"""The tables. Every aggregate's queries live in a module of its own beside this one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


def _utc_column(nullable: bool = False, **kw) -> Column:
    return Column(UTCDateTime(), nullable=nullable, **kw)


class Area(SQLModel, table=True):
    """An administrative unit: a province, a ward, or any level of any country's tree."""

    __tablename__ = "areas"

    code: str = Field(primary_key=True, max_length=16)
    parent_code: str | None = Field(default=None, foreign_key="areas.code", index=True, max_length=16)
    level: int = Field(default=0)
    kind: str = Field(default="", max_length=32)
    name_vi: str = Field(max_length=128)
    name_en: str = Field(max_length=128)
    full_name_vi: str = Field(max_length=160)
    full_name_en: str = Field(max_length=160)
    search_name: str = Field(default="", index=True, max_length=160)
    min_lon: float | None = None
    min_lat: float | None = None
    max_lon: float | None = None
    max_lat: float | None = None
    boundary: str | None = Field(default=None, sa_type=Text)


class Resident(SQLModel, table=True):
    """Someone who talks to the bot in a private chat."""

    __tablename__ = "residents"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    language: str = Field(default="vi", max_length=8)
    first_name: str | None = Field(default=None, max_length=128)
    username: str | None = Field(default=None, max_length=64)
    area_code: str | None = Field(default=None, foreign_key="areas.code", index=True, max_length=16)
    alerts_enabled: bool = Field(default=True)
    onboarded: bool = Field(default=False)
    # What the bot waits for from this resident (e.g. "area": typed names are area searches).
    awaiting: str | None = Field(default=None, max_length=16)
    quiet_start_minute: int | None = Field(default=22 * 60)
    quiet_end_minute: int | None = Field(default=6 * 60)
    blocked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    AGENCY_STAFF = "agency_staff"
    BROADCASTER = "broadcaster"


class StaffRole(SQLModel, table=True):
    """A role granted to a Telegram user; agency staff and broadcasters act for one agency."""

    __tablename__ = "staff_roles"
    __table_args__ = (Index("ix_staff_roles_user_role", "telegram_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger)
    role: str = Field(max_length=32)
    agency_code: str | None = Field(default=None, max_length=32)
    granted_by: int | None = Field(default=None, sa_type=BigInteger)
    granted_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Topic(SQLModel, table=True):
    """An alert topic residents subscribe to (weather, traffic...); the list is data."""

    __tablename__ = "topics"

    code: str = Field(primary_key=True, max_length=32)
    name_vi: str = Field(max_length=80)
    name_en: str = Field(max_length=80)
    position: int = Field(default=0)
    subscribed_by_default: bool = Field(default=True)


class Subscription(SQLModel, table=True):
    __tablename__ = "subscriptions"

    resident_id: int = Field(foreign_key="residents.id", primary_key=True, ondelete="CASCADE")
    topic_code: str = Field(foreign_key="topics.code", primary_key=True, max_length=32, index=True)
