"""Every route of the HTTP server, with absurd input: huge, negative and non-numeric numbers,
unicode, deep and malformed JSON, wrong types, in the path, the query and the body. No answer may
be a server error, and each refusal comes in its interface's error format: JSON for the REST
API, Open311's errors for Open311, an HTML page for the dashboard, JSON for the webhook and the
sandbox's chat. The routes are read from the aiohttp application itself, so a new route is
fuzzed without changing this test. (The REST API is also fuzzed against its OpenAPI document by
tests/test_api_schema.py; the CAP ingest's XML by tests/test_cap.py.)"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.app import build_application
from bot.runner import serving
from sandbox import chat
from storage import tokens
from tests.fixtures.bot import at_a_persons_pace, settings_for
from tests.fixtures.city import add_report, grant
from tests.fixtures.dashboard import browser_at, free_port
from web import webhook

SECRET = "fuzz-webhook-secret_0123456789"
HUGE = "9" * 5000
# Path and query values: numbers too large for int(), for a 64-bit and for a 32-bit column, negative, zero,
# not numbers, other scripts' digits, control characters, long text.
VALUES = [HUGE, "99999999999999999999", "999999999999999999", "2147483648", "-1", "0", "1.5e9", "abc", "١٢٣",
          "%00\x01", "😀" * 50, "x" * 3000]
# Every query parameter some route reads.
QUERY_NAMES = ["page", "per_page", "limit", "v", "days", "seat", "lang", "t", "done", "code", "parent", "q",
               "state", "updated_since", "sort", "category", "area", "areas", "agency", "priority", "topic",
               "province", "service_request_id", "service_code", "status", "start_date", "end_date", "api_key"]
DEEP = b"[" * 100_000 + b"]" * 100_000
JSON_BODIES = [DEEP, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"{not json", b"\xff\xfe\x00", b"[1, 2]", b'"text"',
               b"null", HUGE.encode(), b"", b"{}"]
# Fields some form or body reads, each given values of the wrong type.
FIELDS = ["text", "reply_to", "message", "caption", "latitude", "longitude", "name", "language", "update_id",
          "action", "note", "reason", "agency", "template", "expected_event_id", "duplicate_of", "priority", "t",
          "topic", "areas", "severity", "texts", "page", "service_code", "lat", "long", "description", "api_key",
          "reason_template", "original_code", "suggested", "back", "when", "date", "time", "repeat", "link"]
# The dashboard's report actions, each of which reads its own fields.
ACTIONS = ("assign", "reject", "resolve", "duplicate", "start", "send_back", "priority", "nothing")
WRONG_TYPES = [[1, 2], {"a": 1}, int(HUGE[:4000]), -1, 1e308, None, True, "😀" * 100]


def routes(app: web.Application) -> list[tuple[str, str, list[str]]]:
    """(method, path template, names of its variable parts) of every route but the static files."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if "directory" in info:
            continue
        template = info.get("path") or info.get("formatter")
        template = re.sub(r"\{(\w+):[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", r"{\1}", template)
        names = re.findall(r"\{(\w+)\}", template)
        for method in ("GET", "DELETE") if route.method == "*" else (route.method,):
            found.append((method, template, names))
    return found


def paths(template: str, names: list[str], fine: dict[str, str]) -> list[str]:
    """The template with each variable part in turn given every absurd value (the others fine)."""
    if not names:
        return [template]
    out = []
    for name in names:
        for value in VALUES:
            values = {n: fine.get(n, "1") for n in names} | {name: quote(value, safe="")}
            out.append(template.format(**values))
    return out


def interface(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/open311/"):
        return "open311"
    if path.startswith("/dashboard"):
        return "dashboard"
    if path.startswith("/telegram/"):
        return "webhook"
    if path.startswith("/sandbox/") or path == "/":
        return "sandbox"
    return "other"


def check_format(method: str, path: str, status: int, content_type: str, body: bytes) -> str | None:
    """What is wrong with an answer (None: nothing)."""
    where = f"{method} {path[:120]} -> {status}"
    if status >= 500:
        return f"{where}: a server error: {body[:300]!r}"
    if status < 400:
        return None
    kind = interface(path)
    if kind == "api":
        try:
            error = json.loads(body)["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            return f"{where}: not the API's JSON error: {content_type} {body[:200]!r}"
    elif kind == "open311":
        if content_type == "application/json":
            try:
                [error] = json.loads(body)
                assert error["code"] == status and error["description"]
            except (ValueError, KeyError, TypeError, AssertionError):
                return f"{where}: not Open311's JSON error: {body[:200]!r}"
        elif content_type != "text/xml" or b"<errors><error><code>" not in body:
            return f"{where}: not Open311's XML error: {content_type} {body[:200]!r}"
    elif kind == "dashboard":
        if content_type != "text/html" or b"<html" not in body:
            return f"{where}: not the dashboard's error page: {content_type} {body[:200]!r}"
    elif kind in ("webhook", "sandbox"):
        try:
            assert isinstance(json.loads(body)["error"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            return f"{where}: not a JSON error: {content_type} {body[:200]!r}"
    return None


class Fuzzer:
    def __init__(self, base: str, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        self.base, self.http, self.headers = base, http, headers
        self.problems: list[str] = []
        self.sent = 0
        self._gate = asyncio.Semaphore(6)

    async def send(self, method: str, path: str, *, params=None, data=None, headers=None) -> None:
        headers = {**self.headers, **(headers or {})}
        async with self._gate:
            async with self.http.request(method, self.base + path, params=params, data=data, headers=headers,
                                         allow_redirects=False) as response:
                body = await response.read()
                self.sent += 1
                problem = check_format(method, path, response.status, response.content_type, body)
        if problem:
            self.problems.append(problem)

    async def route(self, method: str, template: str, names: list[str], fine: dict[str, str], *,
                    csrf: str | None = None) -> None:
        if method == "HEAD":
            return
        jobs = [self.send(method, path) for path in paths(template, names, fine)]
        path = template.format(**{n: fine.get(n, "1") for n in names})
        if method == "GET":
            jobs += [self.send(method, path, params={name: VALUES[0]}) for name in QUERY_NAMES]
            jobs += [self.send(method, path, params={name: value[:20] for name in QUERY_NAMES})
                     for value in VALUES]
            jobs += [self.send(method, path, params=[("page", "1"), ("page", "2"), ("areas", "1")] * 3)]
        else:
            for body in JSON_BODIES:
                jobs.append(self.send(method, path, data=body, headers={"Content-Type": "application/json"}))
            for value in WRONG_TYPES:
                body = json.dumps({name: value for name in FIELDS}).encode()
                jobs.append(self.send(method, path, data=body, headers={"Content-Type": "application/json"}))
                form = {name: value if isinstance(value, str) else json.dumps(value) for name in FIELDS}
                if csrf:
                    form["csrf"] = csrf
                jobs.append(self.send(method, path, data=form))
            actions = ACTIONS if path.endswith("/act") else ("send",)
            for action in actions:
                for value in VALUES:  # every field absurd
                    form = {name: value for name in FIELDS} | {"action": action, "way": value, "csrf": csrf or ""}
                    jobs.append(self.send(method, path, data=form))
                for name in FIELDS:  # one field absurd, the others left out
                    jobs.append(self.send(method, path, data={name: HUGE, "action": action, "csrf": csrf or ""}))
            jobs.append(self.send(method, path, data=b"a=%ff%fe&b=\xff", headers={
                "Content-Type": "application/x-www-form-urlencoded"}))
            jobs.append(self.send(method, path, data=b"--x\r\ngarbage", headers={
                "Content-Type": "multipart/form-data; boundary=x"}))
            jobs.append(self.send(method, path, data=b"<a>" * 1000, headers={"Content-Type": "text/plain"}))
        await asyncio.gather(*jobs)


async def test_no_route_of_the_server_fails_on_absurd_input(emulator, db, tmp_path, city):  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_HOST="127.0.0.1",
                            HTTP_PORT=str(port), WEBHOOK_URL=url, WEBHOOK_SECRET=SECRET,
                            LOA_MAX_BODY_BYTES=str(2 * len(DEEP) + 1024))
    admin = emulator.user(first_name="An")
    await grant(db, admin, "admin")
    code = await add_report(db)
    async with db.transaction() as session:
        _row, token = await tokens.create(session, name="fuzz", scopes=["alerts", "reports"], agency_code="hn-urenco")
    application = build_application(settings, city)
    at_a_persons_pace(emulator)
    async with serving(application, settings, db) as http, browser_at(url) as browser:
        await browser.sign_in(admin)
        await browser.get("/dashboard/queue")
        assert browser.csrf  # the forms are fuzzed past their CSRF check
        fuzzer = Fuzzer(url, browser.http, {"Authorization": f"Bearer {token}",
                                            webhook.SECRET_HEADER: SECRET})
        fine = {"code": code, "alert_id": "1", "format": "json", "n": "1", "position": "1"}
        # Signing out last: the other dashboard routes are fuzzed signed in.
        for method, template, names in sorted(routes(http.app), key=lambda r: r[1] == "/dashboard/logout"):
            if template == "/api/v1/cap":
                continue  # its XML: tests/test_cap.py
            await fuzzer.route(method, template, names, fine, csrf=browser.csrf)
        # The formats of the other interface, and unknown addresses under each.
        for path in ("/open311/v2/requests.xml", "/open311/v2/nothing", "/dashboard/nothing", "/api/v1/nothing",
                     f"/dashboard/reports/{code}/act"):
            await fuzzer.route("GET", path, [], fine)
            await fuzzer.route("PUT", path, [], fine)
    assert not fuzzer.problems, f"{len(fuzzer.problems)} of {fuzzer.sent} answers:\n" + "\n".join(
        sorted(set(p[:160] for p in fuzzer.problems))[:400])
    assert fuzzer.sent > 1000


async def test_no_route_of_the_sandbox_chat_fails_on_absurd_input(sandbox):
    app = web.Application()
    chat.setup_with(sandbox.stage)(app)
    async with aiohttp.ClientSession() as http:
        fuzzer = Fuzzer(sandbox.url.rstrip("/"), http, {chat.HEADER: "1"})
        for method, template, names in routes(app):
            if template == "/sandbox/view":
                continue  # below: a long poll
            await fuzzer.route(method, template, names, {"seat": "hoa", "file_id": "x"})
        for value in VALUES:
            await fuzzer.send("GET", "/sandbox/view", params={"v": value, "seat": "hoa"})
        await fuzzer.send("GET", "/sandbox/view", params={"seat": HUGE})
    assert not fuzzer.problems, f"{len(fuzzer.problems)} of {fuzzer.sent} answers:\n" + "\n".join(
        sorted(set(p[:160] for p in fuzzer.problems))[:400])
    assert fuzzer.sent > 200
