"""GET /healthz: is the database reachable, is the sender alive, when did the bot last handle an update.

    {"status": "ok" | "degraded", "database": bool, "sender": {"running": bool, "leading": bool},
     "last_update_age_seconds": float | null}

"ok" when the database answers and the sender runs; "degraded" otherwise. The status code is
503 only when the database cannot be reached (the bot can do nothing useful then), else 200:
a sender that is not running is worth an alert, not a restart. `leading` tells which of several
instances sends the outbox (only one does); `last_update_age_seconds` is null until the first
update was handled, and grows while residents are quiet, so judge it against the bot's traffic.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text

from kernel.logs import fields
from storage.db import Database
from web import context
from web.keys import BOT, DB

log = logging.getLogger("loa.health")

DB_TIMEOUT = 2.0  # seconds SELECT 1 may take


async def database_reachable(db: Database, timeout: float = DB_TIMEOUT) -> bool:
    try:
        async with asyncio.timeout(timeout):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception as error:  # unreachable, refused, timed out, wrong credentials: all "no"
        log.warning("database_unreachable %s", fields(error=type(error).__name__))
        return False


def sender_state(app: web.Application) -> dict:
    service = context.sender(app)
    return {"running": bool(service is not None and service.running),
            "leading": bool(service is not None and service.leading)}


def last_update_age(application) -> float | None:
    stats = getattr(application.update_processor, "stats", None)
    age = stats.last_update_age() if stats is not None else None
    return None if age is None else round(age, 3)


async def healthz(request: web.Request) -> web.Response:
    application = request.app[BOT]
    database = await database_reachable(request.app[DB])
    sender = sender_state(request.app)
    ok = database and sender["running"]
    body = {"status": "ok" if ok else "degraded", "database": database, "sender": sender,
            "last_update_age_seconds": last_update_age(application)}
    return web.json_response(body, status=200 if database else 503,
                             headers={"Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
