"""The report domain without Telegram: codes, deadlines, description checks, submit."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from complaints import codes, deadlines, drafts, reports
from complaints.calendar import WorkingCalendar
from storage.models import Report, ReportDraft, Resident

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def test_codes_are_speakable_and_parsed_however_typed():
    drawn = {codes.new_code() for _ in range(500)}
    assert len(drawn) > 495
    for code in drawn:
        assert code.startswith("PA-") and len(code) == 8
        assert not set(code[3:]) & set("01OIL")
    assert codes.parse("pa-7k3q9") == codes.parse(" PA 7K3Q9") == codes.parse("7k3q9") == "PA-7K3Q9"
    assert codes.parse("PA-0O1IL") is None and codes.parse("PA-7K3Q") is None


def test_deadlines_count_working_hours_only():
    rules = deadlines.DeadlineRules(WorkingCalendar(HANOI))
    friday_evening = datetime(2026, 11, 27, 10, 30, tzinfo=timezone.utc)  # 17:30 in Hanoi, after hours
    assert rules.resolve_due(friday_evening, resolve_days=1).astimezone(HANOI).strftime("%a %d %H:%M") == "Mon 30 17:00"
    assert rules.resolve_due(friday_evening, resolve_days=10).astimezone(HANOI).day == 11  # Dec 11
    assert rules.take_up_due(friday_evening).astimezone(HANOI).strftime("%a %d %H:%M") == "Mon 30 16:00"


def test_descriptions_are_checked():
    assert drafts.check_description("Ổ gà to trước số nhà 25 từ hôm qua") is None
    assert drafts.check_description("short").kind == "short"
    assert drafts.check_description("a" * 2001).kind == "long"
    for junk in ("aaaaaaaaaaaa", "asdf asdf asdf asdf", "123456789012", "?????????????", "ha ha ha ha ha"):
        assert drafts.check_description(junk) is not None, junk


async def test_a_taken_code_is_drawn_again(db):
    async with db.transaction() as session:
        resident = Resident(telegram_id=5)
        session.add(resident)
        await session.flush()
        session.add(Report(code="PA-AAAAA", category_code="other", description="An older report here"))
        draft = ReportDraft(resident_id=resident.id, step="review", category_code="roads",
                            description="A broken street light at the corner", address_text="Phố Huế")
        session.add(draft)
        await session.flush()
        drawn = iter(["PA-AAAAA", "PA-AAAAA", "PA-BBBBB"])
        wednesday_noon = datetime(2026, 11, 25, 5, 0, tzinfo=timezone.utc)
        report = await reports.submit(session, draft, reporter_name="Lan", tz=HANOI, new_code=lambda: next(drawn),
                                      now=wednesday_noon)
        assert report.code == "PA-BBBBB"
        # Take-up in 8 working hours (Thursday 11:00), resolution in the category's 10 working days.
        assert report.take_up_due_at.astimezone(HANOI).strftime("%a %d %H:%M") == "Thu 26 11:00"
        assert report.due_at.astimezone(HANOI).strftime("%a %d/%m %H:%M") == "Wed 09/12 12:00"
    async with db.read() as session:
        assert sorted((await session.execute(select(Report.code))).scalars()) == ["PA-AAAAA", "PA-BBBBB"]
        assert (await session.execute(select(ReportDraft))).all() == []


async def test_the_report_filed_since_a_draft_began_and_no_other(db):
    async with db.transaction() as session:
        resident = Resident(telegram_id=6)
        session.add(resident)
        await session.flush()
        draft = ReportDraft(resident_id=resident.id, step="review", category_code="roads",
                            description="A broken street light at the corner", address_text="Phố Huế")
        session.add(draft)
        await session.flush()
        begun = int(draft.created_at.timestamp())
        report = await reports.submit(session, draft, reporter_name="Lan", tz=HANOI)
    async with db.read() as session:
        assert (await reports.filed_since(session, resident.id, begun)).code == report.code
        assert await reports.filed_since(session, resident.id, begun + 86_400) is None
        # A button's nonce is up to 18 digits: one past the calendar finds nothing, raises nothing.
        assert await reports.filed_since(session, resident.id, 10**17) is None
