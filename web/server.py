"""The one aiohttp application `loa run` serves beside the bot, and starting and stopping it.

Each feature is a module with `setup(app)` that adds its routes; `SETUPS` lists them. The
application carries the running PTB Application, the settings and the database (web/keys.py),
and reads request bodies up to LOA_MAX_BODY_BYTES (a larger one is answered 413). Slow clients are
cut off: headers within LOA_HTTP_HEADER_SECONDS, bodies within LOA_HTTP_BODY_SECONDS.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from telegram.ext import Application

from kernel.settings import Settings
from storage.db import Database
from web import (
    api,
    cap,
    context,
    dashboard,
    favicon,
    health,
    inputs,
    metrics,
    open311,
    portal,
    public,
    public_agencies,
    public_alerts,
    public_home,
    public_reports,
    webhook,
)
from web.keys import BOT, DB, SETTINGS

# One module per feature, each with setup(app: web.Application) -> None.
# The public feeds and portal pages (behind LOA_PUBLIC_PORTAL), in the order they are set up.
PUBLIC = (public, portal, public_home, public_reports, public_agencies, public_alerts)
SETUPS = (context, health, metrics, webhook, open311, api, cap, *PUBLIC, dashboard, favicon)

# Seconds in-flight requests get to finish when the server stops.
SHUTDOWN_TIMEOUT = 5.0


def build(application: Application, settings: Settings, db: Database,
          extra: tuple[Callable[[web.Application], None], ...] = ()) -> web.Application:
    """The server of SETUPS, plus `extra` setups (the sandbox adds its chat page)."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[BOT] = application
    app[SETTINGS] = settings
    app[DB] = db
    for setup in (*(module.setup for module in SETUPS), *extra):
        setup(app)
    app.middlewares.append(inputs.body_deadline)  # the innermost: the others answer its 408 in their format
    return app


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port (port 0: any free one, see `address`)."""
    # keepalive_timeout bounds the wait for a request's headers, on a new connection as between
    # requests: a client that sends them too slowly is disconnected (inputs.body_deadline: bodies).
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT,
                           keepalive_timeout=app[SETTINGS].http_header_seconds)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def address(runner: web.AppRunner) -> str:
    """`http://host:port` the server listens on."""
    host, port = runner.addresses[0][:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def stop(runner: web.AppRunner) -> None:
    """Stop listening, let in-flight requests finish (up to SHUTDOWN_TIMEOUT), close."""
    await runner.cleanup()
