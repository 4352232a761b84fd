"""What every dashboard page shares: who is signed in and what they may do, rendering a template
in their language, reading a form with its CSRF token, and the pages' security headers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import select

from complaints.lifecycle import PRIORITY_LABELS, STATE_LABELS
from kernel import formats
from kernel.i18n import translator
from kernel.settings import LANGUAGES
from storage import logins
from storage.models import Role, StaffRole
from web import inputs
from web.keys import DB, SETTINGS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
COOKIE = "loa_session"
PREFIX = "/dashboard"
JINJA = web.AppKey("dashboard_jinja", Environment)

# Pages load nothing from elsewhere: scripts, styles and images are the project's own.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Staff:
    """A signed-in member of staff, with their roles as they are now (a role revoked while
    signed in is gone at the next request)."""

    telegram_id: int
    name: str | None
    language: str
    csrf_token: str
    cookie: str
    admin: bool
    moderator: bool  # moderators and admins triage
    agencies: tuple[str, ...]  # agency staff: the agencies they act for
    broadcaster: bool  # broadcasters and admins

    def home(self) -> str:
        if self.moderator:
            return f"{PREFIX}/queue"
        if self.agencies:
            return f"{PREFIX}/agency"
        if self.broadcaster:
            return f"{PREFIX}/broadcasts"
        return f"{PREFIX}/stats"


def setup(app: web.Application) -> None:
    app[JINJA] = environment()
    app.router.add_static(f"{PREFIX}/static", STATIC)
    app.on_response_prepare.append(_secure)
    app.middlewares.append(_error_pages)


@web.middleware
async def _error_pages(request: web.Request, handler):
    """Under /dashboard, aiohttp's own plain-text errors (no such page, wrong method, body too
    large) are answered with the dashboard's error page, as the pages' own refusals are."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type != "text/plain":
            raise
        page = refusal(request, None, exc.status)
        page.headers.update({k: v for k, v in exc.headers.items() if k == "Allow"})
        raise page from None


@cache
def environment() -> Environment:
    return environment_for(PREFIX)


def environment_for(prefix: str) -> Environment:
    """The templates' environment for the pages under `prefix` (the dashboard's, the public
    portal's): autoescaped, strict about undefined names, with `query` and `static`."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["query"] = lambda params, **changes: urlencode(
        {k: v for k, v in {**params, **changes}.items() if v not in (None, "")})
    env.globals["static"] = lambda name: static_url(name, prefix)
    return env


@cache
def static_url(name: str, prefix: str = PREFIX) -> str:
    """An asset's address under `prefix` with its content's hash, so a browser never keeps an old copy."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"{prefix}/static/{name}?v={digest}"


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(PREFIX):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith(f"{PREFIX}/static"):
            response.headers.setdefault("Cache-Control", "no-store")


# ---------------------------------------------------------------- who is signed in


async def signed_in(request: web.Request) -> Staff:
    """The member of staff behind this request; a browser without a live session is sent to the
    page that says how to sign in, and one whose roles are all gone gets 403."""
    cookie = request.cookies.get(COOKIE)
    settings = request.app[SETTINGS]
    async with request.app[DB].lookup() as session:
        found = await logins.current(session, cookie)
        held = [] if found is None else list((await session.execute(
            select(StaffRole.role, StaffRole.agency_code).where(StaffRole.telegram_id == found.telegram_id))).all())
    if found is None:
        raise web.HTTPSeeOther(f"{PREFIX}/signed-out")
    roles = {role for role, _agency in held}
    admin = found.telegram_id in settings.admin_ids or Role.ADMIN in roles
    staff = Staff(telegram_id=found.telegram_id, name=found.name, language=found.language,
                  csrf_token=found.csrf_token, cookie=cookie, admin=admin,
                  moderator=admin or Role.MODERATOR in roles,
                  agencies=tuple(sorted({a for role, a in held if role == Role.AGENCY_STAFF and a})),
                  broadcaster=admin or Role.BROADCASTER in roles)
    if not (staff.moderator or staff.agencies or staff.broadcaster):
        raise refusal(request, staff, 403)
    return staff


def refusal(request: web.Request, staff: Staff | None, status: int, message: str | None = None) -> web.HTTPException:
    """An error page (403, 404, 400...) in the user's language, raised to stop a handler."""
    language = staff.language if staff else request.app[SETTINGS].default_language
    _ = translator(language).gettext
    default = {403: _("Your role does not allow this."), 404: _("There is nothing here."),
               400: _("This request is not valid."), 405: _("This page cannot be used that way."),
               408: _("What you sent took too long to arrive. Try again."),
               413: _("What you sent is larger than the server accepts.")}
    text = render_text(request, staff, "dashboard/error.html", status=status,
                       message=message or default.get(status, _("Something went wrong.")))
    if status == 405:
        return web.HTTPMethodNotAllowed("", [], text=text, content_type="text/html")
    if status == 413:
        return web.HTTPRequestEntityTooLarge(0, 0, text=text, content_type="text/html")
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 408: web.HTTPRequestTimeout,
           409: web.HTTPConflict}.get(status, web.HTTPBadRequest)
    return cls(text=text, content_type="text/html")


async def form(request: web.Request, staff: Staff) -> dict[str, str]:
    """The posted form, once its CSRF token (field `csrf`, or header X-CSRF-Token for scripts)
    matches the session's; otherwise 403 and nothing is done."""
    try:
        data = await inputs.form(request)
    except inputs.Unreadable:
        raise refusal(request, staff, 400) from None
    given = data.get("csrf") or request.headers.get("X-CSRF-Token")
    if not logins.same_token(staff.csrf_token, given if isinstance(given, str) else None):
        raise refusal(request, staff, 403, translator(staff.language).gettext(
            "This form has expired or did not come from the dashboard. Reload the page and try again."))
    return {key: value for key, value in data.items() if isinstance(value, str)}


# ---------------------------------------------------------------- rendering


def render_text(request: web.Request, staff: Staff | None, template: str, **context) -> str:
    settings = request.app[SETTINGS]
    language = staff.language if staff else settings.default_language
    translations = translator(language)
    tz = settings.tz

    def when(moment: datetime | None) -> str:
        return "—" if moment is None else formats.moment(moment, language, tz)

    def number(value: float | int | None, digits: int = 1) -> str:
        return "—" if value is None else formats.number(value, language, digits)

    return request.app[JINJA].get_template(template).render(
        _=translations.gettext, ngettext=translations.ngettext, language=language, languages=LANGUAGES,
        staff=staff, path=request.path_qs, when=when, number=number,
        state_label=lambda state: translations.gettext(STATE_LABELS[state]) if state in STATE_LABELS else state,
        priority_label=lambda p: translations.gettext(PRIORITY_LABELS[p]) if p in PRIORITY_LABELS else p,
        **context)


def render(request: web.Request, staff: Staff | None, template: str, *, status: int = 200, **context) -> web.Response:
    return web.Response(text=render_text(request, staff, template, **context), status=status,
                        content_type="text/html")
