"""Logging: one line per event, and no token ever reaches the log."""

from __future__ import annotations

import io
import logging

import pytest

from kernel.logs import OneLineFormatter, RedactSecrets, fields, setup_logging
from tests.fixtures.bot import served
from tests.fixtures.city import grant
from tests.fixtures.dashboard import browser_at, sign_in_link, web_settings

TOKEN = "123456789:AAE-example-token-that-must-not-leak_x"


@pytest.fixture
def capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(RedactSecrets((TOKEN, "s3cret")))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_tokens_are_removed_from_messages_and_arguments(capture):
    logger, stream = capture
    logger.warning("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    logger.warning("other bot 987654321:ZZZabcdefghijklmnopqrstuvw and s3cret")
    out = stream.getvalue()
    assert TOKEN not in out and "987654321:ZZZ" not in out and "s3cret" not in out
    assert out.count("<token>") == 3


def test_an_exception_stays_on_one_line_and_is_redacted(capture):
    logger, stream = capture
    try:
        raise ValueError(f"bad answer for {TOKEN}\nsecond line")
    except ValueError:
        logger.exception("handler_failed %s", fields(id=5, chat=-100))
    out = stream.getvalue()
    assert out.count("\n") == 1
    assert "handler_failed id=5 chat=-100" in out and "ValueError" in out
    assert TOKEN not in out


def test_peoples_words_names_and_sign_in_links_are_removed_in_every_form(capture):
    logger, stream = capture
    logger.warning("params %s", {"chat_id": 5, "text": "Ổ gà 'sâu' \"lắm\"", "reply_markup": {"inline_keyboard": [[
        {"text": "Mở", "url": "https://loa.example/dashboard/login?t=abcDEF_123.sigXYZ"}]]}})
    logger.warning('json {"text": "Tôi tên \\"Lan\\"", "first_name": "Lan", "id": 9}')
    logger.warning("update Message(caption='nhà số 12', from_user=User(first_name=\"O'Neil\", id=9), text='x')")
    logger.warning("GET /dashboard/login?t=abcDEF_123.sigXYZ HTTP/1.1 and /dashboard/login?lang=en&t=abc.def")
    out = stream.getvalue()
    for private in ("Ổ gà", "lắm", "Mở", "abcDEF_123", "sigXYZ", "Lan", "O'Neil", "nhà số 12", "abc.def"):
        assert private not in out, private
    assert "'chat_id': 5" in out and "id=9" in out and "/dashboard/login?t=<redacted>" in out


def test_fields_quote_values_with_spaces_and_skip_none():
    assert fields(id=1, chat=None, name="Lan Anh", empty="") == "id=1 name='Lan Anh' empty=''"


@pytest.fixture
def debug_log(settings):
    """Every logger at DEBUG, as `loa run` sets it up with LOA_LOG_LEVEL=DEBUG, into a buffer."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    kept = root.handlers[:], root.level, levels
    stream = io.StringIO()
    setup_logging("DEBUG", secrets=(settings.token,), stream=stream)
    yield stream
    root.handlers[:], root.level = kept[0], kept[1]
    for name, level in kept[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en")


async def test_at_debug_residents_words_and_sign_in_links_stay_out_of_the_log(application, emulator, settings, db,
                                                                              debug_log):
    words = "Secret words of Lan about ngõ 12 Hàng Bạc"
    lan = emulator.user(first_name="Lanthanum", last_name="Nguyen", username="lan_private", language_code="en")
    mai = emulator.user(first_name="Mai", language_code="en")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await lan.send("/start")
        await lan.next_message()
        await lan.send(words)
        await lan.next_message()
        link = await sign_in_link(mai)
        token = link.split("t=", 1)[1]
        await browser.get(link)
        await browser.post("/dashboard/login", {"t": token}, csrf=False, allow_redirects=False)
        await browser.get("/dashboard/queue")
    log = debug_log.getvalue()
    assert "sendMessage" in log and " DEBUG " in log  # the DEBUG lines of PTB and the transport are there
    for private in (words, "Secret words", token, token.split(".")[0], "Lanthanum", "lan_private", "Welcome"):
        assert private not in log, (private, [line for line in log.splitlines() if private in line][:3])
    assert str(lan.id) in log  # ids stay: they say who did what
