"""/healthz and /metrics on the HTTP server `loa run` starts beside the bot (polling mode)."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from storage.db import Database
from storage.models import Delivery, Report
from tests.fixtures.bot import served, settings_for
from web import health, server


@pytest.fixture
def settings(emulator, db, tmp_path):
    return settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_HOST="127.0.0.1",
                        HTTP_PORT="0")


async def get_json(session, url):
    async with session.get(url) as response:
        return response.status, await response.json()


async def scrape(session, base) -> dict[tuple[str, tuple], float]:
    async with session.get(base + "/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_healthz_is_ok_while_the_bot_runs(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, session):
        status, body = await get_json(session, base + "/healthz")
        assert status == 200
        assert body["status"] == "ok" and body["database"] is True
        assert body["sender"]["running"] is True and isinstance(body["sender"]["leading"], bool)
        assert body["last_update_age_seconds"] is None  # nothing handled yet

        lan = emulator.user(first_name="Lan", language_code="vi")
        await lan.send("/start")
        await lan.next_message()
        await asyncio.wait_for(application.update_queue.join(), 10)
        _status, body = await get_json(session, base + "/healthz")
        assert 0 <= body["last_update_age_seconds"] < 10

        async with session.get(base + "/no/such/route") as response:
            assert response.status == 404
    assert application.bot_data["sender"].leading is False


async def test_healthz_is_503_when_the_database_cannot_be_reached(application, settings):
    unreachable = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test")
    runner = await server.start(server.build(application, settings, unreachable), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            status, body = await get_json(session, server.address(runner) + "/healthz")
            assert status == 503
            assert body == {"status": "degraded", "database": False,
                            "sender": {"running": False, "leading": False}, "last_update_age_seconds": None}
            # /metrics still answers, and says the database is down.
            async with session.get(server.address(runner) + "/metrics") as response:
                assert response.status == 200
                text = await response.text()
            assert "loa_database_up 0.0" in text and "loa_reports_by_state" not in text
    finally:
        await server.stop(runner)
        await unreachable.dispose()


async def test_a_database_that_never_answers_counts_as_unreachable_after_the_timeout():
    """A server that accepts the connection and then says nothing: the check gives up at its own
    timeout instead of waiting for the driver's (asyncpg's is a minute)."""
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    hanging = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    try:
        assert await asyncio.wait_for(health.database_reachable(hanging, timeout=0.2), 30) is False
    finally:
        silent.close()
        await hanging.dispose()


async def test_metrics_count_updates_and_the_rows_of_the_database(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, session):
        before = await scrape(session, base)
        assert before[("loa_database_up", ())] == 1
        assert before[("loa_reports_by_state", (("state", "submitted"),))] == 0

        people = [emulator.user(first_name=name, language_code="vi") for name in ("An", "Binh", "Chi")]
        for person in people:
            await person.send("/start")
        for person in people:
            await person.next_message()
        await (await people[0].tap("Tiếng Việt ✓")).answer()
        await people[0].next_message()
        await asyncio.wait_for(application.update_queue.join(), 10)

        now = int(time.time())
        async with db.transaction() as tx:
            tx.add_all([Report(code=f"PA-T{i}", category_code="roads", description="A pothole on the road",
                               state=state)
                        for i, state in enumerate(["submitted", "submitted", "assigned", "resolved"])])
            # Pending ones are due tomorrow, so the running sender leaves them alone; rows already
            # done are history, which the metrics do not count.
            tx.add_all([Delivery(chat_id=1000 + i, state=state, due_at=now + 86_400 if state == "pending" else now)
                        for i, state in enumerate(["pending"] * 3 + ["sent"] * 2 + ["failed", "blocked"])])
        # Messages the running sender sends now: two reach their chats, one a chat that blocked the bot.
        emulator.expect_error(403)
        await people[2].block()
        async with db.transaction() as tx:
            tx.add_all([Delivery(chat_id=person.id, due_at=now, payload={"method": "sendMessage",
                                                                         "params": {"text": "Hello"}})
                        for person in people])
        async with asyncio.timeout(20):
            while (await people[0].next_message()).text != "Hello":
                pass
            while True:  # until the sender has written the outcomes (it counts them first)
                after = await scrape(session, base)
                if (after[("loa_deliveries_total", (("outcome", "blocked"),))]
                        - before[("loa_deliveries_total", (("outcome", "blocked"),))] == 1
                        and after[("loa_outbox_depth", ())] - before[("loa_outbox_depth", ())] == 3):
                    break
                await asyncio.sleep(0.05)
        assert after[("loa_updates_handled_total", (("kind", "message"),))] == 3
        assert after[("loa_updates_handled_total", (("kind", "callback_query"),))] == 1
        # Blocking the bot is an update too (my_chat_member).
        assert after[("loa_update_handling_seconds_count", ())] == sum(
            value for (name, _), value in after.items() if name == "loa_updates_handled_total") == 5
        assert after[("loa_update_handling_seconds_sum", ())] > 0

        def grew(name, state=None, label="state"):
            key = (name, ((label, state),) if state else ())
            return after[key] - before[key]

        assert (grew("loa_reports_by_state", "submitted"), grew("loa_reports_by_state", "assigned"),
                grew("loa_reports_by_state", "resolved"), grew("loa_reports_by_state", "closed")) == (2, 1, 1, 0)
        assert [grew("loa_deliveries_total", outcome, "outcome")
                for outcome in ("sent", "failed", "blocked", "expired", "retried", "throttled")] == [2, 0, 1, 0, 0, 0]
        assert grew("loa_outbox_depth") == 3


async def test_metrics_show_the_sessions_waiting_for_a_database_connection(application, emulator, settings, db):
    app_db = application.bot_data["db"]
    async with served(application, emulator, settings, db) as (base, session):
        idle = await scrape(session, base)
        assert idle[("loa_db_pool_size", ())] == app_db.pool_size == 10
        assert idle[("loa_db_sessions_waiting", ())] == 0
        assert idle[("loa_updates_handling", ())] == idle[("loa_updates_waiting", ())] == 0
        # Every connection held, and two more sessions asking: they wait, and so does the
        # scrape's own count (the database then counts as down for that scrape).
        held, release = [], asyncio.Event()

        async def hold() -> None:
            async with app_db.read() as reading:
                held.append(await reading.scalar(select(1)))
                await release.wait()

        tasks = [asyncio.create_task(hold()) for _ in range(app_db.pool_size + 2)]
        async with asyncio.timeout(10):
            while len(held) < app_db.pool_size or app_db.waiting < 2:
                await asyncio.sleep(0.01)
        busy = await scrape(session, base)
        release.set()
        await asyncio.gather(*tasks)
        # Ours, and the bot's jobs' that came meanwhile.
        assert busy[("loa_db_sessions_waiting", ())] >= 2
        assert busy[("loa_database_up", ())] == 0
        assert len(held) == app_db.pool_size + 2
        assert (await scrape(session, base))[("loa_db_sessions_waiting", ())] == 0
