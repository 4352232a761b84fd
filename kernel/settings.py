"""Settings from the environment and an optional `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kernel.calendar_text import parse_days, parse_holidays, parse_hours

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/loa.db"
LANGUAGES = ("vi", "en")
FREE_SEND_RATE = 30


def async_database_url(url: str) -> str:
    """Accept the usual URL spellings and pick the async driver for them."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


# How each field of the working calendar is read (complaints.calendar reads them the same way).
_CALENDAR_PARSERS = {"working_days": parse_days, "working_hours": parse_hours, "holidays": parse_holidays}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default="https://api.telegram.org", validation_alias="TELEGRAM_API_URL")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, validation_alias="DATABASE_URL")
    # Database connections the sessions share, handed out in arrival order (storage/db.py), and
    # how many updates are handled at once, the others waiting their turn (bot/ordering.py).
    db_pool_size: int = Field(default=10, ge=1, le=100, validation_alias="LOA_DB_POOL_SIZE")
    updates_in_flight: int = Field(default=64, ge=1, le=10_000, validation_alias="LOA_UPDATES_IN_FLIGHT")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), validation_alias="LOA_ADMIN_IDS"
    )
    timezone: str = Field(default="Asia/Ho_Chi_Minh", validation_alias="LOA_TIMEZONE")
    default_language: str = Field(default="vi", validation_alias="LOA_DEFAULT_LANGUAGE")
    log_level: str = Field(default="INFO", validation_alias="LOA_LOG_LEVEL")
    # The HTTP server `loa run` starts beside the bot: webhook, APIs, health and metrics.
    http_host: str = Field(default="127.0.0.1", validation_alias="HTTP_HOST")
    http_port: int = Field(default=8080, ge=0, le=65535, validation_alias="HTTP_PORT")
    # Webhook mode: the public HTTPS URL Telegram posts updates to (empty: long polling), and the
    # secret Telegram sends back in X-Telegram-Bot-Api-Secret-Token (and that names the path).
    webhook_url: str | None = Field(default=None, validation_alias="WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="WEBHOOK_SECRET")
    # How many updates Telegram may have in flight to us at once (Telegram's own default is 40).
    webhook_max_connections: int = Field(default=40, ge=1, le=100, validation_alias="WEBHOOK_MAX_CONNECTIONS")
    # Where staff open the web dashboard, as their browsers reach it (the sign-in links the bot
    # sends start with it); empty: http://HTTP_HOST:HTTP_PORT.
    dashboard_url: str | None = Field(default=None, validation_alias="DASHBOARD_URL")
    # The largest request body the HTTP server reads (JSON, CAP XML, Open311 forms).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, validation_alias="LOA_MAX_BODY_BYTES")
    # Slow clients: how long the HTTP server waits for a request's headers (on a new connection, or
    # between requests on a kept-alive one) and for its body, in seconds; then it gives up on them.
    http_header_seconds: float = Field(default=15, gt=0, le=3600, validation_alias="LOA_HTTP_HEADER_SECONDS")
    http_body_seconds: float = Field(default=30, gt=0, le=3600, validation_alias="LOA_HTTP_BODY_SECONDS")
    # CAP 1.2 or Atom feeds to poll, separated by commas, and how often.
    cap_feeds: str = Field(default="", validation_alias="LOA_CAP_FEEDS")
    cap_feed_seconds: float = Field(default=120, gt=0, validation_alias="LOA_CAP_FEED_SECONDS")
    # What Loa publishes: the public feeds of its sent alerts (/public/*, off: 404), and the CAP
    # <sender> they carry (empty: loa@ the host of the dashboard's address).
    public_portal: bool = Field(default=True, validation_alias="LOA_PUBLIC_PORTAL")
    cap_sender: str = Field(default="", max_length=128, validation_alias="LOA_CAP_SENDER")
    # What the portal may show of a new report until its resident answers otherwise (the wizard
    # asks; Open311 and the REST API's reports keep it): photo | place | ward (complaints/public.py).
    public_reports_default: Literal["photo", "place", "ward"] = Field(
        default="ward", validation_alias="LOA_PUBLIC_REPORTS_DEFAULT")
    # Triage: the moderators' Telegram group (a negative chat id), where new reports arrive.
    moderators_chat_id: int | None = Field(default=None, validation_alias="LOA_MODERATORS_CHAT_ID")
    # Broadcasts: messages a second across all chats (Telegram allows about 30; paid broadcast,
    # billed in Stars above 30/s, up to 1,000).
    send_rate: float = Field(default=30, gt=0, le=1000, validation_alias="LOA_SEND_RATE")
    paid_broadcast: bool = Field(default=False, validation_alias="LOA_PAID_BROADCAST")
    # Reports: where cleaned copies of photos are kept, how many reports a resident may file in
    # an hour, and the largest photo accepted.
    media_dir: Path = Field(default=Path("data/media"), validation_alias="LOA_MEDIA_DIR")
    reports_per_hour: int = Field(default=5, ge=1, validation_alias="LOA_REPORTS_PER_HOUR")
    max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1, validation_alias="LOA_MAX_PHOTO_BYTES")
    # The cleaned photos one resident's unsent report may hold, in bytes, and the days after which
    # a report nobody touched is thrown away with its photos.
    draft_media_bytes: int = Field(default=20 * 1024 * 1024, ge=1, validation_alias="LOA_DRAFT_MEDIA_BYTES")
    draft_days: float = Field(default=7, gt=0, validation_alias="LOA_DRAFT_DAYS")
    # Retention (complaints/retention.py): days after which what is done with is deleted.
    sign_in_days: float = Field(default=30, gt=0, validation_alias="LOA_SIGN_IN_DAYS")
    outbox_days: float = Field(default=30, gt=0, validation_alias="LOA_OUTBOX_DAYS")
    file_id_days: float = Field(default=1, ge=0, validation_alias="LOA_FILE_ID_DAYS")
    update_claim_days: float = Field(default=1, gt=0, validation_alias="LOA_UPDATE_CLAIM_DAYS")
    # The key of the pseudonyms bans and the hourly limit are kept under (storage/abuse.py);
    # empty: a random key Loa makes once and keeps in the database.
    secret_key: SecretStr | None = Field(default=None, validation_alias="LOA_SECRET_KEY")
    # Triage: the working-hours calendar deadlines count on, the deadlines themselves, and the
    # days after which a resolved report nobody rated is closed.
    working_days: str = Field(default="mon-fri", validation_alias="LOA_WORKING_DAYS")
    working_hours: str = Field(default="08:00-17:00", validation_alias="LOA_WORKING_HOURS")
    holidays: str = Field(default="", validation_alias="LOA_HOLIDAYS")
    take_up_hours: float = Field(default=8, gt=0, validation_alias="LOA_TAKE_UP_HOURS")
    urgent_hours: float = Field(default=4, gt=0, validation_alias="LOA_URGENT_HOURS")
    autoclose_days: int = Field(default=7, ge=1, validation_alias="LOA_AUTOCLOSE_DAYS")
    # A report's thread (complaints/thread.py): while a staff question waits for the resident's
    # answer, the resolution deadline waits too (it moves on by the working hours the answer took).
    pause_while_asking: bool = Field(default=False, validation_alias="LOA_PAUSE_WHILE_ASKING")
    # The deadline job: how often it looks, and how long before a deadline it reminds the agency.
    deadline_check_seconds: float = Field(default=60, gt=0, validation_alias="LOA_DEADLINE_CHECK_SECONDS")
    reminder_hours: float = Field(default=2, gt=0, validation_alias="LOA_REMINDER_HOURS")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError:
                raise ValueError("LOA_ADMIN_IDS must be Telegram user ids separated by commas") from None
        return value

    @field_validator("secret_key", mode="before")
    @classmethod
    def _strong_secret(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            if len(value.strip()) < 16:
                raise ValueError("LOA_SECRET_KEY must have at least 16 characters, e.g. "
                                 "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return async_database_url(value)

    @field_validator("telegram_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use a name like Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("default_language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"LOA_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("working_days", "working_hours", "holidays")
    @classmethod
    def _calendar_words(cls, value: str, info: ValidationInfo) -> str:
        _CALENDAR_PARSERS[info.field_name](value)
        return value

    @field_validator("cap_sender")
    @classmethod
    def _cap_identifier(cls, value: str) -> str:
        value = value.strip()
        if any(character.isspace() or character in ",<&" for character in value):
            raise ValueError("LOA_CAP_SENDER must not contain spaces, commas, '<' or '&' (CAP's rule), "
                             "e.g. canhbao@hanoi.gov.vn")
        return value

    @model_validator(mode="after")
    def _rate_needs_paid_broadcast(self) -> Settings:
        if self.send_rate > FREE_SEND_RATE and not self.paid_broadcast:
            raise ValueError(f"LOA_SEND_RATE above {FREE_SEND_RATE:g} needs LOA_PAID_BROADCAST=true "
                             "(Telegram refuses more without paid broadcast)")
        return self

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    @property
    def pseudonym_secret(self) -> str | None:
        return self.secret_key.get_secret_value() if self.secret_key else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def sqlite_path(self) -> Path | None:
        """The file behind an SQLite URL, or None for other databases and in-memory SQLite."""
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix):].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def dashboard_base(self) -> str:
        """The dashboard's address without a trailing slash: DASHBOARD_URL, or this server's own."""
        if self.dashboard_url:
            return self.dashboard_url.rstrip("/")
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return f"http://{host}:{self.http_port}"

    @property
    def cap_sender_id(self) -> str:
        """The CAP <sender> of what Loa publishes: LOA_CAP_SENDER, or loa@ the dashboard's host."""
        if self.cap_sender:
            return self.cap_sender
        host = urlsplit(self.dashboard_base).hostname or "localhost"
        return f"loa@{host}"
