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
"""

from __future__ import annotations

import asyncio
import threading
from zoneinfo import ZoneInfo

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from bot.app import build_application
from broadcasts import alerts
from storage import tokens
from storage.db import Database
from storage.models import ApiToken
from tests.test_api import api_settings, make_world, new_report
from web import openapi, server

MAX_EXAMPLES = 12  # fuzzing cases per operation: modest, the coverage phase adds the edge cases
# The token of agency a1 schemathesis uses, stored hashed like any other (tests only).
TOKEN = "loa_schemathesis-test-token-of-agency-a1"

CONFIG = schemathesis.Config.from_dict({
    "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    # A request the schema allows may still be refused for what the database holds (an unknown
    # area, a time already past: 422) or the object's state (409); it must never be refused as
    # malformed (400, 413, 415) nor fail.
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}},
})
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG)


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
async def data(db) -> None:
    """Agency a1 (TOKEN's) with alert 1 and report PA-7K3Q9, the document's examples; agency a2
    with alert 2 and a report, to be refused; areas, residents, the other tokens of test_api."""
    await make_world(db)
    async with db.transaction() as session:
        session.add(ApiToken(name="a1 schemathesis", agency_code="a1", scopes=["alerts", "reports"],
                             token_hash=tokens.digest(TOKEN), prefix=TOKEN[:12]))
        for agency in ("a1", "a2"):
            alert = await alerts.create(session, topic_code="weather", severity="severe", area_codes=["01"],
                                        texts={"vi": "Mưa lớn"}, source="api", identifier=f"{agency}/#seed",
                                        sender_name=f"{agency} dispatch")
            await alerts.compose(session, alert, tz=ZoneInfo("Asia/Ho_Chi_Minh"))
    await new_report(db, "PA-7K3Q9", "a1")


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
