"""The web dashboard for staff, under /dashboard: server-rendered pages (Jinja2 templates in
web/templates/dashboard/, assets in web/static/), signed in through a one-time link from the
bot's /dashboard (storage/logins.py).

Each page module has `setup(app)` adding its routes; `PAGES` lists them. Every route starts with
`views.signed_in(request)`, and every form goes through `views.form(request, staff)`, which
checks the session's CSRF token; what a member of staff sees and may do follows their roles as in
the bot, checked again where the action happens (complaints.lifecycle for reports).
"""

from __future__ import annotations

from aiohttp import web

from web.dashboard import bans, broadcasts, queue, report, signin, stats, thread, views

PAGES = (signin, queue, report, bans, thread, broadcasts, stats)


def setup(app: web.Application) -> None:
    views.setup(app)
    for module in PAGES:
        module.setup(app)
