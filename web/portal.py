"""What every page of the public portal shares (/public/...: home, reports, agencies, alerts):
the visitor's language, the layout (web/templates/public/base.html, web/static/public.css),
rendering a page as a cacheable answer, and the pages' security headers.

Language: the `loa_lang` cookie ("vi" or "en") set by the switch in the header
(GET /public/language/{code}?back=/public/...); without it, the one of the two that the
browser's Accept-Language ranks higher; without either, LOA_DEFAULT_LANGUAGE (Vietnamese).
Pages need no JavaScript (the security policy forbids scripts) and load nothing from elsewhere.

Caching: every page is answered as the feeds are (web/public.py: `etag`, `fresh`, `answer`),
with an ETag of the rendered page in its language and `Vary: Cookie, Accept-Language`, so a
browser or a proxy asks again with If-None-Match and gets 304 while the page is unchanged.
Figures that read a whole period of reports (complaints.stats) are kept by `memo` and computed
again in the background once MEMO_SECONDS old: they may be that old and the time of computing
them, as a client may keep a page for public.MAX_AGE anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TypeVar

from aiohttp import web
from jinja2 import Environment

from kernel import formats
from kernel.i18n import translator
from kernel.settings import LANGUAGES
from web import public
from web.dashboard.views import STATIC, environment_for
from web.keys import BOT, SETTINGS

PREFIX = "/public"
COOKIE = "loa_lang"
COOKIE_SECONDS = 365 * 24 * 3600
VARY = "Host, Cookie, Accept-Language"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
JINJA = web.AppKey("public_jinja", Environment)
MEMO_SECONDS = float(public.MAX_AGE)
_MEMO = web.AppKey("public_memo", dict)  # key → _Memo
T = TypeVar("T")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def setup(app: web.Application) -> None:
    app[JINJA] = environment()
    app[_MEMO] = {}
    app.router.add_static(f"{PREFIX}/static", STATIC)
    app.router.add_get(f"{PREFIX}/language/{{code}}", switch_language)
    app.on_response_prepare.append(_secure)


@cache
def environment() -> Environment:
    return environment_for(PREFIX)


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(f"{PREFIX}/") and response.content_type == "text/html":
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)


# ---------------------------------------------------------------- the visitor's language


def _accepted(header: str) -> str | None:
    """The one of LANGUAGES that Accept-Language ranks highest ("en-US,en;q=0.9,vi;q=0.8" → en)."""
    best, best_q = None, 0.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = code, q
    return best


def language(request: web.Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return _accepted(request.headers.get("Accept-Language", "")) or request.config_dict[SETTINGS].default_language


def _local(back: str) -> str:
    """`back` if it is a portal address of this site, else the home page (no open redirect)."""
    if back.startswith(f"{PREFIX}/") and not back.startswith("//") and not any(c in back for c in "\\\r\n"):
        return back
    return f"{PREFIX}/"


async def switch_language(request: web.Request) -> web.Response:
    """GET /public/language/{code}?back=...: keep the choice in the cookie, go back to the page."""
    code = request.match_info["code"]
    if code not in LANGUAGES:
        raise web.HTTPNotFound()
    response = web.HTTPSeeOther(_local(request.query.get("back", "")))
    response.set_cookie(COOKIE, code, max_age=COOKIE_SECONDS, path=f"{PREFIX}/", samesite="Lax", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    raise response


# ---------------------------------------------------------------- rendering


@dataclass
class _Memo:
    value: asyncio.Future  # the last value computed (or its first computation, still running)
    at: float  # time.monotonic() when it was computed (the first one: when it was started)
    next: asyncio.Future | None = None  # its replacement being computed


async def memo(request: web.Request, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
    """`compute()`'s value, kept: once it is MEMO_SECONDS old, the next request starts computing
    it again in the background and is answered with the value kept, as the requests are until the
    new one is ready (no visitor waits for a year of reports but the first after a start). The
    first computation is shared by the requests that arrive while it runs; if it fails, they
    fail and the next request tries again."""
    store: dict[Hashable, _Memo] = request.config_dict[_MEMO]
    found = store.get(key)
    if found is None:
        found = store[key] = _Memo(asyncio.ensure_future(compute()), time.monotonic())
    if not found.value.done():
        try:
            return await asyncio.shield(found.value)
        except Exception:
            if store.get(key) is found:
                del store[key]
            raise
    if found.next is None and time.monotonic() - found.at >= MEMO_SECONDS:
        found.next = asyncio.ensure_future(compute())
        found.next.add_done_callback(lambda done: _replace(found, done))
    return found.value.result()


def _replace(kept: _Memo, done: asyncio.Future) -> None:
    kept.next = None
    if not done.cancelled() and done.exception() is None:  # else the old value stays, tried again later
        kept.value, kept.at = done, time.monotonic()


def bot_username(request: web.Request) -> str | None:
    """The running bot's @username (it asked Telegram at start), or None without a bot."""
    application = request.config_dict.get(BOT)
    if application is None:
        return None
    try:
        return application.bot.username
    except RuntimeError:  # not initialized yet
        return None


def render_text(request: web.Request, template: str, **context) -> str:
    settings = request.config_dict[SETTINGS]
    lang = language(request)
    translations = translator(lang)
    tz = settings.tz

    def when(moment: datetime | None) -> str:
        return "—" if moment is None else formats.moment(moment, lang, tz)

    def day(moment: datetime | None) -> str:
        return "—" if moment is None else formats.day(moment, lang, tz)

    def number(value: float | int | None, digits: int = 1) -> str:
        return "—" if value is None else formats.number(value, lang, digits)

    return request.config_dict[JINJA].get_template(template).render(
        _=translations.gettext, ngettext=translations.ngettext, language=lang, languages=LANGUAGES,
        language_names=LANGUAGE_NAMES, path=request.path_qs, when=when, day=day, number=number,
        feed_url=public.FEED_PATH, **context)


def page(request: web.Request, template: str, *, status: int = 200, **context) -> web.Response:
    """The page rendered in the visitor's language, cacheable: 304 when If-None-Match names it."""
    body = render_text(request, template, **context).encode()
    tag = public.etag("page", language(request), hashlib.sha256(body).hexdigest())
    if status == 200 and public.fresh(request, tag):
        return public.answer(request, tag, None, "text/html", vary=VARY)
    response = public.answer(request, tag, body, "text/html", vary=VARY)
    response.set_status(status)
    return response


def not_found(request: web.Request) -> web.HTTPNotFound:
    """The portal's 404 page in the visitor's language, raised to stop a handler."""
    text = render_text(request, "public/error.html", status=404)
    return web.HTTPNotFound(text=text, content_type="text/html", headers={"Vary": VARY})
