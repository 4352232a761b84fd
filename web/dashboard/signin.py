"""Signing in with the bot's one-time link, the language of the pages, and signing out.

GET /dashboard/login?t=... only shows a "Sign in" button: apps that open links to preview them
(Telegram itself, mail scanners) must not spend the link. The button POSTs the token, which is
spent then, and the browser gets the session cookie: HttpOnly, SameSite=Lax, Secure when the
dashboard is served over HTTPS, limited to /dashboard.
"""

from __future__ import annotations

from aiohttp import web

from kernel.i18n import translator
from kernel.settings import LANGUAGES
from storage import logins
from web import inputs
from web.dashboard import views
from web.dashboard.views import COOKIE, PREFIX
from web.keys import DB, SETTINGS, SIGN_IN_HINT


def setup(app: web.Application) -> None:
    app.router.add_get(PREFIX, home)
    app.router.add_get(f"{PREFIX}/", home)
    app.router.add_get(f"{PREFIX}/login", login_page)
    app.router.add_post(f"{PREFIX}/login", login)
    app.router.add_get(f"{PREFIX}/signed-out", signed_out)
    app.router.add_post(f"{PREFIX}/logout", logout)
    app.router.add_post(f"{PREFIX}/language", language)


def _key(request: web.Request) -> bytes:
    return logins.signing_key(request.app[SETTINGS].telegram_bot_token.get_secret_value())


def _bad_link(request: web.Request) -> web.Response:
    _ = translator(request.app[SETTINGS].default_language).gettext
    return views.render(request, None, "dashboard/signed_out.html", status=400,
                        message=_("This sign-in link is not valid, has expired or was already used."),
                        hint=request.app.get(SIGN_IN_HINT))


async def _signed_in_home(request: web.Request) -> str | None:
    """The page of the member of staff this browser is signed in as already, if it is."""
    if not request.cookies.get(COOKIE):
        return None
    try:
        staff = await views.signed_in(request)
    except web.HTTPException:  # no live session, or no role left
        return None
    return staff.home()


async def home(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    raise web.HTTPSeeOther(staff.home())


async def login_page(request: web.Request) -> web.Response:
    # Signed in already (a link opened again from the chat, used or not): to the dashboard, and
    # the link, if still unused, stays so.
    if (home_page := await _signed_in_home(request)) is not None:
        raise web.HTTPSeeOther(home_page)
    token = request.query.get("t", "")
    if not logins.is_genuine(_key(request), token):
        return _bad_link(request)
    return views.render(request, None, "dashboard/login.html", token=token)


async def login(request: web.Request) -> web.Response:
    try:
        token = (await inputs.form(request)).get("t")
    except inputs.Unreadable:
        return _bad_link(request)
    settings = request.app[SETTINGS]
    async with request.app[DB].transaction() as session:
        link = await logins.spend_link(session, _key(request), token if isinstance(token, str) else "")
        opened = None if link is None else await logins.open_session(session, link.telegram_id, name=link.name,
                                                                       language=link.language)
    if opened is None:
        if (home_page := await _signed_in_home(request)) is not None:
            raise web.HTTPSeeOther(home_page)
        return _bad_link(request)
    response = web.HTTPSeeOther(PREFIX)
    response.set_cookie(COOKIE, opened.cookie, path=PREFIX, httponly=True, samesite="Lax",
                        secure=settings.dashboard_base.startswith("https://"),
                        max_age=logins.SESSION_HOURS * 3600)
    raise response


async def signed_out(request: web.Request) -> web.Response:
    return views.render(request, None, "dashboard/signed_out.html", message=None, hint=request.app.get(SIGN_IN_HINT))


async def logout(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    await views.form(request, staff)
    async with request.app[DB].transaction() as session:
        await logins.end(session, staff.cookie)
    response = web.HTTPSeeOther(f"{PREFIX}/signed-out")
    response.del_cookie(COOKIE, path=PREFIX)
    raise response


async def language(request: web.Request) -> web.Response:
    staff = await views.signed_in(request)
    data = await views.form(request, staff)
    chosen = data.get("language")
    if chosen in LANGUAGES:
        async with request.app[DB].transaction() as session:
            await logins.set_language(session, staff.cookie, chosen)
    back = data.get("back", "")
    # Only back to a page of the dashboard, never to an address a form could smuggle in.
    raise web.HTTPSeeOther(back if back.startswith(PREFIX + "/") and "//" not in back else staff.home())
