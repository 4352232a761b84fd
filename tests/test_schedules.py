"""Scheduled broadcasts: one-off and recurring, stored in the database and run by the bot's
JobQueue; a run missed while the bot was down runs once at start, unless its alert expired."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import build_application
from broadcasts import alerts, drafts, lifecycle, schedules
from broadcasts.alerts import Status
from kernel import formats
from storage.models import Alert, BroadcastSchedule, Resident
from storage.types import utcnow
from tests.fixtures.bot import running
from tests.fixtures.broadcasts import LONG_BIEN, TEXT, broadcaster, eventually, resident_in, walk_to_preview
from tests.fixtures.residents import tap

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


async def schedule_rows(db) -> list[BroadcastSchedule]:
    async with db.read() as session:
        return list((await session.execute(select(BroadcastSchedule).order_by(BroadcastSchedule.id))).scalars())


async def alert_rows(db) -> list[Alert]:
    async with db.read() as session:
        return list((await session.execute(select(Alert).order_by(Alert.id))).scalars())


# ---------------------------------------------------------------- times and cron lines


def test_a_recurring_schedule_computes_its_next_run_in_the_city_time_zone():
    at_8_local = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)  # Tuesday 08:00 in Hồ Chí Minh City
    assert schedules.next_run("30 7 * * *", at_8_local, HCM) == datetime(2026, 11, 25, 0, 30, tzinfo=timezone.utc)
    assert schedules.next_run("30 7 * * *", at_8_local, ZoneInfo("UTC")) == datetime(2026, 11, 24, 7, 30,
                                                                                     tzinfo=timezone.utc)
    assert schedules.next_run("0 8 * * *", at_8_local, HCM) == datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    assert schedules.next_run("0 8 * * wed", at_8_local, HCM) == datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    assert schedules.next_run("0 8 * * tue", at_8_local, HCM) == datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)
    # The wizard's repeats, from the first send's local time.
    first = datetime(2026, 11, 25, 0, 30, tzinfo=timezone.utc)  # Wednesday 07:30 local
    assert drafts.cron_line("daily", first, HCM) == "30 7 * * *"
    assert drafts.cron_line("weekly", first, HCM) == "30 7 * * wed"
    assert drafts.cron_line("once", first, HCM) is None


def test_typed_send_times_are_read_in_the_city_time_zone():
    now = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)  # 08:00 local
    parse = lambda text: drafts.parse_send_time(text, now=now, tz=HCM)  # noqa: E731
    assert parse("09:15") == (datetime(2026, 11, 24, 2, 15, tzinfo=timezone.utc), None)
    assert parse("07:00") == (datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc), None)  # tomorrow
    assert parse("2026-12-01 07:30") == (datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc), None)
    assert parse("01/12/2026 07:30") == (datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc), None)
    assert parse("2026-11-24 07:59") == (None, drafts.Problem.PAST)
    assert parse("2028-01-01 07:00") == (None, drafts.Problem.TOO_FAR)
    for bad in ("", "soon", "24:00", "2026-02-30 07:00", "7"):
        assert parse(bad) == (None, drafts.Problem.UNPARSEABLE), bad


# ---------------------------------------------------------------- the wizard and /schedules


async def test_send_at_a_time_stores_a_daily_schedule_that_schedules_lists_and_stops(bot, emulator, db, settings):
    await resident_in(db, emulator, LONG_BIEN)
    boss = await broadcaster(db, emulator)
    _shown, controls = await walk_to_preview(boss)
    await tap(boss, "🕒 Send at a time", message=controls)
    await boss.wait_for(lambda: controls.text.startswith("When should it be sent?"))
    await boss.send("07:30")
    ask = await boss.next_message()
    assert ask.text.startswith("It will be sent at ") and ", 07:30. Repeat it?" in ask.text
    assert ask.buttons[1] == ["Every day at 07:30"]
    await tap(boss, "Every day at 07:30", message=ask)
    await boss.wait_for(lambda: ask.text.startswith("Scheduled: the alert will be sent at "))
    assert "(every day)" in ask.text

    (schedule,) = await schedule_rows(db)
    first = formats.moment(schedule.next_run_at, "en", settings.tz)  # today's or tomorrow's 07:30
    assert first.endswith(", 07:30") and f"sent at {first}" in ask.text
    (template,) = await alert_rows(db)
    assert (schedule.cron, schedule.active, schedule.alert_id, schedule.created_by) == (
        "30 7 * * *", True, template.id, boss.id)
    local = schedule.next_run_at.astimezone(settings.tz)
    assert (local.hour, local.minute) == (7, 30) and schedule.next_run_at > utcnow()
    assert schedule.next_run_at - utcnow() <= timedelta(days=1)
    assert (template.status, template.wizard_step, template.texts) == ("template", None, {"vi": TEXT})

    await boss.send("/schedules")
    listing = await boss.next_message()
    assert listing.text.startswith("Your scheduled alerts:")
    assert f"#{schedule.id} · next: {first}" in listing.text and "every day" in listing.text
    answer = await tap(boss, f"⏹ Stop #{schedule.id}", message=listing)
    assert answer.text == f"Schedule #{schedule.id} stopped."
    await boss.wait_for(lambda: listing.text.startswith("You have no scheduled alerts."))
    (schedule,) = await schedule_rows(db)
    assert (schedule.active, schedule.next_run_at) == (False, None)


async def test_a_one_off_schedule_fires_once_and_the_broadcaster_follows_it(bot, emulator, db):
    reached = await resident_in(db, emulator, LONG_BIEN)
    boss = await broadcaster(db, emulator)
    _shown, controls = await walk_to_preview(boss)
    await tap(boss, "🕒 Send at a time", message=controls)
    await boss.wait_for(lambda: controls.text.startswith("When should it be sent?"))
    await boss.send("2026-12-31 23:59" if utcnow() < datetime(2026, 12, 31, tzinfo=timezone.utc) else "23:59")
    ask = await boss.next_message()
    await tap(boss, "Only once", message=ask)
    await boss.wait_for(lambda: ask.text.startswith("Scheduled:") and "(once)" in ask.text)

    # Time passes: the schedule is due now, and the schedule job looks (as it does every 30 s).
    async with db.transaction() as session:
        schedule = (await session.execute(select(BroadcastSchedule))).scalar_one()
        schedule.next_run_at = utcnow() - timedelta(seconds=1)
    (job,) = bot.job_queue.get_jobs_by_name("broadcast-schedules")
    await job.run(bot)

    alert = await reached.next_message()
    assert TEXT in alert.text
    report = await boss.next_message()
    await boss.wait_for(lambda: report.text.startswith("✅ Alert #2: sending finished."), timeout=15)
    assert "Sent: 1" in report.text
    await job.run(bot)  # nothing is due any more
    template, sent = await alert_rows(db)
    assert (template.status, sent.status, sent.source, sent.texts) == ("template", "done", "schedule", {"vi": TEXT})
    (schedule,) = await schedule_rows(db)
    assert (schedule.active, schedule.next_run_at) == (False, None) and schedule.last_run_at is not None


# ---------------------------------------------------------------- restarts


async def _resident_before_start(db, emulator, area_code: str):
    """A resident who has started the bot (the bot is not running yet), following every topic."""
    user = emulator.user(first_name="Early", language_code="vi")
    await user.send("/start")  # nobody polls yet: the bot reads it when it starts
    async with db.transaction() as session:
        resident = Resident(telegram_id=user.id, area_code=area_code, onboarded=True)
        session.add(resident)
        await session.flush()
        resident.quiet_start_minute = resident.quiet_end_minute = None  # after the insert: None would get the default
        from storage import topics
        await topics.subscribe_defaults(session, resident.id)
    return user


async def _template(db, *, expires_at=None, text=TEXT) -> Alert:
    async with db.transaction() as session:
        return await alerts.create(session, topic_code="weather", severity="severe", area_codes=[LONG_BIEN],
                                   texts={"vi": text}, status=Status.TEMPLATE, expires_at=expires_at)


async def test_a_missed_run_runs_once_at_start_and_an_expired_one_does_not(application, emulator, db, settings):
    db = application.bot_data["db"]
    user = await _resident_before_start(db, emulator, LONG_BIEN)
    now = utcnow()
    daily = await _template(db, text="Bản tin thời tiết buổi sáng.")
    expired = await _template(db, expires_at=now - timedelta(minutes=10), text="Đã hết hạn.")
    async with db.transaction() as session:
        for template, cron, due in ((daily, "30 7 * * *", now - timedelta(days=3)),
                                    (expired, None, now - timedelta(hours=1))):
            await lifecycle.schedule(session, await session.get(Alert, template.id), at=due, cron=cron,
                                     tz=settings.tz, created_by=None)

    async with running(application, emulator):
        await user.wait_for(lambda: any("Bản tin thời tiết buổi sáng." in (m.text or "") for m in user.messages),
                            timeout=15)

        async def both_looked_at():  # the job sends the daily one before it looks at the expired one
            rows = await schedule_rows(db)
            return rows if not rows[1].active else None
        first_daily, first_expired = await eventually(both_looked_at, timeout=15)
    daily = next(m.text for m in user.messages if "Bản tin" in (m.text or ""))
    assert [m.text for m in user.messages].count(daily) == 1
    assert not any("Đã hết hạn." in (m.text or "") for m in user.messages)
    sent = [a for a in await alert_rows(db) if a.source == "schedule"]
    assert len(sent) == 1 and sent[0].texts == {"vi": "Bản tin thời tiết buổi sáng."}
    assert first_daily.active and first_daily.next_run_at > now
    local = first_daily.next_run_at.astimezone(settings.tz)
    assert (local.hour, local.minute) == (7, 30)
    assert (first_expired.active, first_expired.next_run_at) == (False, None)

    # Restarted (a new Application on the same database): nothing is due, nothing runs twice.
    async with running(build_application(settings, db), emulator) as again:
        (job,) = again.job_queue.get_jobs_by_name("broadcast-schedules")
        await job.run(again)
    assert len([a for a in await alert_rows(db) if a.source == "schedule"]) == 1
    assert [s.next_run_at for s in await schedule_rows(db)] == [first_daily.next_run_at, None]


async def test_a_due_time_runs_at_most_once_when_two_look_at_the_same_moment(areas_loaded):
    db = areas_loaded
    template = await _template(db)
    async with db.transaction() as session:
        await lifecycle.schedule(session, await session.get(Alert, template.id), at=utcnow() - timedelta(minutes=1),
                                 cron="*/5 * * * *", tz=HCM, created_by=None)
    now = utcnow()
    first, second = await asyncio.gather(lifecycle.run_due(db, tz=HCM, now=now),
                                         lifecycle.run_due(db, tz=HCM, now=now))
    assert len(first) + len(second) == 1
    assert len([a for a in await alert_rows(db) if a.source == "schedule"]) == 1
    (schedule,) = await schedule_rows(db)
    assert schedule.next_run_at > now and schedule.active
