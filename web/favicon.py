"""GET /favicon.ico: Loa's icon (web/static/favicon.svg), for every page the server shows (the
dashboard, the sandbox's chat) and for the browsers that ask for it without being told."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

ICON = Path(__file__).with_name("static").joinpath("favicon.svg").read_bytes()


def setup(app: web.Application) -> None:
    app.router.add_get("/favicon.ico", favicon)


async def favicon(_request: web.Request) -> web.Response:
    # An SVG may hold a script: this one holds none, and the policy forbids one anyway.
    return web.Response(body=ICON, content_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400",
                                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                                 "X-Content-Type-Options": "nosniff"})
