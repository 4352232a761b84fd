"""Schemathesis against the live agency API: the server `loa run` serves (web/server.py) listens on
a real port, and schemathesis sends what /api/v1/openapi.json allows and what it does not (its
examples, the coverage of edges and negative cases, fuzzing), with a valid token, on SQLite and
PostgreSQL. No answer may be a server error or differ from the document (status codes, content
types, headers, bodies); invalid input must be refused, and a request without the token too.

schemathesis' pytest plugin builds one test per operation when this module is collected, before any
server runs, so it reads the document from `web.openapi`; the `live` fixture checks that the
server serves exactly that document. (Its lazy `from_fixture` loader does not run on pytest 9.)
The server runs in a thread with its own event loop and engine on the test's database, because
schemathesis calls it synchronously from the test.

POST /api/v1/cap takes a CAP XML document, which JSON Schema cannot describe: the document says "a
string" and gives a real message as its example. Schemathesis sends that example (201, then 200 for
the repeats) and fuzzes the rest (a string that is not CAP: 400). `test_cap_answers_keep_to_the_document`
checks real answers of every kind against the documented schemas.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import update

from bot.app import build_application
from broadcasts import alerts, lifecycle
from storage import tokens
from storage.db import Database
from storage.models import ApiToken, ReportEvent
from tests.fixtures.api import api_settings, make_world, new_report
from web import openapi, server

MAX_EXAMPLES = 12  # fuzzing cases per operation: modest, the coverage phase adds the edge cases
# The token of agency a1 schemathesis uses, stored hashed like any other (tests only).
TOKEN = "loa_schemathesis-test-token-of-agency-a1"
OPEN311_REPORT = "PA-3W7NX"

CONFIG = schemathesis.Config.from_dict({
    "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    # A request the schema allows may still be refused for what the database holds (an unknown
    # area, a time already past: 422) or the object's state (409); it must never be refused as
    # malformed (400, 413, 415) nor fail.
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}},
    "operations": [{
        # The document can only say that a CAP message is a string: any string fits it, and one that
        # is not CAP is rightly refused with 400 invalid_cap. Everything else is checked as above.
        "include-operation-id": "postCap",  # POST /api/v1/cap
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "422"]}},
    }],
})
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)


@schemathesis.serializer(*openapi.CAP_MEDIA_TYPES)
def cap_body(ctx, value) -> bytes:
    """The body of POST /api/v1/cap is the XML document itself (the document's string), not the
    string wrapped in an element as schemathesis' own XML serializer sends it. A value that is not
    a string (negative cases) goes as its JSON text: not CAP either."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, default=str).encode("utf-8")


class LiveServer(threading.Thread):
    """The aiohttp application on 127.0.0.1 in a thread, until `stop`."""

    def __init__(self, url: str, db_schema: str | None, app_settings) -> None:
        super().__init__(daemon=True)
        self.db_url, self.db_schema, self.settings = url, db_schema, app_settings
        self.ready = threading.Event()
        self.address: str | None = None
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start_serving()
            self.failure = error
            self.ready.set()

    async def _serve(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        db = Database(self.db_url, schema=self.db_schema)
        try:
            app = server.build(build_application(self.settings, db), self.settings, db)
            runner = await server.start(app, "127.0.0.1", 0)
            self.address = server.address(runner)
            self.ready.set()
            await self._stopping.wait()
            await server.stop(runner)
        finally:
            await db.dispose()

    def start_serving(self) -> str:
        self.start()
        self.ready.wait(30)
        if self.failure is not None or self.address is None:
            raise RuntimeError("the API server did not start") from self.failure
        return self.address

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(30)


@pytest.fixture
async def data(db):
    """Agency a1 (TOKEN's) with alert 1 and report PA-7K3Q9, the document's examples; agency a2
    with alert 2 and a report, to be refused; areas, residents, the other tokens of test_api
    (returned: test_api's World)."""
    world = await make_world(db)
    async with db.transaction() as session:
        session.add(ApiToken(name="a1 schemathesis", agency_code="a1", scopes=["alerts", "reports"],
                             token_hash=tokens.digest(TOKEN), prefix=TOKEN[:12]))
        for agency in ("a1", "a2"):
            alert = await alerts.create(session, topic_code="weather", severity="severe", area_codes=["01"],
                                        texts={"vi": "Mưa lớn"}, source="api", identifier=f"{agency}/#seed",
                                        sender_name=f"{agency} dispatch")
            await lifecycle.compose(session, alert, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    await new_report(db, "PA-7K3Q9", "a1")
    # A report an Open311 app filed: its first event's actor is "open311", named after the app's token.
    report_id = await new_report(db, OPEN311_REPORT, "a1")
    async with db.transaction() as session:
        await session.execute(update(ReportEvent).where(ReportEvent.report_id == report_id,
                                                        ReportEvent.action == "submit")
                              .values(actor="open311", actor_name="open311 dispatch", actor_telegram_id=None))
    return world


@pytest.fixture
def live(db, data, tmp_path):
    """The address of the server, which serves the document the tests were built from."""
    server_thread = LiveServer(db.url, db.schema, api_settings(db, tmp_path))
    address = server_thread.start_serving()
    try:
        served = requests.get(f"{address}/api/v1/openapi.json", timeout=10)
        assert served.status_code == 200 and served.json() == openapi.document()
        yield address
    finally:
        server_thread.stop()


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
def test_the_api_keeps_to_its_openapi_document(case, live):
    case.call_and_validate(base_url=live)


CAP_SAMPLES = Path(__file__).parent / "fixtures" / "cap"


def cap_sample(name: str) -> bytes:
    return (CAP_SAMPLES / name).read_bytes()


def test_cap_answers_keep_to_the_document(live, data, db, tmp_path):
    """Real answers of POST /api/v1/cap, of every documented status, against the document's
    schemas (checked with web.openapi.check, the server's own checker)."""
    operation = openapi.document()["paths"]["/api/v1/cap"]["post"]
    seen: dict[int, int] = {}

    def post(body: bytes | str, status: int, *, token: str = TOKEN, content_type: str = "application/cap+xml",
             code: str | None = None) -> dict:
        headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
        response = requests.post(f"{live}/api/v1/cap", data=body.encode() if isinstance(body, str) else body,
                                 headers=headers, timeout=30)
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        answer = response.json()
        documented = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        openapi.check(answer, documented)
        if code is not None:
            assert answer["error"]["code"] == code, answer
        seen[status] = seen.get(status, 0) + 1
        return answer

    # The document's own example is a message the server takes.
    example = operation["requestBody"]["content"]["application/cap+xml"]["examples"]["hanoi_rain"]["value"]
    first = post(example, 201)
    assert first["duplicate"] is False and first["queued"] is True and first["recipients"] == 3
    assert first["alert"]["kind"] == "alert" and first["alert"]["areas"] == ["01"]
    # The fixture has the same sender and identifier: a repeat.
    again = post(cap_sample("loa-hanoi-rain.cap"), 200, content_type="application/xml")
    assert again["duplicate"] is True and again["alert"]["id"] == first["alert"]["id"]
    update = post(cap_sample("loa-hanoi-rain-update.cap"), 201)
    assert update["alert"]["kind"] == "correction" and update["alert"]["replaces_id"] == first["alert"]["id"]
    cancel = post(cap_sample("loa-hanoi-rain-cancel.cap"), 201)
    assert cancel["alert"]["kind"] == "cancellation"
    held = post(cap_sample("oasis_amber_alert_example.xml"), 201)
    assert held["queued"] is False and held["alert"]["status"] == "done" and held["warnings"]
    assert held["alert"]["languages"] == ["en", "es"]

    post(cap_sample("invalid.cap"), 400, code="invalid_cap")
    post(b"<!DOCTYPE alert [<!ENTITY x 'y'>]><alert/>", 400, code="invalid_cap")
    ack = cap_sample("loa-hanoi-rain-cancel.cap").replace(b"<msgType>Cancel</msgType>", b"<msgType>Ack</msgType>")
    post(ack, 422, code="unsupported_cap")
    post(example, 401, token="", code="unauthorized")
    post(example, 403, token=data.tokens["a1_reports"], code="insufficient_scope")
    post(example, 415, content_type="application/json", code="unsupported_media_type")
    post(b" " * (api_settings(db, tmp_path).max_body_bytes + 1), 413, code="too_large")
    assert set(seen) == {int(status) for status in operation["responses"]}



def test_a_report_an_open311_app_filed_keeps_to_the_document(live):
    response = requests.get(f"{live}/api/v1/reports/{OPEN311_REPORT}", headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=30)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["history"][0]["actor"], report["history"][0]["actor_name"]) == ("open311", "open311 dispatch")
    documented = openapi.document()["paths"]["/api/v1/reports/{code}"]["get"]["responses"]["200"]
    openapi.check(report, documented["content"]["application/json"]["schema"])
