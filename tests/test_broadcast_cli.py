"""`loa broadcast` as an operator or a script runs it: a separate process, a migrated SQLite file,
and the Bot API emulator in the test's process receiving what it sends."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import insert, select

from broadcasts.leadership import leadership
from broadcasts.sender import Sender
from storage.models import Alert, Area, Delivery, Resident, Subscription
from tests.fixtures.cli import loa

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
async def city(sqlite_db, shipped_areas, tmp_path):
    """The migrated SQLite file of a fresh install (with the shipped areas), and its URL."""
    async with sqlite_db.transaction() as session:
        for level in sorted({row["level"] for row in shipped_areas}):
            await session.execute(insert(Area.__table__), [r for r in shipped_areas if r["level"] == level])
    return sqlite_db


def env_for(db, emulator) -> dict[str, str]:
    return dict(DATABASE_URL=db.url, TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url,
                LOA_TIMEZONE=TZ)


async def add_resident(db, emulator, area_code: str, *, language: str = "vi", topics=("weather",)):
    """A resident who started the bot in the emulator and lives in `area_code`."""
    user = emulator.user(first_name=f"R{language}", language_code=language)
    await user.send("/start")  # opens the private chat; nobody polls, so no answer comes
    async with db.transaction() as session:
        resident = Resident(telegram_id=user.id, area_code=area_code, language=language, onboarded=True)
        session.add(resident)
        await session.flush()
        # No quiet hours, whatever the time of the run (None given to the constructor would store
        # the column's default, 22:00-06:00).
        resident.quiet_start_minute = resident.quiet_end_minute = None
        for topic in topics:
            session.add(Subscription(resident_id=resident.id, topic_code=topic))
    return user


async def hanoi_wards(db, count: int) -> list[str]:
    async with db.read() as session:
        rows = await session.execute(select(Area.code).where(Area.parent_code == "01").order_by(Area.code).limit(count))
        return list(rows.scalars())


def counts(summary_line: str) -> dict[str, int]:
    found = re.findall(r"([\d,]+) (sent|failed|blocked)", summary_line)
    return {name: int(number.replace(",", "")) for number, name in found}


async def test_send_reaches_the_subscribers_prints_progress_and_a_summary(city, emulator, tmp_path):
    ward_a, ward_b = await hanoi_wards(city, 2)
    lan = await add_resident(city, emulator, ward_a, language="vi")
    minh = await add_resident(city, emulator, ward_b, language="vi")
    anna = await add_resident(city, emulator, ward_a, language="en")
    gone = await add_resident(city, emulator, ward_b, language="vi")
    traffic_only = await add_resident(city, emulator, ward_a, topics=("traffic",))
    await gone.block()  # Telegram answers 403: counted as blocked, the resident marked so
    blocked = emulator.expect_error(403)

    code, out, err = await loa(
        "broadcast", "send", "--topic", "weather", "--area", "01", "--severity", "severe",
        "--urgency", "immediate", "--text", "Mưa lớn ở nội thành tối nay", "--text-en", "Heavy rain tonight",
        "--link", "https://nchmf.gov.vn", "--expires", "2h",
        cwd=tmp_path, **env_for(city, emulator))

    assert code == 0, out + err
    assert "Traceback" not in err
    lines = out.splitlines()
    alert_id = int(re.match(r"alert (\d+): 4 recipients$", lines[0]).group(1))
    assert "sending from this process" in out
    assert counts(lines[-1]) == {"sent": 3, "failed": 0, "blocked": 1}
    assert lines[-1].startswith(f"alert {alert_id} in ") and lines[-1].endswith("of 4")

    for user, words in ((lan, "Mưa lớn ở nội thành tối nay"), (minh, "Mưa lớn"), (anna, "Heavy rain tonight")):
        message = await user.next_message()
        assert words in message.text
    assert traffic_only.last_message is None and gone.last_message is None
    assert blocked

    async with city.read() as session:
        alert = await session.get(Alert, alert_id)
        assert (alert.source, alert.status, alert.severity, alert.urgency) == ("cli", "done", "severe", "immediate")
        assert alert.texts == {"vi": "Mưa lớn ở nội thành tối nay", "en": "Heavy rain tonight"}
        assert alert.expires_at is not None
        gone_row = (await session.execute(select(Resident).where(Resident.telegram_id == gone.id))).scalar_one()
        assert gone_row.blocked_at is not None

    code, out, _err = await loa("broadcast", "status", str(alert_id), cwd=tmp_path, **env_for(city, emulator))
    assert code == 0
    assert f"alert {alert_id}: done" in out and "sent 3" in out and "blocked 1" in out


@pytest.mark.parametrize("option, value, expected", [
    ("--topic", "weathr", "unknown topic 'weathr' (choose from weather, "),
    ("--area", "99999", "unknown area '99999' (an area code"),
    ("--severity", "bad", "unknown severity 'bad' (choose from extreme, severe, moderate, minor, unknown)"),
    ("--urgency", "soon", "unknown urgency 'soon' (choose from immediate, expected, future, past, unknown)"),
    ("--expires", "yesterday", "--expires 'yesterday' is neither a duration"),
    ("--link", "ftp://x", "--link 'ftp://x' is not an http or https address"),
])
async def test_a_bad_choice_is_one_line_naming_the_valid_ones(city, emulator, tmp_path, option, value, expected):
    values = {"--topic": "weather", "--area": "01", "--severity": "severe", "--text": "Mưa"}
    values[option] = value
    code, out, err = await loa("broadcast", "send", *[part for pair in values.items() for part in pair],
                               cwd=tmp_path, **env_for(city, emulator))
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err
    assert "Traceback" not in err
    if option == "--area":
        assert "01" in err and "79" in err  # the top-level codes are named
    async with city.read() as session:
        assert (await session.execute(select(Alert))).first() is None  # nothing was created


async def test_no_wait_queues_then_status_and_cancel(city, emulator, tmp_path):
    ward = (await hanoi_wards(city, 1))[0]
    users = [await add_resident(city, emulator, ward) for _ in range(3)]
    env = env_for(city, emulator)

    code, out, _err = await loa("broadcast", "send", "--topic", "weather", "--area", ward, "--severity",
                                "moderate", "--text", "Nắng nóng", "--no-wait", cwd=tmp_path, **env)
    assert code == 0
    alert_id = int(re.match(r"alert (\d+): 3 recipients", out).group(1))
    assert "queued" in out

    code, out, _err = await loa("broadcast", "status", str(alert_id), cwd=tmp_path, **env)
    assert code == 0 and f"alert {alert_id}: sending" in out and "remaining 3" in out

    code, out, _err = await loa("broadcast", "cancel", str(alert_id), cwd=tmp_path, **env)
    assert code == 0 and "3 messages not yet sent were dropped" in out
    code, out, err = await loa("broadcast", "cancel", str(alert_id), cwd=tmp_path, **env)
    assert code == 1 and "already cancelled" in err
    code, out, err = await loa("broadcast", "status", "999", cwd=tmp_path, **env)
    assert code == 1 and "no alert 999" in err

    async with city.read() as session:
        states = (await session.execute(select(Delivery.state).where(Delivery.alert_id == alert_id))).scalars().all()
    assert states == ["cancelled"] * 3
    assert all(user.last_message is None for user in users)


async def test_with_a_running_bot_the_cli_composes_and_follows_while_the_bot_sends(city, emulator, tmp_path):
    ward = (await hanoi_wards(city, 1))[0]
    users = [await add_resident(city, emulator, ward) for _ in range(3)]
    # The test holds the sender lock, as a running bot does, and sends with the real Sender.
    stop = asyncio.Event()
    async with leadership(city, stop) as lost:
        assert lost is not None
        from zoneinfo import ZoneInfo

        sender = Sender(city, token=emulator.token, api_url=emulator.url, tz=ZoneInfo(TZ), idle_poll=0.2)
        sending = asyncio.create_task(sender.run(stop))
        try:
            code, out, err = await loa("broadcast", "send", "--topic", "weather", "--area", "01", "--severity",
                                       "extreme", "--text", "Lũ quét", cwd=tmp_path, **env_for(city, emulator))
        finally:
            stop.set()
            await sending
    assert code == 0, out + err
    assert "a running bot is sending it" in out
    assert counts(out.splitlines()[-1]) == {"sent": 3, "failed": 0, "blocked": 0}
    assert sender.counters.sent == 3  # all of them went out through the "bot", none through the CLI
    for user in users:
        assert "Lũ quét" in (await user.next_message()).text
        assert len(user.messages) == 1
