"""The deadline job end to end through the emulator: reminders in the agency's group, the overdue
flag, escalation to the moderators' group, auto-closing, each once, across restarts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_application
from complaints import deadlines, lifecycle
from complaints.lifecycle import Action, Actor
from handlers import deadline_job
from kernel.i18n import translator
from storage.models import Agency, Delivery, Report, ReportEvent, Resident, StaffRole
from tests.fixtures.bot import running, settings_for
from tests.fixtures.residents import onboarded

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = "PA-7K3Q9"
DESCRIPTION = "Ổ gà <rất sâu> & nguy hiểm trước số 25"


def hanoi(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=HANOI).astimezone(timezone.utc)


# Friday 27 November 2026, 16:00: take-up due Monday 30 at 15:00, resolution Friday 11 December at 16:00.
T0 = hanoi(27, 16)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def staff(emulator):
    mai, hung = emulator.user(first_name="Mai"), emulator.user(first_name="Hùng")
    return SimpleNamespace(mai=mai, hung=hung,
                           moderators=emulator.group("Kiểm duyệt", members=[mai]),
                           agency=emulator.group("Sở Giao thông", members=[hung]))


def make_settings(emulator, db, tmp_path, staff, **overrides):
    values = {"LOA_MEDIA_DIR": str(tmp_path / "media"), "LOA_MODERATORS_CHAT_ID": str(staff.moderators.id),
              "LOA_DEFAULT_LANGUAGE": "en", "LOA_DEADLINE_CHECK_SECONDS": "3600", **overrides}
    return settings_for(emulator, db, **values)


async def setup(db, staff, resident_tg: int) -> tuple[int, Actor, Actor]:
    """Agency a1 working in the agency group, its staff, a moderator, and a report of the
    resident filed at T0 and assigned to a1 ten minutes later."""
    async with db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department",
                           telegram_chat_id=staff.agency.id))
        session.add(StaffRole(telegram_id=staff.mai.id, role="moderator"))
        session.add(StaffRole(telegram_id=staff.hung.id, role="agency_staff", agency_code="a1"))
        resident = (await session.execute(select(Resident).where(Resident.telegram_id == resident_tg))).scalar_one()
        report = Report(code=CODE, resident_id=resident.id, category_code="roads", description=DESCRIPTION,
                        created_at=T0, updated_at=T0)
        session.add(report)
        await session.flush()
        await deadlines.start_clock(session, report, T0, lifecycle.Policy().rules)
        session.add(ReportEvent(report_id=report.id, at=T0, state="submitted", action="submit", actor="resident"))
        report_id = report.id
    moderator = Actor("moderator", staff.mai.id, "Mai")
    worker = Actor("agency_staff", staff.hung.id, "Hùng", "a1")
    await act(db, report_id, Action.ASSIGN, moderator, now=T0 + timedelta(minutes=10), agency_code="a1")
    return report_id, moderator, worker


async def act(db, report_id: int, action: Action, actor: Actor, *, now: datetime, **args):
    async with db.transaction() as session:
        return await lifecycle.apply(session, report_id, action, actor, now=now, **args)


async def report_of(db, report_id: int) -> Report:
    async with db.read() as session:
        return await session.get(Report, report_id)


async def deliveries(db) -> list[Delivery]:
    async with db.read() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


def said(group, start: str) -> list[str]:
    """The bot's messages in the group that start so (the staff cards are there too)."""
    return [m.text for m in group.all_messages if m.text and m.text.startswith(start)]


async def one_of(group, start: str) -> str:
    await group.wait_for(lambda: said(group, start))
    [text] = said(group, start)
    return text


async def test_remind_flag_escalate_and_close_each_once(emulator, areas_loaded, tmp_path, staff):
    db = areas_loaded
    settings = make_settings(emulator, db, tmp_path, staff)
    application = build_application(settings, db)
    [job] = application.job_queue.get_jobs_by_name(deadline_job.JOB_NAME)
    assert job.callback is deadline_job.deadline_job
    assert job.trigger.interval == timedelta(seconds=3600)
    job.enabled = False  # the passes of this test are the ones it runs
    clock = application.bot_data["clock"] = Clock(T0)

    async with running(application, emulator):
        lan = await onboarded(emulator, "en")
        report_id, moderator, worker = await setup(db, staff, lan.id)
        await lan.wait_for(lambda: any("has been passed to Transport Department" in (m.text or "")
                                       for m in lan.messages))

        # Monday 12:00: three hours before the take-up deadline, nothing yet.
        clock.now = hanoi(30, 12)
        assert not await deadline_job.check(application)

        # 13:30: within the two hours of LOA_REMINDER_HOURS.
        clock.now = hanoi(30, 13, 30)
        result = await deadline_job.check(application)
        assert (result.reminded, result.overdue, result.escalated, result.closed) == ([CODE], [], [], [])
        reminder = await one_of(staff.agency, "⏰")
        assert reminder == (f"⏰ Reminder: report {CODE} (Traffic and roads) must be taken up by 30 Nov 2026, 15:00.\n"
                            f"{DESCRIPTION}")
        [message] = [m for m in staff.agency.all_messages if m.text == reminder]
        assert f"<b>{CODE}</b>" in message.html and "&lt;rất sâu&gt; &amp;" in message.html
        report = await report_of(db, report_id)
        assert report.reminded_at == clock.now and report.updated_at == clock.now
        queued = len(await deadline_rows(db))
        clock.now = hanoi(30, 14)
        assert not await deadline_job.check(application)  # a second pass adds nothing
        assert len(await deadline_rows(db)) == queued

        # 15:30: past the take-up deadline: flagged in the agency's group, escalated to the moderators.
        clock.now = hanoi(30, 15, 30)
        result = await deadline_job.check(application)
        assert (result.reminded, result.overdue, result.escalated, result.closed) == ([], [CODE], [CODE], [])
        overdue = await one_of(staff.agency, "⚠️")
        assert overdue.startswith(f"⚠️ Report {CODE} (Traffic and roads) is overdue since 30 Nov 2026, 15:00: "
                                  "it was not taken up in time.")
        escalation = await one_of(staff.moderators, "🚨")
        assert escalation == ("🚨 Overdue reports (1):\n"
                              f"• {CODE} (Traffic and roads, Transport Department): not taken up, "
                              "due 30 Nov 2026, 15:00")
        report = await report_of(db, report_id)
        assert (report.overdue_at, report.escalated_at, report.updated_at) == (clock.now,) * 3
        queued = len(await deadline_rows(db))
        clock.now = hanoi(30, 16)
        assert not await deadline_job.check(application)
        assert len(await deadline_rows(db)) == queued

        # Taken up and resolved on Tuesday; nobody rates it; eight days later it is closed.
        await act(db, report_id, Action.START, worker, now=hanoi(1, 9, month=12))
        await act(db, report_id, Action.RESOLVE, worker, now=hanoi(1, 10, month=12), note="Đã vá xong")
        clock.now = hanoi(8, 9, month=12)  # not yet seven days
        assert not await deadline_job.check(application)
        clock.now = hanoi(9, 10, 30, month=12)
        result = await deadline_job.check(application)
        assert (result.reminded, result.overdue, result.escalated, result.closed) == ([], [], [], [CODE])
        closed = f"Report {CODE} is closed."
        await lan.wait_for(lambda: any(m.text == closed for m in lan.messages))
        assert (await report_of(db, report_id)).state == "closed"
        assert not await deadline_job.check(application)
        before = await deliveries(db)

    # A new bot on the same database repeats nothing.
    again = build_application(settings, db)
    assert again.job_queue.get_jobs_by_name(deadline_job.JOB_NAME)
    again.bot_data["clock"] = Clock(hanoi(9, 11, month=12))
    async with running(again, emulator):
        assert not await deadline_job.check(again)
        assert [d.id for d in await deliveries(db)] == [d.id for d in before]
    assert len(said(staff.agency, "⏰")) == len(said(staff.agency, "⚠️")) == len(said(staff.moderators, "🚨")) == 1
    assert [m.text for m in lan.messages].count(closed) == 1
    ours = [d for d in before if (d.key or "").startswith("deadline:")]
    assert sorted(d.chat_id for d in ours) == sorted([staff.agency.id, staff.agency.id, staff.moderators.id])
    assert all(d.state == "sent" for d in await deliveries(db))


async def deadline_rows(db) -> list[Delivery]:
    return [d for d in await deliveries(db) if (d.key or "").startswith("deadline:")]


async def test_the_job_runs_by_itself(emulator, areas_loaded, tmp_path, staff):
    """Registered on the JobQueue: with a one-second interval the reminder comes without a call."""
    db = areas_loaded
    application = build_application(make_settings(emulator, db, tmp_path, staff, LOA_DEADLINE_CHECK_SECONDS="1"), db)
    application.bot_data["clock"] = Clock(hanoi(30, 13, 30))
    async with running(application, emulator):
        lan = await onboarded(emulator, "en")
        await setup(db, staff, lan.id)
        assert (await one_of(staff.agency, "⏰")).startswith(f"⏰ Reminder: report {CODE}")


async def test_reports_without_an_agency_are_the_moderators_business(emulator, areas_loaded, tmp_path, staff):
    """No agency (or no group): the reminder goes to the moderators' group; overdue, only the
    escalation tells them; the city's default language (here Vietnamese names)."""
    db = areas_loaded
    settings = make_settings(emulator, db, tmp_path, staff, LOA_DEFAULT_LANGUAGE="vi")
    application = build_application(settings, db)
    application.job_queue.get_jobs_by_name(deadline_job.JOB_NAME)[0].enabled = False
    clock = application.bot_data["clock"] = Clock(hanoi(30, 14))
    async with running(application, emulator):
        lan = await onboarded(emulator, "en")
        report_id, moderator, _ = await setup(db, staff, lan.id)
        await act(db, report_id, Action.SEND_BACK, Actor("agency_staff", staff.hung.id, "Hùng", "a1"),
                  now=T0 + timedelta(minutes=20), reason="Không thuộc thẩm quyền")
        result = await deadline_job.check(application)
        assert result.reminded == [CODE]
        reminder = await one_of(staff.moderators, "⏰")
        assert f"{CODE} (Giao thông, đường sá)" in reminder and "15:00 30/11/2026" in reminder
        clock.now = hanoi(30, 15, 1)
        result = await deadline_job.check(application)
        assert result.overdue == result.escalated == [CODE]
        escalation = await one_of(staff.moderators, "🚨")
        no_agency = translator("vi").gettext("no agency")
        assert f"{CODE} (Giao thông, đường sá, {no_agency}): " in escalation and "15:00 30/11/2026" in escalation
        assert said(staff.agency, "⚠️") == [] and said(staff.agency, "⏰") == []


def test_a_long_escalation_is_split_into_messages_telegram_accepts():
    lines = [(n, f"• PA-{n:05d} (" + "x" * 200 + ")") for n in range(60)]
    digests = deadline_job._digests("🚨 Overdue reports (60):", lines)
    assert len(digests) > 1 and all(len(text) <= 4096 for _, text in digests)
    assert [i for ids, _ in digests for i in ids] == list(range(60))
