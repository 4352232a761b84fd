"""A broadcast survives the sender being killed, and Telegram misbehaving along the way."""

from __future__ import annotations

import asyncio
import signal

from sqlalchemy import insert

from broadcasts import alerts
from broadcasts.sender import FLUSH_BATCH, FLUSH_SECONDS
from emulator.faults import Faults
from kernel.transport import AiohttpRequest
from storage.models import Area, Resident, Subscription
from storage.types import utcnow
from tests.fixtures.alerts import progress_of, received, send_alert, sender_for
from tests.fixtures.cli import LOA, environment

PROVINCE, WARD = "01", "01001"

# The sender settings of the run below, and what they bound. After a kill, the messages sent
# whose outcome was not yet written are sent again: at most FLUSH_BATCH outcomes wait before a
# write starts, one write in progress holds what arrived meanwhile (at RATE, a write of
# FLUSH_SECONDS at the very most), and CONCURRENCY requests are on the wire.
RATE, CONCURRENCY = 1000, 64
DUPLICATES_BOUND = FLUSH_BATCH + int(RATE * FLUSH_SECONDS) + CONCURRENCY


async def many_residents(db, emulator, count: int) -> list:
    sims = [emulator.user(f"R{n}") for n in range(count)]
    for sim in sims:
        sim.chat.started = True  # they pressed Start some time ago
    now = utcnow()
    async with db.transaction() as session:
        if await session.get(Area, PROVINCE) is None:
            session.add(Area(code=PROVINCE, level=1, name_vi="Hà Nội", name_en="Ha Noi",
                             full_name_vi="Thành phố Hà Nội", full_name_en="Ha Noi City"))
            await session.flush()
            session.add(Area(code=WARD, parent_code=PROVINCE, level=2, name_vi="Ba Đình", name_en="Ba Dinh",
                             full_name_vi="Phường Ba Đình", full_name_en="Ba Dinh Ward"))
            await session.flush()
        first = (await session.execute(
            insert(Resident).returning(Resident.id),
            [{"telegram_id": sim.user.id, "area_code": WARD, "onboarded": True, "language": "vi",
              "created_at": now, "updated_at": now} for sim in sims],
        )).scalars().all()
        await session.execute(insert(Subscription), [{"resident_id": rid, "topic_code": "weather"} for rid in first])
    return sims


async def wait_until(predicate, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def start_bot(tmp_path, emulator, db):
    return await asyncio.create_subprocess_exec(
        *LOA, "run", cwd=tmp_path,
        env=environment(TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url,
                        DATABASE_URL=db.url, LOA_SEND_RATE=str(RATE), LOA_PAID_BROADCAST="true"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def test_killed_in_the_middle_of_10000_and_restarted_everyone_gets_it(tmp_path, emulator, sqlite_db):
    db = sqlite_db
    count = 10_000
    sims = await many_residents(db, emulator, count)
    alert = await send_alert(db, area_codes=[PROVINCE], paid_broadcast=True)

    def delivered() -> int:
        return sum(1 for sim in sims if sim.all_messages)

    bot = await start_bot(tmp_path, emulator, db)
    try:
        await wait_until(lambda: delivered() >= count // 4, 60)
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
        at_kill = delivered()
        assert at_kill < count, "the broadcast finished before the kill: nothing was tested"

        bot = await start_bot(tmp_path, emulator, db)
        await wait_until(lambda: delivered() == count, 120)
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
            await asyncio.wait_for(bot.wait(), 30)

    copies = received(emulator, sims)
    duplicates = sum(copies.values()) - count
    assert set(copies.values()) <= {1, 2}
    print(f"killed at {at_kill} delivered; {duplicates} duplicates (bound {DUPLICATES_BOUND})")
    assert duplicates <= DUPLICATES_BOUND, f"{duplicates} duplicates, bound {DUPLICATES_BOUND}"
    progress = await progress_of(db, alert.id)
    assert progress.sent == count and progress.finished


async def test_five_percent_of_answers_go_wrong_and_every_deliverable_message_arrives_once(emulator, sqlite_db):
    db = sqlite_db
    emulator.limits.rate_limits = False
    sims = await many_residents(db, emulator, 2000)
    blocked = sims[::20]  # 5% blocked the bot: 403
    for sim in blocked:
        await sim.block()
    emulator.expect_error(403)
    # and 5% of the other answers: 429, 500 or a timeout
    emulator.faults = Faults(rate_429=0.02, rate_500=0.02, rate_timeout=0.01, timeout_hang=5, seed=11,
                             methods={"sendMessage"})
    alert = await send_alert(db, area_codes=[PROVINCE])
    # The client gives up on a hung request after 2 s. A shorter wait made a loaded machine's slow
    # but genuine answers look like timeouts, and their retries like duplicates.
    sender = sender_for(emulator, db, retry_base=1, request=AiohttpRequest(connection_pool_size=64, read_timeout=2))
    counters = await sender.drain(horizon=120)

    assert all(emulator.faults.injected[kind] > 0 for kind in ("429", "500", "timeout"))
    copies = received(emulator, sims)
    blocked_ids = {sim.user.id for sim in blocked}
    assert all(copies[sim.user.id] == 1 for sim in sims if sim.user.id not in blocked_ids)
    assert all(copies[user_id] == 0 for user_id in blocked_ids)

    progress = await progress_of(db, alert.id)
    assert (progress.total, progress.sent, progress.blocked, progress.failed) == (2000, 1900, 100, 0)
    assert (counters.sent, counters.blocked) == (1900, 100)
    async with db.read() as session:  # the blocked are no longer targeted
        assert await alerts.count_recipients(session, "weather", [PROVINCE]) == 1900
