"""Logging: one line per event, key=value pairs, and never a bot token, a dashboard sign-in
link or what people wrote.

Loa's own lines carry ids, never people's words. Libraries log more at DEBUG: PTB logs every Bot
API call's parameters and answer and every update it handles (messages, names, the sign-in links
the bot sends), and the database drivers log every statement's parameters. RedactSecrets removes
the values of the fields that hold people's words and names, in the forms PTB writes them
(`'text': '...'` in dicts, `text='...'` in objects), and the token of every sign-in link; the
drivers' statement logs are kept at WARNING (QUIET)."""

from __future__ import annotations

import logging
import re
import sys

# Telegram bot tokens look like 123456789:AAE..., 35 characters after the colon.
TOKEN_PATTERN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
# The token of a dashboard sign-in link (web/dashboard/signin.py), wherever it appears.
LINK_PATTERN = re.compile(r"(/dashboard/login\?(?:[^\s\"'<>]*&(?:amp;)?)?t=)[^\s\"'<>&\\]+")
# Fields of the Bot API and of PTB's objects that hold what people wrote or who they are.
PRIVATE_FIELDS = ("text", "caption", "first_name", "last_name", "username", "title", "phone_number", "vcard",
                  "address", "question", "description", "bio", "query", "url", "login_url", "file_name",
                  "business_intro", "quote")
_QUOTED = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_NAMES = "|".join(PRIVATE_FIELDS)
PRIVATE_PATTERN = re.compile(rf"""((['"])(?:{_NAMES})\2:\s*|\b(?:{_NAMES})=){_QUOTED}""")
REDACTED = "<redacted>"
# Loggers that log every database statement with its parameters at DEBUG: kept at WARNING.
QUIET = ("httpx", "httpcore", "apscheduler", "aiohttp.access", "aiosqlite", "asyncpg", "sqlalchemy.engine",
         "sqlalchemy.pool")


class RedactSecrets(logging.Filter):
    """Renders the message once and removes tokens from it, whoever logged it."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        text = TOKEN_PATTERN.sub("<token>", text)
        if "=" in text or ":" in text:
            text = PRIVATE_PATTERN.sub(rf"\1'{REDACTED}'", text)
            text = LINK_PATTERN.sub(rf"\1{REDACTED}", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


class OneLineFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", " | ")


def setup_logging(level: str = "INFO", secrets: tuple[str, ...] = (), stream=None) -> None:
    """Logs of every logger to `stream` (stderr), one line each, redacted."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fields(**values: object) -> str:
    """`key=value` pairs for a log line; values with spaces are quoted."""
    out = []
    for key, value in values.items():
        if value is None:
            continue
        text = str(value)
        out.append(f"{key}={text!r}" if (" " in text or not text) else f"{key}={text}")
    return " ".join(out)
