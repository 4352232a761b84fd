"""Open311 GeoReport v2 under /open311/v2: the city's reports for any Open311 app.

    GET  discovery.{json,xml}            the service discovery document
    GET  services.{json,xml}             the report categories (service_code = category code)
    GET  services/{code}.{json,xml}      a service definition (no attributes: metadata is false)
    GET  requests.{json,xml}             reports by service_request_id, or service_code, status, dates
    POST requests.{json,xml}             file a report (api_key in the body: a token with the scope open311)
    GET  requests/{id}.{json,xml}        one report

Reports are filed exactly as the bot files them (complaints.reports.file, the same checks of the
description and the place, the same codes and deadlines). A photo is given by `media_url`: it
is downloaded (public addresses only, `LOA_MAX_PHOTO_BYTES` at most, images only), re-encoded
without metadata into the media store, and the report is filed even when that fails (the answer's
service_notice says so). Public answers never name who reported: of the person only `first_name`
is kept, as the reporter's name moderators see; email, phone and the rest are not stored.

Errors are Open311's: a list of {code, description} (XML <errors><error>), with 400 for a missing
or wrong parameter, 403 for a missing, unknown or revoked api_key, 404 for an unknown service or
request, 413 for a body over the server's cap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver
from yarl import URL

from complaints import media, reports
from complaints import open311 as domain
from complaints.deadlines import DeadlineRules
from storage import areas, tokens
from storage.areas import AreaLocator
from storage.types import utcnow
from web import context, inputs
from web.keys import BOT, DB, SETTINGS

log = logging.getLogger("loa.open311")

PREFIX = "/open311/v2"
SCOPE = "open311"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-01-01T00:00:00Z"  # when the services or this API last changed in a way clients notice
FORMATS = {"json": "application/json", "xml": "text/xml"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MEDIA_TIMEOUT = 15  # seconds for the whole download of a media_url
MEDIA_REDIRECTS = 3
USER_AGENT = "Loa-Open311/1 (media_url fetcher)"

# Set to True (tests) to let media_url name loopback and private addresses; by default only
# public addresses are fetched, so an api_key cannot make the server reach inside its network.
ALLOW_PRIVATE_MEDIA = web.AppKey("open311_allow_private_media", bool)
_CACHE = web.AppKey("open311_cache", dict)


def setup(app: web.Application) -> None:
    app[_CACHE] = {}
    fmt = "{format:json|xml}"
    router = app.router
    router.add_get(f"{PREFIX}/discovery.{fmt}", get_discovery)
    router.add_get(f"{PREFIX}/services.{fmt}", get_services)
    router.add_get(PREFIX + "/services/{code:[^/]+}." + fmt, get_service)
    router.add_get(f"{PREFIX}/requests.{fmt}", get_requests)
    router.add_post(f"{PREFIX}/requests.{fmt}", post_request)
    router.add_get(PREFIX + "/requests/{id:[^/]+}." + fmt, get_request)
    router.add_route("*", PREFIX + "/{tail:.*}", unknown)


# ---------------------------------------------------------------- rendering


def _moment(value: datetime, tz) -> str:
    return value.astimezone(tz).isoformat(timespec="seconds")


def _json_value(value: Any, tz) -> Any:
    if isinstance(value, datetime):
        return _moment(value, tz)
    return value


def _xml_text(value: Any, tz) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _moment(value, tz)
    if isinstance(value, float):
        return repr(value)
    return domain.clean_text(str(value))


def _xml_document(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode("utf-8")


def _xml_items(root: str, item: str, rows: list[list[tuple[str, Any]]], tz) -> bytes:
    top = ET.Element(root)
    for row in rows:
        element = ET.SubElement(top, item)
        for name, value in row:
            ET.SubElement(element, name).text = _xml_text(value, tz)
    return _xml_document(top)


def _response(fmt: str, body: bytes, status: int = 200, *, public: bool = False) -> web.Response:
    response = web.Response(body=body, status=status, content_type=FORMATS[fmt], charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    if public:
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _rows(fmt: str, root: str, item: str, rows: list[list[tuple[str, Any]]], tz, status: int = 200,
          public: bool = True) -> web.Response:
    if fmt == "json":
        data = [{name: _json_value(value, tz) for name, value in row} for row in rows]
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    else:
        body = _xml_items(root, item, rows, tz)
    return _response(fmt, body, status, public=public)


def error(fmt: str, status: int, description: str) -> web.Response:
    """Open311's error answer: [{"code", "description"}] or <errors><error>…</error></errors>."""
    rows = [[("code", status), ("description", description)]]
    return _rows(fmt, "errors", "error", rows, None, status, public=False)


def _echo(value: str) -> str:
    """A caller's value quoted in an error, short."""
    value = domain.clean_text(value)
    return value if len(value) <= 40 else value[:39] + "…"


# ---------------------------------------------------------------- GET


async def get_discovery(request: web.Request) -> web.Response:
    fmt = request.match_info["format"]
    url = str(request.url.origin()) + PREFIX
    endpoint = {"specification": SPECIFICATION, "url": url, "changeset": CHANGESET, "type": "production",
                "formats": ["text/xml", "application/json"]}
    about = {"changeset": CHANGESET, "contact": "The city's Loa administrators.",
             "key_service": "api_key values for posting requests are issued by the city's Loa administrators."}
    if fmt == "json":
        body = json.dumps({**about, "endpoints": [endpoint]}, ensure_ascii=False).encode("utf-8")
        return _response(fmt, body, public=True)
    root = ET.Element("discovery")
    for name, value in about.items():
        ET.SubElement(root, name).text = value
    element = ET.SubElement(ET.SubElement(root, "endpoints"), "endpoint")
    for name, value in endpoint.items():
        if name == "formats":
            formats = ET.SubElement(element, "formats")
            for item in value:
                ET.SubElement(formats, "format").text = item
        else:
            ET.SubElement(element, name).text = value
    return _response(fmt, _xml_document(root), public=True)


async def get_services(request: web.Request) -> web.Response:
    fmt = request.match_info["format"]
    async with request.app[DB].read() as session:
        found = await domain.services(session)
    rows = [list(vars(service).items()) for service in found]
    return _rows(fmt, "services", "service", rows, None)


async def get_service(request: web.Request) -> web.Response:
    fmt, code = request.match_info["format"], request.match_info["code"]
    async with request.app[DB].read() as session:
        category = await domain.service(session, code)
    if category is None:
        return error(fmt, 404, f"service_code {_echo(code)} was not found.")
    if fmt == "json":
        body = json.dumps({"service_code": category.code, "attributes": []}, ensure_ascii=False).encode("utf-8")
        return _response(fmt, body, public=True)
    root = ET.Element("service_definition")
    ET.SubElement(root, "service_code").text = category.code
    ET.SubElement(root, "attributes")
    return _response(fmt, _xml_document(root), public=True)


async def get_requests(request: web.Request) -> web.Response:
    fmt = request.match_info["format"]
    settings = request.app[SETTINGS]
    try:
        query = domain.parse_query(request.query, tz=settings.tz, now=utcnow())
    except domain.Invalid as invalid:
        return error(fmt, invalid.status, invalid.description)
    async with request.app[DB].read() as session:
        records = await domain.public(session, await domain.find(session, query))
    return _rows(fmt, "service_requests", "request", [r.fields() for r in records], settings.tz)


async def get_request(request: web.Request) -> web.Response:
    fmt, typed = request.match_info["format"], request.match_info["id"]
    settings = request.app[SETTINGS]
    async with request.app[DB].read() as session:
        report = await domain.by_code(session, typed)
        records = await domain.public(session, [report]) if report is not None else []
    if not records:
        return error(fmt, 404, f"service_request_id {_echo(typed)} was not found.")
    return _rows(fmt, "service_requests", "request", [records[0].fields()], settings.tz)


async def unknown(request: web.Request) -> web.Response:
    fmt = "json" if request.match_info.get("tail", "").endswith(".json") else "xml"
    if request.method not in ("GET", "HEAD", "POST"):
        response = error(fmt, 405, f"{request.method} is not allowed here.")
        response.headers["Allow"] = "GET, HEAD, POST"
        return response
    return error(fmt, 404, "There is no such Open311 resource; see discovery.xml, services.xml and requests.xml.")


# ---------------------------------------------------------------- POST requests


async def post_request(request: web.Request) -> web.Response:
    fmt = request.match_info["format"]
    settings = request.app[SETTINGS]
    db = request.app[DB]
    if "api_key" in request.query:
        # An address ends up in the logs of proxies and servers; a key there must be replaced.
        return error(fmt, 400, "api_key must be sent in the POST body as a form field, never in the address, "
                               "which proxies and servers log. Ask the city for a new api_key: this one may "
                               "have been logged.")
    if request.body_exists and request.content_type not in FORM_TYPES:
        return error(fmt, 400, "Send the fields as application/x-www-form-urlencoded.")
    try:
        form = await inputs.form(request)
    except web.HTTPRequestEntityTooLarge:
        return error(fmt, 413, "The request body is too large.")
    except inputs.BodyTimeout:
        response = error(fmt, 408, "The request body did not arrive in time.")
        response.force_close()
        return response
    except inputs.Unreadable:
        return error(fmt, 400, "The request body could not be read: send UTF-8 form fields.")
    key = form.get("api_key") or ""
    if not isinstance(key, str) or not key.strip():
        return error(fmt, 403, "api_key is missing: posting a request needs the api_key the city issued.")
    async with db.read() as session:
        caller = await tokens.verify(session, key.strip(), touch=False)
    if caller is None or SCOPE not in caller.scopes:
        return error(fmt, 403, "Invalid api_key: unknown, revoked, or not allowed to post requests.")
    try:
        new = domain.parse_new(form)
    except domain.Invalid as invalid:
        return error(fmt, invalid.status, invalid.description)
    async with db.read() as session:
        if await domain.service(session, new.service_code) is None:
            return error(fmt, 404, f"service_code {_echo(new.service_code)} was not found.")
        ward = None
        if new.latitude is not None:
            new.area_code = (await _locator(request.app, session)).locate(new.latitude, new.longitude)
            if new.area_code is None:
                return error(fmt, 400, "lat and long are outside every area this city serves.")
        elif (named := await areas.named_in(session, new.address_text)) is not None:
            new.area_code, ward = named.area.code, named.area.full_name_en

    photos, photo_problem = [], None
    if new.media_url:
        try:
            stored = await _fetch_photo(request.app, new.media_url)
            photos.append({"file_id": "", "file_unique_id": f"url:{stored.sha256[:40]}", "sha256": stored.sha256,
                           "width": stored.width, "height": stored.height})
        except _MediaRefused as refused:
            photo_problem = str(refused)
            log.info("open311_media_refused client=%s reason=%s", caller.token_id, refused)

    now = utcnow()
    async with db.transaction() as session:
        caller = await tokens.verify(session, key.strip())
        if caller is None or SCOPE not in caller.scopes:
            return error(fmt, 403, "Invalid api_key: unknown, revoked, or not allowed to post requests.")
        report = await reports.file(
            session, category_code=new.service_code, description=new.description, latitude=new.latitude,
            longitude=new.longitude, area_code=new.area_code, address_text=new.address_text,
            reporter_name=new.reporter_name, photos=photos, tz=settings.tz, now=now,
            rules=DeadlineRules.from_settings(settings), actor="open311", actor_name=caller.name,
            publicity=settings.public_reports_default)
        code, due = report.code, report.due_at
    log.info("open311_report_filed code=%s category=%s client=%s photos=%d", code, new.service_code,
             caller.token_id, len(photos))
    context.carry_out(request, reports.FILED)  # the moderators' card of the new report, at once

    notice = f"Received as {code}."
    if due is not None:
        notice += f" Expected to be resolved by {_moment(due, settings.tz)}."
    if new.latitude is None:
        notice += (f" The ward found in address_string: {ward}." if ward is not None else
                   " No ward was found in address_string: the moderators will place the report.")
    if photo_problem:
        notice += f" The photo at media_url was not attached: {photo_problem}."
    rows = [[("service_request_id", code), ("service_notice", notice), ("account_id", None)]]
    return _rows(fmt, "service_requests", "request", rows, settings.tz, public=False)


async def _locator(app: web.Application, session) -> AreaLocator:
    """The bot's area locator when the bot runs beside us (loaded once), else one of our own."""
    cache = app[BOT].bot_data if BOT in app else app[_CACHE]
    locator = cache.get("area_locator")
    if locator is None:
        locator = await AreaLocator.load(session)
        cache["area_locator"] = locator
    return locator


# ---------------------------------------------------------------- media_url


class _MediaRefused(Exception):
    """Why the photo of a media_url was not attached, in words for the client."""


class _PublicResolver(AbstractResolver):
    """Resolves names to public addresses only: loopback, private, link-local and reserved ones are dropped."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        found = await self._inner.resolve(host, port, family)
        public = [entry for entry in found if _is_public(entry["host"])]
        if not public:
            raise OSError(f"{host} has no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


def _is_public(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_global
    except ValueError:
        return False


def _check_target(url: URL, allow_private: bool) -> None:
    if url.scheme not in ("http", "https") or not url.host:
        raise _MediaRefused("it is not an http or https URL")
    if allow_private:
        return
    host = url.host.strip("[]")
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise _MediaRefused("its address is not public") from None
        return  # a name: the resolver keeps only its public addresses
    if not address.is_global:
        raise _MediaRefused("its address is not public")


async def _download(url: str, *, max_bytes: int, allow_private: bool) -> bytes:
    target = URL(url)
    connector = aiohttp.TCPConnector(resolver=None if allow_private else _PublicResolver(), limit=2)
    timeout = aiohttp.ClientTimeout(total=MEDIA_TIMEOUT, sock_connect=5)
    headers = {"User-Agent": USER_AGENT, "Accept": "image/*"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers,
                                     trust_env=False) as session:
        for _ in range(MEDIA_REDIRECTS + 1):
            _check_target(target, allow_private)
            async with session.get(target, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise _MediaRefused("the server redirected it nowhere")
                    target = target.join(URL(location))
                    continue
                if response.status != 200:
                    raise _MediaRefused(f"the server answered HTTP {response.status}")
                if not response.content_type.startswith("image/"):
                    raise _MediaRefused("it is not an image")
                if response.content_length is not None and response.content_length > max_bytes:
                    raise _MediaRefused(f"it is larger than {max_bytes} bytes")
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        raise _MediaRefused(f"it is larger than {max_bytes} bytes")
                return bytes(data)
    raise _MediaRefused("too many redirects")


async def _fetch_photo(app: web.Application, url: str) -> media.StoredImage:
    """Download the image of a media_url and keep a cleaned copy; _MediaRefused says why not."""
    settings = app[SETTINGS]
    try:
        data = await _download(url, max_bytes=settings.max_photo_bytes,
                               allow_private=app.get(ALLOW_PRIVATE_MEDIA, False))
        return await asyncio.to_thread(media.MediaStore(settings.media_dir).put, data, settings.max_photo_bytes)
    except _MediaRefused:
        raise
    except media.TooLarge:
        raise _MediaRefused(f"it is larger than {settings.max_photo_bytes} bytes") from None
    except media.NotAnImage:
        raise _MediaRefused("it is not an image") from None
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as problem:
        log.info("open311_media_download_failed error=%s", type(problem).__name__)
        raise _MediaRefused("it could not be downloaded") from None
