"""Settings from the environment and .env."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kernel.settings import DEFAULT_DATABASE_URL, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "DATABASE_URL", "LOA_ADMIN_IDS",
                 "LOA_TIMEZONE", "LOA_DEFAULT_LANGUAGE", "LOA_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    settings = Settings()
    assert settings.token is None
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.admin_ids == frozenset()
    assert (settings.timezone, settings.default_language) == ("Asia/Ho_Chi_Minh", "vi")
    assert str(settings.sqlite_path()) == "data/loa.db"
    assert (settings.db_pool_size, settings.updates_in_flight) == (10, 64)


def test_environment_wins_and_values_are_normalised(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("DATABASE_URL", "postgresql://loa@db/loa")
    monkeypatch.setenv("LOA_ADMIN_IDS", " 11, 22,,33 ")
    monkeypatch.setenv("LOA_DB_POOL_SIZE", "25")
    settings = Settings()
    assert settings.token == "123:abc"
    assert "123:abc" not in repr(settings)
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.database_url == "postgresql+asyncpg://loa@db/loa"
    assert settings.sqlite_path() is None
    assert settings.admin_ids == {11, 22, 33}
    assert settings.db_pool_size == 25


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=999:from-dotenv\nLOA_DEFAULT_LANGUAGE=en\n")
    settings = Settings()
    assert (settings.token, settings.default_language) == ("999:from-dotenv", "en")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LOA_ADMIN_IDS", "12,abc", "Telegram user ids"),
    ("LOA_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("LOA_DEFAULT_LANGUAGE", "fr", "vi, en"),
    ("LOA_DB_POOL_SIZE", "0", "greater than or equal to 1"),
    ("LOA_DB_POOL_SIZE", "ten", "valid integer"),
    ("LOA_UPDATES_IN_FLIGHT", "0", "greater than or equal to 1"),
])
def test_bad_values_are_explained(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_the_secret_key_is_optional_but_not_weak(monkeypatch):
    monkeypatch.delenv("LOA_SECRET_KEY", raising=False)
    assert Settings().pseudonym_secret is None
    monkeypatch.setenv("LOA_SECRET_KEY", "  ")
    assert Settings().pseudonym_secret is None
    monkeypatch.setenv("LOA_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="LOA_SECRET_KEY must have at least 16 characters"):
        Settings()
    monkeypatch.setenv("LOA_SECRET_KEY", "k" * 32)
    settings = Settings()
    assert settings.pseudonym_secret == "k" * 32 and "k" * 32 not in repr(settings)
