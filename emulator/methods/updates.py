"""Receiving updates: long polling with getUpdates, or a webhook."""

from __future__ import annotations

import asyncio
import itertools
import re
from urllib.parse import urlsplit

from emulator import limits
from emulator.errors import WEBHOOK_ACTIVE, bad_request, conflict
from emulator.methods.registry import ApiResult, Context, method
from emulator.model import ALL_UPDATE_TYPES, DEFAULT_UPDATE_TYPES, BotAccount, Webhook

_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TERMINATED = "terminated by other getUpdates request; make sure that only one bot instance is running"


def _set_allowed_updates(ctx: Context) -> None:
    if "allowed_updates" not in ctx.params:
        return
    value = ctx.params.json("allowed_updates", "allowed updates")
    if isinstance(value, list):
        chosen = frozenset(v for v in value if isinstance(v, str) and v in ALL_UPDATE_TYPES)
        ctx.bot.allowed_updates = chosen or DEFAULT_UPDATE_TYPES


def _confirm(bot: BotAccount, offset: int) -> None:
    updates = bot.updates
    if offset < 0:
        while len(updates) > -offset:
            updates.popleft()
    elif offset > 0:
        while updates and updates[0]["update_id"] < offset:
            updates.popleft()


def _take(bot: BotAccount, limit: int) -> list[dict]:
    return list(itertools.islice(bot.updates, limit))


@method("getUpdates")
async def get_updates(ctx: Context) -> list[dict]:
    bot, params = ctx.bot, ctx.params
    if bot.webhook is not None:
        raise conflict(WEBHOOK_ACTIVE)
    offset = params.int("offset")
    limit = min(max(params.int("limit", 100), 1), 100)
    timeout = min(max(params.int("timeout"), 0), limits.LONG_POLL_MAX)
    _set_allowed_updates(ctx)
    if bot.poll is not None and not bot.poll.done():
        bot.poll.set_result("conflict")
    _confirm(bot, offset)
    if bot.updates or timeout == 0:
        return _take(bot, limit)
    poll = bot.poll = asyncio.get_running_loop().create_future()
    bot.poll_started.set()
    try:
        await asyncio.wait({poll, ctx.emulator.closing}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if bot.poll is poll:
            bot.poll = None
            bot.poll_started.clear()
    reason = poll.result() if poll.done() else None
    if reason == "conflict":
        raise conflict(TERMINATED)
    if reason == "webhook":
        raise conflict("terminated by setWebhook request")
    return _take(bot, limit)


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    # Telegram demands HTTPS; the emulator also delivers to plain HTTP receivers (tests, sandbox).
    return parts.scheme in ("https", "http") and bool(parts.hostname)


@method("setWebhook")
def set_webhook(ctx: Context) -> ApiResult:
    params, bot = ctx.params, ctx.bot
    url = params.str("url").strip()
    if not url:
        return _delete_webhook(ctx)
    if not _valid_url(url):
        raise bad_request("invalid webhook URL specified")
    secret = params.str("secret_token") or None
    if secret is not None and not _SECRET.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = min(max(params.int("max_connections", 40), 1), 100)
    ip_address = params.str("ip_address") or None
    old = bot.webhook
    if params.bool("drop_pending_updates"):
        bot.updates.clear()
    _set_allowed_updates(ctx)
    if (old is not None and old.url == url and old.secret_token == secret and old.max_connections == max_connections
            and old.ip_address == ip_address and not params.bool("drop_pending_updates")):
        return ApiResult(True, "Webhook is already set")
    bot.webhook = Webhook(url, secret, max_connections, ip_address)
    if bot.poll is not None and not bot.poll.done():
        bot.poll.set_result("webhook")
    ctx.emulator.webhooks.start(bot)
    return ApiResult(True, "Webhook was set")


def _delete_webhook(ctx: Context) -> ApiResult:
    bot = ctx.bot
    if ctx.params.bool("drop_pending_updates"):
        bot.updates.clear()
    if bot.webhook is None:
        return ApiResult(True, "Webhook is already deleted")
    bot.webhook = None
    ctx.emulator.webhooks.stop(bot)
    return ApiResult(True, "Webhook was deleted")


@method("deleteWebhook")
def delete_webhook(ctx: Context) -> ApiResult:
    return _delete_webhook(ctx)


@method("getWebhookInfo")
def get_webhook_info(ctx: Context) -> dict:
    bot = ctx.bot
    hook = bot.webhook
    if hook is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(bot.updates)}
    info = {"url": hook.url, "has_custom_certificate": False, "pending_update_count": len(bot.updates),
            "max_connections": hook.max_connections}
    if hook.ip_address:
        info["ip_address"] = hook.ip_address
    if hook.last_error_date is not None:
        info["last_error_date"] = hook.last_error_date
        info["last_error_message"] = hook.last_error_message
    if bot.allowed_updates != DEFAULT_UPDATE_TYPES:
        info["allowed_updates"] = sorted(bot.allowed_updates)
    return info
