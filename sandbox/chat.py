"""The sandbox's web chat, on the bot's own HTTP server at `/`: a person picks a seat (a demo
resident, a member of staff, a staff group) and talks to the real bot through the emulator, as
in Telegram: chat bubbles, inline and reply buttons, commands, photos, a location picked on a map.

The page (web/templates/sandbox/, web/static/sandbox.js) asks `/sandbox/view` for the chat and
the seat list, which waits until something changes in the emulator; what the person does is a
POST that becomes an update for the bot. POSTs must carry the header `X-Loa-Sandbox`, which a
form on another site cannot send, so other pages cannot act in the sandbox through the browser.
Every request must name the sandbox's own host (HTTP_HOST, DASHBOARD_URL's, or a loopback name)
in its Host header: a page of another site whose name was made to resolve to 127.0.0.1 (DNS
rebinding) is answered 421 and acts as nobody.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from aiohttp import web
from markupsafe import Markup
from yarl import URL

from emulator.markup import button_rows
from kernel.i18n import translator
from kernel.settings import LANGUAGES
from sandbox import map as city_map
from sandbox.cast import PROVINCE
from sandbox.render import message_html
from sandbox.stage import Seat, Stage
from web import inputs
from web.dashboard.views import JINJA, SECURITY_HEADERS
from web.keys import DB, SETTINGS, SIGN_IN_HINT

STAGE = web.AppKey("sandbox_stage", Stage)
LANGUAGE_COOKIE = "loa_sandbox_language"
HEADER = "X-Loa-Sandbox"
WAIT_SECONDS = 20  # how long /sandbox/view holds a request open when nothing changes
NAME_MAX = 40
TEXT_MAX = 4096
CAPTION_MAX = 1024  # as Telegram's
FILE_NAME_MAX = 120
MIME_TYPE = re.compile(r"[a-z0-9][\w.+-]*/[\w.+-]+", re.ASCII | re.IGNORECASE)
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})  # never an SVG: it may hold a script


def setup_with(stage: Stage):
    """The setup(app) of web/server.py for a server that also serves this stage's chat."""
    def setup(app: web.Application) -> None:
        app[STAGE] = stage
        app[SIGN_IN_HINT] = N_("In the sandbox, sign in as Hùng (moderator) or An (administrator): choose their "
                               "seat on the chat page, send /dashboard there and open the link the bot sends.")
        app.router.add_get("/", page)
        app.router.add_get("/sandbox/view", view)
        app.router.add_get("/sandbox/map.svg", map_svg)
        app.router.add_get("/sandbox/files/{file_id}", file)
        app.router.add_post("/sandbox/people", new_resident)
        app.router.add_post("/sandbox/seats/{seat}/text", send_text)
        app.router.add_post("/sandbox/seats/{seat}/tap", tap)
        app.router.add_post("/sandbox/seats/{seat}/photo", send_photo)
        app.router.add_post("/sandbox/seats/{seat}/document", send_document)
        app.router.add_post("/sandbox/seats/{seat}/location", send_location)
        app.on_response_prepare.append(_secure)
        app.on_shutdown.append(_release_waiters)
        app.middlewares.append(_json_errors)
        app.middlewares.insert(0, _own_host)
    return setup


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def own_hosts(settings) -> frozenset[str]:
    """The names the sandbox answers to: loopback ones, HTTP_HOST and DASHBOARD_URL's host."""
    return LOOPBACK | {settings.http_host.lower(), (URL(settings.dashboard_base).host or "").lower()}


@web.middleware
async def _own_host(request: web.Request, handler):
    try:
        host = URL.build(scheme="http", authority=request.host).host if "@" not in request.host else None
    except ValueError:
        host = None
    if host is None or host.strip("[]").lower() not in own_hosts(request.app[SETTINGS]):
        raise _failure(421, translator(_language(request)).gettext(
            N_("This address is not the sandbox's: open it at the address the console shows.")))
    return await handler(request)


@web.middleware
async def _json_errors(request: web.Request, handler):
    """The chat's routes answer errors as the page's script reads them: JSON with `error`."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if (exc.status < 400 or exc.content_type == "application/json"
                or not request.path.startswith("/sandbox/")):
            raise
        raise _failure(exc.status, exc.text or exc.reason, exc.headers) from None


def _failure(status: int, message: str, headers=None) -> web.HTTPException:
    cls = _STATUSES.get(status) or type(f"HTTP{status}", (web.HTTPClientError,), {"status_code": status})
    kept = {k: v for k, v in (headers or {}).items() if k == "Allow"}
    if cls is web.HTTPMethodNotAllowed:
        return cls("", kept.get("Allow", "").split(","), text=json.dumps({"error": message}),
                   content_type="application/json")
    if cls is web.HTTPRequestEntityTooLarge:
        return cls(0, 0, text=json.dumps({"error": message}), content_type="application/json")
    return cls(text=json.dumps({"error": message}), content_type="application/json", headers=kept)


_STATUSES = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
             405: web.HTTPMethodNotAllowed, 408: web.HTTPRequestTimeout, 413: web.HTTPRequestEntityTooLarge,
             421: web.HTTPMisdirectedRequest}


async def _release_waiters(app: web.Application) -> None:
    """Stopping: the pages' pending /sandbox/view requests end now rather than hold the stop."""
    app[STAGE].wake()


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith("/sandbox/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")


def _language(request: web.Request) -> str:
    asked = request.query.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return asked if asked in LANGUAGES else request.app[SETTINGS].default_language


def _seat(request: web.Request) -> Seat:
    """The seat the request names (path or query); without one, the newcomer's."""
    stage = request.app[STAGE]
    key = request.match_info.get("seat") or request.query.get("seat")
    if key is None:
        return stage.seats["hoa"] if "hoa" in stage.seats else next(iter(stage.seats.values()))
    seat = stage.seats.get(key)
    if seat is None:
        raise web.HTTPNotFound(text="no such seat")
    return seat


def _render(request: web.Request, template: str, language: str, **context) -> Markup:
    translations = translator(language)
    tz = request.app[SETTINGS].tz

    def clock(timestamp: int) -> str:
        return datetime.fromtimestamp(timestamp, tz).strftime("%H:%M")

    return Markup(request.app[JINJA].get_template(template).render(
        _=translations.gettext, language=language, languages=LANGUAGES, stage=request.app[STAGE],
        message_html=message_html, clock=clock, keyboard_rows=lambda markup, key: button_rows(markup, key) or [],
        **context))


def _parts(request: web.Request, seat: Seat, language: str) -> dict[str, Markup | int]:
    """The pieces of the page that change: the chat, the reply keyboard, the seat lists."""
    stage = request.app[STAGE]
    version = stage.version
    elsewhere = sum(other.unread() for other in stage.seats.values() if other is not seat)
    shown = seat.messages()
    chat = _render(request, "sandbox/_chat.html", language, seat=seat, messages=shown)
    seat.seen = max((m.seq for m in shown), default=seat.seen)
    return {
        "version": version,
        "unread": elsewhere,
        "chat": chat,
        "keyboard": _render(request, "sandbox/_keyboard.html", language, seat=seat),
        "residents": _render(request, "sandbox/_seats.html", language, current=seat, seats=stage.residents()),
        "staff": _render(request, "sandbox/_seats.html", language, current=seat, seats=stage.staff()),
    }


async def page(request: web.Request) -> web.Response:
    language = _language(request)
    try:
        seat = _seat(request)
    except web.HTTPNotFound:
        raise web.HTTPFound("/") from None  # a seat of an earlier run: residents added then are gone
    parts = _parts(request, seat, language)
    commands = seat.member.commands() if not seat.is_group else []
    text = _render(request, "sandbox/chat.html", language, seat=seat, parts=parts, commands=commands,
                   public_feed=request.app[SETTINGS].public_portal)
    response = web.Response(text=text, content_type="text/html")
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, request.query["lang"], max_age=365 * 86400, samesite="Lax",
                            httponly=True)
    return response


async def view(request: web.Request) -> web.Response:
    """The seat's chat, its reply keyboard and the seat list, once the emulator changed after
    the version the page has (`v`), or after WAIT_SECONDS."""
    stage = request.app[STAGE]
    seat = _seat(request)
    version = inputs.number(request.query.get("v", "-1"), -1)
    if version is None:
        raise web.HTTPBadRequest(text="v must be a number")
    await stage.wait(version, WAIT_SECONDS)
    return web.json_response(_parts(request, seat, _language(request)))


async def map_svg(request: web.Request) -> web.Response:
    language = _language(request)
    async with request.app[DB].read() as session:
        svg = await city_map.city_map(session, PROVINCE, language)
    return web.Response(text=svg, content_type="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=3600"})


async def file(request: web.Request) -> web.Response:
    """A photo (or file) in a chat, as the emulator keeps it."""
    stored = request.app[STAGE].emulator.state.files.get(request.match_info["file_id"])
    if stored is None:
        raise web.HTTPNotFound(text="no such file")
    mime_type = stored.mime_type or "application/octet-stream"
    headers = {"Cache-Control": "private, max-age=86400"}
    if mime_type not in INLINE_IMAGES:
        headers["Content-Disposition"] = "attachment"  # never a page of this site
    return web.Response(body=stored.data, content_type=mime_type, headers=headers)


# ---------------------------------------------------------------- what the person does


def N_(msgid: str) -> str:
    """Marks a message for translation; _problem translates it in the page's language."""
    return msgid


def _problem(language: str, message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": translator(language).gettext(message)}, status=status)


async def _posted(request: web.Request) -> dict:
    """The fields the page posted, as JSON or a form; 400 for a body that is neither."""
    if HEADER not in request.headers:
        raise web.HTTPForbidden(text=f"the sandbox's own page sends {HEADER}")
    try:
        if request.content_type == "application/json":
            body = await inputs.json_body(request)
            if not isinstance(body, dict):
                raise inputs.Unreadable("the body is not a JSON object")
            return body
        return dict(await inputs.form(request))
    except inputs.Unreadable:
        raise _failure(400, translator(_language(request)).gettext(N_("This request is not valid."))) from None


async def send_text(request: web.Request) -> web.Response:
    data = await _posted(request)
    seat, language = _seat(request), _language(request)
    text = str(data.get("text") or "").strip()
    if not text:
        return _problem(language, N_("Type a message first."))
    if len(text) > TEXT_MAX:
        return _problem(language, N_("A message can be at most 4,096 characters."))
    try:
        reply_to = _message_id(data.get("reply_to"))
    except ValueError:
        return _problem(language, N_("This request is not valid."))
    try:
        if seat.is_group:
            await seat.chat.send(seat.member, text, reply_to=reply_to)
        else:
            await seat.member.send(text, reply_to=reply_to)
    except (ValueError, AssertionError):
        return _problem(language, N_("The message you reply to is no longer there."), 409)
    return web.json_response({"ok": True})


def _message_id(value) -> int | None:
    """A message id the page sent, or None; ValueError when it is not one."""
    if value in (None, ""):
        return None
    message_id = inputs.number(value)
    if message_id is None:
        raise ValueError(f"not a message id: {str(value)[:20]!r}")
    return message_id


def _caption_and_reply(data, language: str) -> tuple[str | None, int | None, web.Response | None]:
    """A file's caption and the message it replies to, as the page sent them, or the problem."""
    caption = str(data.get("caption") or "").strip() or None
    if caption and len(caption) > CAPTION_MAX:
        return None, None, _problem(language, N_("A caption can be at most 1,024 characters."))
    try:
        return caption, _message_id(data.get("reply_to")), None
    except ValueError:
        return None, None, _problem(language, N_("This request is not valid."))


async def tap(request: web.Request) -> web.Response:
    """Press a button: `text`, and `message` for an inline button (else the reply keyboard's)."""
    data = await _posted(request)
    seat, language = _seat(request), _language(request)
    text = str(data.get("text") or "")
    try:
        message_id = _message_id(data.get("message"))
    except (TypeError, ValueError):
        return _problem(language, N_("This button is no longer there."))
    try:
        if seat.is_group:
            pressed = await seat.chat.tap(seat.member, text, message=message_id)
        else:
            pressed = await seat.member.tap(text, message=message_id)
    except AssertionError:
        return _problem(language, N_("This button is no longer there."), 409)
    if pressed.url:
        return web.json_response({"ok": True, "url": pressed.url})
    if pressed.query is None:
        return web.json_response({"ok": True})
    try:
        answer = await pressed.answer(timeout=5)
    except AssertionError:
        return web.json_response({"ok": True, "toast": None})
    return web.json_response({"ok": True, "toast": answer.text, "alert": answer.show_alert, "url": answer.url})


async def send_photo(request: web.Request) -> web.Response:
    """A photo from the person's computer (field `photo`), or the emulator's sample picture."""
    data = await _posted(request)
    seat, language = _seat(request), _language(request)
    upload = data.get("photo")
    image = None
    if isinstance(upload, web.FileField):
        image = upload.file.read()
        if not image:
            return _problem(language, N_("Choose a picture first."))
    caption, reply_to, problem = _caption_and_reply(data, language)
    if problem is not None:
        return problem
    try:
        if seat.is_group:
            await seat.chat.send_photo(seat.member, caption, image, reply_to=reply_to)
        else:
            await seat.member.send_photo(caption, image)
    except ValueError:
        return _problem(language, N_("This file is not a picture: choose a JPEG or PNG photo, or send it as a file."))
    except AssertionError:
        return _problem(language, N_("The message you reply to is no longer there."), 409)
    return web.json_response({"ok": True})


async def send_document(request: web.Request) -> web.Response:
    """Any file from the person's computer (field `document`), sent as a file, not as a photo: a
    PDF, a text, a picture kept as it is."""
    data = await _posted(request)
    seat, language = _seat(request), _language(request)
    upload = data.get("document")
    content = upload.file.read() if isinstance(upload, web.FileField) else b""
    if not content:
        return _problem(language, N_("Choose a file first."))
    caption, reply_to, problem = _caption_and_reply(data, language)
    if problem is not None:
        return problem
    name = " ".join(str(upload.filename or "").split())[-FILE_NAME_MAX:] or "file"
    mime_type = upload.content_type if MIME_TYPE.fullmatch(upload.content_type or "") else "application/octet-stream"
    try:
        if seat.is_group:
            await seat.chat.send_document(seat.member, content, name, mime_type, caption, reply_to=reply_to)
        else:
            await seat.member.send_document(content, name, mime_type, caption)
    except AssertionError:
        return _problem(language, N_("The message you reply to is no longer there."), 409)
    return web.json_response({"ok": True})


async def send_location(request: web.Request) -> web.Response:
    """A location: through the reply keyboard's button `text` when given, else sent as is."""
    data = await _posted(request)
    seat, language = _seat(request), _language(request)
    latitude, longitude = inputs.coordinate(data.get("latitude"), 90), inputs.coordinate(data.get("longitude"), 180)
    if latitude is None or longitude is None:
        return _problem(language, N_("Pick a point on the map first."))
    button = str(data.get("text") or "")
    if seat.is_group:
        await seat.chat.share_location(seat.member, latitude, longitude)
    elif button:
        try:
            await seat.member.tap(button, location=(latitude, longitude))
        except AssertionError:
            await seat.member.share_location(latitude, longitude)
    else:
        await seat.member.share_location(latitude, longitude)
    return web.json_response({"ok": True})


async def new_resident(request: web.Request) -> web.Response:
    data = await _posted(request)
    language = _language(request)
    name = " ".join(str(data.get("name") or "").split())
    if not name or len(name) > NAME_MAX:
        return _problem(language, N_("Give the new resident a name of at most 40 characters."))
    telegram_language = data.get("language") if data.get("language") in LANGUAGES else language
    seat = request.app[STAGE].add_resident(name, telegram_language)
    return web.json_response({"ok": True, "seat": seat.key})
