"""Webhook mode: Telegram POSTs each update to /telegram/<path>, and the bot handles it.

The path is the first 32 hex digits of the SHA-256 of WEBHOOK_SECRET, so it is stable across
restarts and instances, and names the secret without revealing it. Telegram sends the secret
itself in X-Telegram-Bot-Api-Secret-Token; a request without it (or with another) is refused
with 403 before its body is read. The update is put on the PTB Application's update queue and
the answer is 200 at once: the handlers run in the background (per chat in order, see
bot/ordering.py). Telegram delivers an update again when it did not get our answer: on SQLite
(one process) an update id seen among the last RECENT_IDS is acknowledged and dropped. On
PostgreSQL, where several instances may share the webhook, the update is claimed in the database
first (storage/updates.py): a resend that any instance already took is acknowledged and dropped,
and while an earlier update of its chat is pending at another instance the answer waits, up to
CHAT_WAIT_S; at that bound the claim is given back and the answer is 503 with Retry-After, so
that Telegram delivers it again later (and should it not, the instance that finds the claim's
lease over handles it).

The route exists only in webhook mode (WEBHOOK_URL set); the runner calls setWebhook on start
and leaves it set on stop (bot/runner.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections import deque
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update

from kernel.logs import fields
from kernel.settings import Settings
from web import inputs
from web.keys import BOT, SETTINGS

log = logging.getLogger("loa.webhook")

PREFIX = "/telegram/"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's rule for secret_token (1-256 of these), and our floor: the secret is all that
# keeps others from posting updates.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,256}")
RECENT_IDS = 10_000
# How long a webhook's answer waits for an earlier update of its chat held by another instance
# (well under Telegram's and nginx's timeouts), and how often it looks: soon at first (the
# earlier update is usually being answered), then less often, so that many chats waiting at
# once do not crowd the handlers out of the database.
CHAT_WAIT_S = 10.0
CHAT_POLL_S = (0.01, 0.25)


class RecentIds:
    """The last `size` update ids, to acknowledge a redelivered update without handling it twice."""

    def __init__(self, size: int = RECENT_IDS) -> None:
        self.size = size
        self._ids: set[int] = set()
        self._order: deque[int] = deque()

    def __contains__(self, update_id: int) -> bool:
        return update_id in self._ids

    def add(self, update_id: int) -> None:
        if update_id in self._ids:
            return
        self._ids.add(update_id)
        self._order.append(update_id)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())


SEEN = web.AppKey("webhook_seen", RecentIds)


def path_for(secret: str) -> str:
    """The route Telegram posts to for this secret: /telegram/<32 hex digits>."""
    return PREFIX + hashlib.sha256(secret.encode()).hexdigest()[:32]


def secret_of(settings: Settings) -> str | None:
    return settings.webhook_secret.get_secret_value() if settings.webhook_secret else None


def public_url(settings: Settings) -> str | None:
    """The address handed to setWebhook (WEBHOOK_URL + path), or None in polling mode."""
    secret = secret_of(settings)
    if not settings.webhook_url or not secret:
        return None
    return settings.webhook_url.rstrip("/") + path_for(secret)


def problem(settings: Settings) -> str | None:
    """What keeps webhook mode from starting, in words for the operator; None when all is well."""
    url, secret = settings.webhook_url, secret_of(settings)
    if not url:
        return ("webhook mode needs WEBHOOK_URL: the public HTTPS address where Telegram reaches this "
                "server (e.g. https://loa.example.gov.vn); updates arrive on <WEBHOOK_URL>/telegram/…")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        return f"WEBHOOK_URL {url!r} is not an http(s) address like https://loa.example.gov.vn"
    if not secret:
        return ("webhook mode needs WEBHOOK_SECRET: 16 to 256 letters, digits, _ or -, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if not SECRET_PATTERN.fullmatch(secret):
        return "WEBHOOK_SECRET must be 16 to 256 characters, each a letter, a digit, _ or -"
    return None


async def receive(request: web.Request) -> web.Response:
    app = request.app
    secret = secret_of(app[SETTINGS]) or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        log.warning("webhook_refused %s", fields(reason="secret", remote=request.remote))
        return web.json_response({"error": "forbidden"}, status=403)
    application = app[BOT]
    if not application.running:
        # Starting or stopping: Telegram delivers it again later.
        return web.json_response({"error": "not ready"}, status=503)
    body = await request.read()  # over client_max_size: 413
    try:
        data = await inputs.parse_json(body)
    except inputs.Unreadable as problem:
        return web.json_response({"error": str(problem)}, status=400)
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return web.json_response({"error": "not a Telegram update: no update_id"}, status=400)
    claims = getattr(application.update_processor, "claims", None)
    seen = app[SEEN]
    if claims is None and update_id in seen:
        log.info("webhook_duplicate %s", fields(id=update_id))
        return web.Response()
    try:
        update = Update.de_json(data, application.bot)
    except Exception:
        return web.json_response({"error": "not a Telegram update"}, status=400)
    if claims is None:
        seen.add(update_id)
    else:
        chat_id = update.effective_chat.id if update.effective_chat else None
        claim = await claims.claim(update_id, chat_id, body.decode())
        if not claim.taken:
            log.info("webhook_duplicate %s", fields(id=update_id))
            return web.Response()
        if claim.behind and not await _turn_came(claims, update_id, chat_id):
            await claims.release(update_id)
            log.warning("webhook_chat_busy %s", fields(id=update_id, chat=chat_id))
            return web.json_response({"error": "an earlier update of this chat is still being handled"},
                                     status=503, headers={"Retry-After": "1"})
    application.update_queue.put_nowait(update)
    return web.Response()


async def _turn_came(claims, update_id: int, chat_id: int) -> bool:
    """Whether the earlier updates of the chat held by other instances were handled within CHAT_WAIT_S."""
    deadline = time.monotonic() + CHAT_WAIT_S
    pause, longest = CHAT_POLL_S
    while time.monotonic() < deadline:
        await asyncio.sleep(pause)
        pause = min(pause * 2, longest)
        if not await claims.behind(update_id, chat_id):
            return True
    return False


def setup(app: web.Application) -> None:
    secret = secret_of(app[SETTINGS])
    if not app[SETTINGS].webhook_url or not secret:
        return
    app[SEEN] = RecentIds()
    app.router.add_post(path_for(secret), receive)
