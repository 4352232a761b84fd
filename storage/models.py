"""The tables. Every aggregate's queries live in a module of its own beside this one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
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
    # What the bot waits for from this resident: a value of handlers.awaiting.Awaiting (e.g. "area":
    # typed names are area searches), kept as its string.
    awaiting: str | None = Field(default=None, max_length=16)
    quiet_start_minute: int | None = Field(default=22 * 60)
    quiet_end_minute: int | None = Field(default=6 * 60)
    blocked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The report their next messages are added to ("Add to my report", awaiting "addition"); no
    # foreign key, which would make a circle with reports.resident_id: complaints/thread.py checks it.
    adding_report_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class ServerSecret(SQLModel, table=True):
    """A random key Loa made for itself when the configuration gives none (storage/abuse.py)."""

    __tablename__ = "server_secrets"

    name: str = Field(primary_key=True, max_length=32)
    value: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Ban(SQLModel, table=True):
    """A resident who may not file reports, known by a pseudonym of their Telegram id (an HMAC
    with the server's key), so that the ban outlives /forget, which deletes the resident."""

    __tablename__ = "bans"

    pseudonym: str = Field(primary_key=True, max_length=64)
    banned_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    reason: str | None = Field(default=None, sa_type=Text)
    banned_by: int | None = Field(default=None, sa_type=BigInteger)
    # The report a moderator banned its reporter from, if any (not the resident).
    report_code: str | None = Field(default=None, max_length=16)


class ReportQuota(SQLModel, table=True):
    """When a resident filed a report, by pseudonym, for the hourly limit; kept one hour only."""

    __tablename__ = "report_quota"
    __table_args__ = (Index("ix_report_quota_pseudonym_at", "pseudonym", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    pseudonym: str = Field(max_length=64)
    at: datetime = Field(sa_column=_utc_column(index=True))


class Alert(SQLModel, table=True):
    """A message for the residents of some areas who follow a topic: sent now, at a time, or
    following a CAP feed. A correction or cancellation is an alert of its own that `replaces`
    an earlier one (CAP's msgType Update / Cancel with `references`)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_source_owner_identifier", "source", "owner", "identifier", unique=True),
                      Index("ix_alerts_sender_step", "sender_telegram_id", "wizard_step"))

    id: int | None = Field(default=None, primary_key=True)
    topic_code: str = Field(foreign_key="topics.code", max_length=32)
    severity: str = Field(max_length=16)
    urgency: str = Field(default="unknown", max_length=16)
    # The areas as chosen (a province stands for every unit under it).
    area_codes: list[str] = Field(default_factory=list, sa_type=JSON)
    # Text per language code; the resident's language, else Vietnamese, else any.
    texts: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    photo_file_id: str | None = Field(default=None, max_length=256)
    link: str | None = Field(default=None, max_length=512)
    kind: str = Field(default="alert", max_length=16)  # alert | correction | cancellation
    replaces_id: int | None = Field(default=None, foreign_key="alerts.id", index=True)
    source: str = Field(default="bot", max_length=32)  # bot | dashboard | cli | api | cap | schedule
    # The agency that sent it through the API or CAP with its token (None: the city's own).
    agency_code: str | None = Field(default=None, foreign_key="agencies.code", index=True, max_length=32)
    identifier: str | None = Field(default=None, max_length=255)
    # Whose identifier it is: identifiers are unique per source and owner, so two agencies (or an
    # agency and the city's CAP feeds) never collide. The agency's code, "" for the city's own.
    owner: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    sender_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    sender_name: str | None = Field(default=None, max_length=128)
    paid_broadcast: bool = Field(default=False)
    # draft | template (what a schedule sends copies of) | sending | done | cancelled: the values of
    # broadcasts.alerts.Status, set only by broadcasts/lifecycle.py.
    status: str = Field(default="draft", max_length=16)
    send_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    composed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Where the broadcaster follows the progress (a message the bot edits).
    progress_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    progress_message_id: int | None = Field(default=None, sa_type=BigInteger)
    # What the bot waits for from the broadcaster about this alert: a step of the /broadcast
    # wizard while it is a draft, "follow" while its progress message is edited, "fix" while a
    # correction's text is awaited; None when nothing (see handlers/broadcasting.py).
    wizard_step: str | None = Field(default=None, max_length=16)
    # The broadcaster's language, for the wizard and the progress messages.
    sender_language: str | None = Field(default=None, max_length=8)
    # The wizard's message whose buttons are live (the area picker): an older one loses them.
    wizard_message_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Delivery(SQLModel, table=True):
    """The outbox: one message the system must not lose, to one chat.

    Alert deliveries name their alert (one per alert and resident); any other message carries
    its Bot API call in `payload` and, to be enqueued at most once, a `key`. Times the sender
    works with are whole Unix seconds, which both databases compare and add cheaply.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ux_deliveries_alert_resident", "alert_id", "resident_id", unique=True),
        Index("ix_deliveries_due", "priority", "due_at", "id",
              postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
        Index("ix_deliveries_alert_pending", "alert_id",
              postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
        Index("ix_deliveries_chat_pending", "chat_id",
              postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    # No foreign keys on purpose: checking them is half the time of writing a million rows.
    # Alerts are never deleted, and residents.forget() clears a resident's rows itself.
    alert_id: int | None = Field(default=None)
    resident_id: int | None = Field(default=None)
    chat_id: int = Field(sa_type=BigInteger)
    language: str = Field(default="vi", max_length=8)
    payload: dict | None = Field(default=None, sa_type=JSON)
    key: str | None = Field(default=None, max_length=128, unique=True)
    # pending | sent | failed | blocked | cancelled | expired
    state: str = Field(default="pending", max_length=16)
    priority: int = Field(default=5, sa_type=SmallInteger)  # 0 is sent first
    due_at: int = Field(sa_type=BigInteger)
    deferred: bool = Field(default=False)  # waits for the end of the resident's quiet hours
    lease_until: int | None = Field(default=None, sa_type=BigInteger)
    attempts: int = Field(default=0, sa_type=SmallInteger)
    message_id: int | None = Field(default=None, sa_type=BigInteger)
    error: str | None = Field(default=None, max_length=255)
    done_at: int | None = Field(default=None, sa_type=BigInteger)


class BroadcastSchedule(SQLModel, table=True):
    """When to send a template alert again: once at `next_run_at`, or on a cron line."""

    __tablename__ = "broadcast_schedules"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id", ondelete="CASCADE")
    cron: str | None = Field(default=None, max_length=64)  # None: once
    next_run_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True, index=True))
    last_run_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    active: bool = Field(default=True)
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


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


class Category(SQLModel, table=True):
    """A kind of problem residents report (roads, sanitation...); the list is data."""

    __tablename__ = "categories"

    code: str = Field(primary_key=True, max_length=32)
    name_vi: str = Field(max_length=80)
    name_en: str = Field(max_length=80)
    description_vi: str = Field(default="", max_length=200)
    description_en: str = Field(default="", max_length=200)
    position: int = Field(default=0)
    resolve_days: int = Field(default=10)
    active: bool = Field(default=True)


SQLITE_SEARCH_INDEX = "ix_reports_search_text"


def included_for(dialect: str):
    """Alembic's `include_object` for comparing the models with a database of `dialect`: an index
    the models declare for SQLite only is neither missing elsewhere nor to be dropped."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "index" and name == SQLITE_SEARCH_INDEX and dialect != "sqlite")
    return include


class Report(SQLModel, table=True):
    """A problem a resident reported. It outlives the resident: /forget only unlinks it."""

    __tablename__ = "reports"
    # (category, created): the duplicate suggestions read only the last 30 days of a category.
    # The dashboard's queue (complaints/queue.py): a sort walks its (column, id) index, or its
    # (state, column, id) one state by state, until a page is full; the counts per state come from
    # (filter column, state) indexes alone; overdue reports have a small index of their own.
    __table_args__ = (Index("ix_reports_resident_created", "resident_id", "created_at"),
                      Index("ix_reports_category_created", "category_code", "created_at"),
                      Index("ix_reports_created_id", "created_at", "id"),
                      Index("ix_reports_updated_id", "updated_at", "id"),
                      Index("ix_reports_due_id", "due_at", "id"),
                      Index("ix_reports_priority_id", "priority", "id"),
                      Index("ix_reports_state_created_id", "state", "created_at", "id"),
                      Index("ix_reports_state_updated_id", "state", "updated_at", "id"),
                      Index("ix_reports_state_due_id", "state", "due_at", "id"),
                      Index("ix_reports_agency_state", "agency_code", "state"),
                      Index("ix_reports_area_state", "area_code", "state"),
                      Index("ix_reports_category_state", "category_code", "state"),
                      Index("ix_reports_overdue_state_due", "state", "due_at", "id",
                            postgresql_where=text("overdue_at IS NOT NULL"),
                            sqlite_where=text("overdue_at IS NOT NULL")),
                      # SQLite only: the word search reads this narrow copy of what it needs, half
                      # the time of reading the table (search_text first, so that no look-up by
                      # state picks it); PostgreSQL's B-trees refuse entries over 2,704 bytes, which
                      # a 2,000-letter description's words may pass.
                      Index(SQLITE_SEARCH_INDEX, "search_text", "state", "code").ddl_if(dialect="sqlite"))

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    resident_id: int | None = Field(default=None, foreign_key="residents.id", ondelete="SET NULL")
    # Who sent it, for moderators only; cleared when the resident asks to be forgotten.
    reporter_name: str | None = Field(default=None, max_length=200)
    category_code: str = Field(foreign_key="categories.code", max_length=32, index=True)
    description: str = Field(sa_type=Text)
    latitude: float | None = None
    longitude: float | None = None
    area_code: str | None = Field(default=None, foreign_key="areas.code", index=True, max_length=16)
    address_text: str | None = Field(default=None, max_length=200)
    # The description and the address, case-folded (complaints.reports.searchable): what the
    # dashboard's word search reads, one condition per word instead of one per casing and column.
    search_text: str | None = Field(default=None, sa_type=Text)
    # submitted | assigned | in_progress | resolved | closed | rejected | duplicate | reopened
    state: str = Field(default="submitted", max_length=16, index=True)
    priority: str = Field(default="normal", max_length=16)
    due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    # Triage and agency work (complaints/lifecycle.py, complaints/deadlines.py).
    agency_code: str | None = Field(default=None, foreign_key="agencies.code", index=True, max_length=32)
    duplicate_of_id: int | None = Field(default=None, foreign_key="reports.id", ondelete="SET NULL")
    # Taken up (in_progress) by this moment, or overdue; reset when the report is reopened.
    take_up_due_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    overdue_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    escalated_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    rating: str | None = Field(default=None, max_length=16)  # satisfied | acceptable | not_satisfied
    rating_comment: str | None = Field(default=None, sa_type=Text)
    rated_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    reopened_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    # What the resident allowed the public portal to show (complaints/public.py): "photo" (the
    # report with its first photo and exact place), "place" (exact place, no photo) or "ward" (no
    # photo, only the ward). Reports filed before the question was asked show only the ward.
    publicity: str = Field(default="ward", max_length=8, sa_column_kwargs={"server_default": "ward"})
    # The staff's cards of this report in Telegram (handlers/cards.py): the moderators' card and
    # the agency's, edited in place; `cards_synced_at` is the `updated_at` they last showed.
    mod_card_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    mod_card_message_id: int | None = Field(default=None, sa_type=BigInteger)
    agency_card_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    agency_card_message_id: int | None = Field(default=None, sa_type=BigInteger)
    cards_synced_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class ReportPhoto(SQLModel, table=True):
    __tablename__ = "report_photos"

    report_id: int = Field(foreign_key="reports.id", primary_key=True, ondelete="CASCADE")
    position: int = Field(primary_key=True)
    telegram_file_id: str = Field(max_length=256)
    file_unique_id: str = Field(max_length=128)
    # The cleaned copy in the media store (content-addressed); None when it could not be fetched.
    sha256: str | None = Field(default=None, max_length=64)
    width: int | None = None
    height: int | None = None


class ReportEvent(SQLModel, table=True):
    """One step of a report's history: what /status shows."""

    __tablename__ = "report_events"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="reports.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    state: str = Field(max_length=16)
    actor: str | None = Field(default=None, max_length=64)
    actor_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    note: str | None = Field(default=None, sa_type=Text)
    # What was done (complaints.lifecycle.Action; None for the first event), by whom by name,
    # for which agency, with which photo; `visible`: the resident sees it and is told of it.
    action: str | None = Field(default=None, max_length=16)
    actor_name: str | None = Field(default=None, max_length=128)
    agency_code: str | None = Field(default=None, max_length=32)
    photo_file_id: str | None = Field(default=None, max_length=256)
    visible: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=true()))


class ReportMessage(SQLModel, table=True):
    """One message of a report's thread (complaints/thread.py): a staff member's question to the
    resident, the resident's answer or addition, or the staff's internal note.

    `author_telegram_id` is cleared by /forget for a resident's messages (the text and the cleaned
    photos stay, as the report's own do); agency staff never see who a resident is."""

    __tablename__ = "report_message"
    __table_args__ = (Index("ix_report_message_report_at", "report_id", "at", "id"),
                      Index("ix_report_message_queued", "delivery",
                            postgresql_where=text("delivery = 'queued'"), sqlite_where=text("delivery = 'queued'")))

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="reports.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    author: str = Field(max_length=16)  # resident | moderator | agency_staff | system
    author_telegram_id: int | None = Field(default=None, sa_type=BigInteger)
    author_name: str | None = Field(default=None, max_length=128)  # staff only; never a resident's
    agency_code: str | None = Field(default=None, max_length=32)  # the agency a staff author acts for
    visibility: str = Field(default="public", max_length=16)  # public | internal
    kind: str = Field(max_length=16)  # question | answer | addition | note
    text: str | None = Field(default=None, sa_type=Text)
    # The cleaned photos, as a draft keeps them: [{"file_id", "file_unique_id", "sha256", "width", "height"}]
    photos: list = Field(default_factory=list, sa_type=JSON)
    # A corrected location, and the area it lies in.
    latitude: float | None = None
    longitude: float | None = None
    area_code: str | None = Field(default=None, max_length=16)
    # An answer: the question it answers. A question: when it was first answered.
    reply_to_id: int | None = Field(default=None, foreign_key="report_message.id", ondelete="SET NULL")
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # A question: queued | delivered | undeliverable (the resident blocked the bot); None otherwise.
    delivery: str | None = Field(default=None, max_length=16)
    # A question asked with LOA_PAUSE_WHILE_ASKING: the resolution deadline waits for the answer.
    # An answer to one: the working hours the deadline was moved by.
    pauses: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    paused_hours: float | None = None


class ReportDraft(SQLModel, table=True):
    """The report a resident is writing, one per resident, so it survives a restart of the bot."""

    __tablename__ = "report_drafts"

    resident_id: int = Field(foreign_key="residents.id", primary_key=True, ondelete="CASCADE")
    step: str = Field(max_length=16)
    # Set while one field is changed from the review card: the wizard returns to the review after it.
    editing: bool = Field(default=False)
    category_code: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, sa_type=Text)
    # [{"file_id", "file_unique_id", "sha256", "width", "height"}, ...] in the order sent
    photos: list = Field(default_factory=list, sa_type=JSON)
    latitude: float | None = None
    longitude: float | None = None
    area_code: str | None = Field(default=None, max_length=16)
    address_text: str | None = Field(default=None, max_length=200)
    # The answer to "may the portal show it?" (Report.publicity), set from LOA_PUBLIC_REPORTS_DEFAULT.
    publicity: str = Field(default="ward", max_length=8, sa_column_kwargs={"server_default": "ward"})
    # The album last acknowledged, so that an album gets one answer, not one per photo.
    media_group_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Agency(SQLModel, table=True):
    """A body that handles reports: a department, a company, a ward's people's committee.

    It serves `area_codes` (and every unit below them) and `category_codes`; an empty list
    means all. Its staff work in the Telegram group `telegram_chat_id`, set per installation.
    """

    __tablename__ = "agencies"

    code: str = Field(primary_key=True, max_length=32)
    name_vi: str = Field(max_length=160)
    name_en: str = Field(max_length=160)
    telegram_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    area_codes: list[str] = Field(default_factory=list, sa_type=JSON)
    category_codes: list[str] = Field(default_factory=list, sa_type=JSON)
    active: bool = Field(default=True)


class RoutingRule(SQLModel, table=True):
    """Category x area -> the default agency; None stands for any category or anywhere."""

    __tablename__ = "routing_rules"
    __table_args__ = (UniqueConstraint("category_code", "area_code", name="uq_routing_rules_scope"),)

    id: int | None = Field(default=None, primary_key=True)
    category_code: str | None = Field(default=None, foreign_key="categories.code", max_length=32)
    area_code: str | None = Field(default=None, foreign_key="areas.code", max_length=16)
    agency_code: str = Field(foreign_key="agencies.code", max_length=32, index=True)


class ReportFollower(SQLModel, table=True):
    """A resident who hears of a report that is not theirs: the reporter of its duplicate."""

    __tablename__ = "report_followers"

    report_id: int = Field(foreign_key="reports.id", primary_key=True, ondelete="CASCADE")
    resident_id: int = Field(foreign_key="residents.id", primary_key=True, ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class StaffPrompt(SQLModel, table=True):
    """A question the bot asked a staff member in a group (a reason, a note, a report's code),
    waiting for their reply to that message; it survives a restart."""

    __tablename__ = "staff_prompts"
    __table_args__ = (UniqueConstraint("chat_id", "message_id", name="uq_staff_prompts_message"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    message_id: int = Field(sa_type=BigInteger)
    telegram_id: int = Field(sa_type=BigInteger)
    report_id: int = Field(foreign_key="reports.id", ondelete="CASCADE")
    action: str = Field(max_length=16)
    expected_event_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    # When they were told to reply to the question rather than write in the group: told once.
    hinted_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class ApiToken(SQLModel, table=True):
    """A bearer token of the REST API (or an Open311 api_key): only its SHA-256 is kept. It acts
    for one agency (None: a client of the city, such as an Open311 app) within its scopes."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    agency_code: str | None = Field(default=None, foreign_key="agencies.code", max_length=32)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)  # the first characters, to tell tokens apart in lists
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    last_used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class CapFeed(SQLModel, table=True):
    """A CAP or Atom feed polled for alerts, with what the server said last time (ETag,
    Last-Modified) so an unchanged feed costs a 304."""

    __tablename__ = "cap_feeds"

    url: str = Field(primary_key=True, max_length=1000)
    etag: str | None = Field(default=None, max_length=255)
    last_modified: str | None = Field(default=None, max_length=64)
    checked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)


class DashboardLogin(SQLModel, table=True):
    """A one-time sign-in link to the web dashboard, sent by the bot to a member of staff
    (storage/logins.py): only its SHA-256 is kept, and it is spent by its first use."""

    __tablename__ = "dashboard_logins"

    token_hash: str = Field(primary_key=True, max_length=64)
    telegram_id: int = Field(sa_type=BigInteger)
    # Who asked, as Telegram named them then, and the language the bot spoke to them in.
    name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="vi", max_length=8)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())
    used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class DashboardSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds the id, the table its SHA-256, the CSRF token every
    form must carry, and the language the pages are shown in."""

    __tablename__ = "dashboard_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    telegram_id: int = Field(sa_type=BigInteger, index=True)
    name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="vi", max_length=8)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column())
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class UpdateClaim(SQLModel, table=True):
    """A Telegram update taken by one instance (webhook mode on PostgreSQL, storage/updates.py):
    the key makes a resend that reaches another instance a duplicate; `taken_at` is the lease
    its instance renews while it holds it, `payload` lets another instance handle it when the
    lease runs out (the instance died); `done_at` once handled."""

    __tablename__ = "update_claims"
    __table_args__ = (
        Index("ix_update_claims_chat_pending", "chat_id", "update_id",
              postgresql_where=text("done_at IS NULL"), sqlite_where=text("done_at IS NULL")),
        Index("ix_update_claims_taken_pending", "taken_at",
              postgresql_where=text("done_at IS NULL"), sqlite_where=text("done_at IS NULL")),
        # Retention deletes the done ones past their period (complaints/retention.py).
        Index("ix_update_claims_done", "done_at",
              postgresql_where=text("done_at IS NOT NULL"), sqlite_where=text("done_at IS NOT NULL")),
    )

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    payload: str = Field(sa_type=Text)
    taken_by: str = Field(max_length=64)
    taken_at: datetime = Field(sa_column=_utc_column())
    done_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class DeliveryTally(SQLModel, table=True):
    """What the outbox rows of an alert that retention deleted came to, by outcome: an alert's
    figures are these plus its rows still in the outbox (broadcasts.alerts.progress_of)."""

    __tablename__ = "delivery_tallies"

    alert_id: int = Field(primary_key=True)
    sent: int = Field(default=0, sa_type=BigInteger)
    failed: int = Field(default=0, sa_type=BigInteger)
    blocked: int = Field(default=0, sa_type=BigInteger)
    cancelled: int = Field(default=0, sa_type=BigInteger)
    expired: int = Field(default=0, sa_type=BigInteger)


class RetentionRun(SQLModel, table=True):
    """What the retention job's last run deleted, per kind, for the operator (which instance runs
    it: storage/jobs.py)."""

    __tablename__ = "retention_runs"

    name: str = Field(primary_key=True, max_length=32)
    last_run_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    last_deleted: dict = Field(default_factory=dict, sa_type=JSON)
