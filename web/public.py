"""The public feeds of Loa's sent alerts, for other systems to take (broadcasts/publish.py says
what is published and builds the documents):

    GET /public/alerts.atom        Atom 1.0, the newest 100 published alerts, newest first, each
                                   entry linking to its CAP document (type application/cap+xml)
    GET /public/alerts/{id}.cap    the alert as a CAP 1.2 message; 404 when it is not published

No token: anyone may read them. With LOA_PUBLIC_PORTAL=false every /public/ address answers 404.
Both are cacheable: an ETag (the feed's from the alerts it lists, a document's from its alert)
and `Cache-Control: public, max-age=60`; a request whose If-None-Match names the current ETag is
answered 304 without a body, and for the feed without building it. Links are absolute, on
DASHBOARD_URL when it is set (the address the outside reaches), else on the request's own.
"""

from __future__ import annotations

import hashlib
import time

from aiohttp import web

from broadcasts import publish
from web import inputs
from web.keys import DB, SETTINGS

FEED_PATH = "/public/alerts.atom"
CAP_PATH = "/public/alerts/{alert_id}.cap"
MAX_AGE = 60  # seconds a client or proxy may reuse an answer without asking again
VERSION_SECONDS = 1.0  # how long a 304 may rest on the feed's version read by an earlier request
FEED_TITLE = "Loa alerts"

# base URL → (ETag, time.monotonic() when read, the feed of that version once built)
_VERSION = web.AppKey("public_feed_version", dict)


@web.middleware
async def switch(request: web.Request, handler):
    """Everything under /public/ is 404 while LOA_PUBLIC_PORTAL is false."""
    if request.path.startswith("/public/") and not request.config_dict[SETTINGS].public_portal:
        raise web.HTTPNotFound()
    return await handler(request)


def publisher(request: web.Request) -> publish.Publisher:
    settings = request.config_dict[SETTINGS]
    base = (settings.dashboard_url or str(request.url.origin())).rstrip("/")
    return publish.Publisher(settings.cap_sender_id, base, settings.tz)


def etag(*parts: str) -> str:
    """A strong ETag of what the answer is made of (and of the documents' format)."""
    return '"' + hashlib.sha256("\n".join((publish.FORMAT, *parts)).encode()).hexdigest()[:32] + '"'


def fresh(request: web.Request, tag: str) -> bool:
    """Whether the client holds this version (If-None-Match names it, or is *)."""
    wanted = request.headers.get("If-None-Match", "")
    tags = {held.strip().removeprefix("W/") for held in wanted.split(",")}
    return tag in tags or "*" in tags


def answer(request: web.Request, tag: str, body: bytes | None, content_type: str,
           vary: str = "Host") -> web.Response:
    """A cacheable answer: 200 with `body`, or 304 (`body` None) to a client holding `tag`.
    `vary`: what else than the address the answer depends on (the portal's pages: the language)."""
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={MAX_AGE}", "Vary": vary}
    if body is None:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": f"{content_type}; charset=utf-8"})


async def feed(request: web.Request) -> web.Response:
    """The feed; a client holding the current version gets 304. The version read by a request in
    the last VERSION_SECONDS answers a 304 without the database (a cached feed is asked for far
    more often than it changes); a 200 always carries the version read with its body, which is
    built once per version (readers without an ETag, such as aggregators, then cost one small read)."""
    who = publisher(request)
    known = request.app[_VERSION]
    tag, at, body = known.get(who.base, ("", 0.0, None))
    if time.monotonic() - at < VERSION_SECONDS and fresh(request, tag):
        return answer(request, tag, None, publish.ATOM_TYPE)
    async with request.config_dict[DB].read() as session:
        read = etag(await publish.feed_version(session), who.sender, who.base)
        if read != tag:
            body = None
        tag = read
        if fresh(request, tag):
            known[who.base] = (tag, time.monotonic(), body)
            return answer(request, tag, None, publish.ATOM_TYPE)
        if body is None:
            body = await publish.feed_document(session, who, title=FEED_TITLE)
        known[who.base] = (tag, time.monotonic(), body)
    return answer(request, tag, body, publish.ATOM_TYPE)


async def cap_document(request: web.Request) -> web.Response:
    alert_id = inputs.number(request.match_info["alert_id"])
    if alert_id is None:
        raise web.HTTPNotFound()
    who = publisher(request)
    tag = etag(str(alert_id), who.sender, who.base)
    async with request.config_dict[DB].read() as session:
        alert = await publish.published_alert(session, alert_id)
        if alert is None:
            raise web.HTTPNotFound()
        if fresh(request, tag):
            return answer(request, tag, None, publish.CAP_TYPE)
        found = await publish.context_for(session, alert)
    return answer(request, tag, publish.cap_document(alert, found, who), publish.CAP_TYPE)


def setup(app: web.Application) -> None:
    app[_VERSION] = {}
    app.middlewares.append(switch)
    app.router.add_get(FEED_PATH, feed)
    app.router.add_get(CAP_PATH, cap_document)
