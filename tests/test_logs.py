"""Logging: one line per event, and no token ever reaches the log."""

from __future__ import annotations

import io
import logging

import pytest

from bot.logs import OneLineFormatter, RedactSecrets, fields

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


def test_fields_quote_values_with_spaces_and_skip_none():
    assert fields(id=1, chat=None, name="Lan Anh", empty="") == "id=1 name='Lan Anh' empty=''"
