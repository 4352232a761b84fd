"""The report life cycle on SQLite and PostgreSQL: transitions, refusals, races, duplicates,
notifications through the outbox, deadlines and agency statistics."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from complaints import deadlines, lifecycle, stats
from complaints.calendar import WorkingCalendar
from complaints.deadlines import DeadlineRules
from complaints.lifecycle import FROM, Action, Actor, Policy, Refused
from kernel.i18n import translator
from storage.models import Agency, Delivery, Report, ReportEvent, ReportFollower, Resident, StaffRole

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
ADMIN, MODERATOR, STAFF_1, STAFF_2 = 900, 500, 601, 602
REPORTER, OTHER = 1001, 1002
POLICY = Policy(rules=DeadlineRules(WorkingCalendar(HANOI)), admin_ids=frozenset({ADMIN}), translator=translator)
MOD = Actor("moderator", MODERATOR, "Mai")
STAFF = Actor("agency_staff", STAFF_1, "Hùng", "a1")
OTHER_STAFF = Actor("agency_staff", STAFF_2, "Lan", "a2")
RESIDENT = Actor("resident", REPORTER, "Bình")
# Friday 27 November 2026, 16:00 in Hanoi.
T0 = datetime(2026, 11, 27, 16, 0, tzinfo=HANOI).astimezone(timezone.utc)


async def setup(db) -> None:
    async with db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(Agency(code="a2", name_vi="URENCO Hà Nội", name_en="URENCO Hanoi"))
        session.add(Resident(telegram_id=REPORTER, language="vi"))
        session.add(Resident(telegram_id=OTHER, language="en"))
        session.add(StaffRole(telegram_id=MODERATOR, role="moderator"))
        session.add(StaffRole(telegram_id=STAFF_1, role="agency_staff", agency_code="a1"))
        session.add(StaffRole(telegram_id=STAFF_2, role="agency_staff", agency_code="a2"))


async def new_report(db, *, code: str = "PA-AAAAA", telegram_id: int = REPORTER, state: str = "submitted",
                     agency: str | None = None, **fields) -> int:
    async with db.transaction() as session:
        resident = (await session.execute(select(Resident).where(Resident.telegram_id == telegram_id))).scalar_one()
        report = Report(code=code, resident_id=resident.id, category_code="roads", description="Ổ gà",
                        state=state, agency_code=agency, created_at=T0, updated_at=T0, **fields)
        session.add(report)
        await session.flush()
        await deadlines.start_clock(session, report, T0, POLICY.rules)
        session.add(ReportEvent(report_id=report.id, at=T0, state="submitted", action="submit", actor="resident"))
        return report.id


async def act(db, report_id: int, action, actor: Actor, **args):
    args.setdefault("now", T0 + timedelta(hours=1))
    async with db.transaction() as session:
        return await lifecycle.apply(session, report_id, action, actor, policy=POLICY, **args)


async def refused(db, report_id: int, action, actor: Actor, **args) -> Refused:
    with pytest.raises(Refused) as error:
        await act(db, report_id, action, actor, **args)
    return error.value


async def outbox(db) -> list[Delivery]:
    async with db.read() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def report_of(db, report_id: int) -> Report:
    async with db.read() as session:
        return await session.get(Report, report_id)


async def test_a_report_from_assignment_to_rating(db):
    await setup(db)
    rid = await new_report(db)
    result = await act(db, rid, Action.ASSIGN, MOD, agency_code="a1", expected_state="submitted")
    assert (result.from_state, result.to_state, result.agency_code, result.notified) == \
        ("submitted", "assigned", "a1", 1)
    await act(db, rid, Action.START, STAFF, expected_state="assigned")
    await act(db, rid, Action.RESOLVE, STAFF, note="Đã vá <ổ gà> & dọn dẹp", photo_file_id="PHOTO-1",
              now=T0 + timedelta(days=1))
    result = await act(db, rid, Action.RATE, RESIDENT, rating="satisfied", comment="Nhanh", now=T0 + timedelta(days=2))
    assert result.to_state == "closed" and result.notified == 0  # the reporter is answered on the spot

    report = await report_of(db, rid)
    assert (report.state, report.rating, report.rating_comment, report.agency_code) == \
        ("closed", "satisfied", "Nhanh", "a1")
    assert report.resolved_at == T0 + timedelta(days=1) and report.closed_at == T0 + timedelta(days=2)
    async with db.read() as session:
        events = list((await session.execute(select(ReportEvent).where(ReportEvent.report_id == rid)
                                             .order_by(ReportEvent.id))).scalars())
    assert [(e.action, e.state, e.actor, e.actor_telegram_id) for e in events] == [
        ("submit", "submitted", "resident", None), ("assign", "assigned", "moderator", MODERATOR),
        ("start", "in_progress", "agency_staff", STAFF_1), ("resolve", "resolved", "agency_staff", STAFF_1),
        ("rate", "closed", "resident", REPORTER)]
    assert events[1].actor_name == "Mai" and events[1].agency_code == "a1" and events[3].photo_file_id == "PHOTO-1"

    sent = await outbox(db)
    assert [d.payload["method"] for d in sent] == ["sendMessage", "sendMessage", "sendPhoto"]
    assert all(d.chat_id == REPORTER and d.key == f"report-event:{e.id}:{d.resident_id}"
               for d, e in zip(sent, events[1:4]))
    assert "PA-AAAAA" in sent[0].payload["params"]["text"] and "Sở Giao thông" in sent[0].payload["params"]["text"]
    assert "đã được chuyển cho" in sent[0].payload["params"]["text"]  # Vietnamese, the resident's language
    caption = sent[2].payload["params"]["caption"]
    assert sent[2].payload["params"]["photo"] == "PHOTO-1" and sent[2].payload["params"]["parse_mode"] == "HTML"
    assert "Đã vá &lt;ổ gà&gt; &amp; dọn dẹp" in caption and "<ổ gà>" not in caption
    assert "hài lòng" in caption  # the rating question, to the reporter


def _args(action: Action, original_id: int) -> dict:
    return {Action.ASSIGN: {"agency_code": "a2"}, Action.REJECT: {"reason": "Ngoài phạm vi"},
            Action.DUPLICATE: {"original_id": original_id}, Action.PRIORITY: {"priority": "urgent"},
            Action.RESOLVE: {"note": "Xong"}, Action.SEND_BACK: {"reason": "Không thuộc thẩm quyền"},
            Action.RATE: {"rating": "acceptable"}, Action.REOPEN: {"comment": "Vẫn còn"}}.get(action, {})


ACTORS = {"moderator": MOD, "agency_staff": STAFF, "resident": RESIDENT, "system": lifecycle.SYSTEM}
TARGET = {Action.PRIORITY: None, **{a: t.value for a, t in lifecycle.TO.items() if t is not None}}


async def test_every_action_in_every_state_is_done_or_refused_with_its_reason(db):
    await setup(db)
    original = await new_report(db, code="PA-ABCDE")
    n = 0
    for state in lifecycle.State:
        for action in Action:
            n += 1
            rid = await new_report(db, code=f"PA-{n:05d}", state=state.value, agency="a1",
                                   resolved_at=T0 - timedelta(days=10))
            actor = ACTORS[lifecycle.WHO[action]]
            if state in FROM[action]:
                result = await act(db, rid, action, actor, **_args(action, original))
                assert result.to_state == (TARGET[action] or state.value), (state, action)
            else:
                error = await refused(db, rid, action, actor, **_args(action, original))
                assert error.code == "wrong_state", (state, action)
                label = lifecycle.STATE_LABELS[state]
                assert error.render(lambda m: m, "en", HANOI) == \
                    f"This cannot be done to a report in the state “{label}”."
                assert error.state == state.value and error.last_event.action == "submit"
                assert (await report_of(db, rid)).state == state.value
    assert n == 80


async def test_only_the_right_people_may_act(db):
    await setup(db)
    rid = await new_report(db)
    for actor in (STAFF, RESIDENT, Actor("moderator", 4242, "Impostor")):  # no moderator role
        assert (await refused(db, rid, Action.ASSIGN, actor, agency_code="a1")).code == "not_moderator"
    assert (await refused(db, rid, Action.AUTO_CLOSE, MOD)).code == "not_allowed"
    await act(db, rid, Action.ASSIGN, Actor("moderator", ADMIN, "Admin"), agency_code="a1")  # an admin by settings
    error = await refused(db, rid, Action.START, OTHER_STAFF)
    assert error.code == "other_agency"
    # Not which agency has it: another agency's staff have no business knowing.
    assert error.render(translator("en").gettext, "en", HANOI) == \
        "Only the staff of the agency handling this report can do this."
    other_staff = Actor("agency_staff", STAFF_2, "Lan", "a1")
    assert (await refused(db, rid, Action.START, other_staff)).code == "not_agency_staff"
    await act(db, rid, Action.RESOLVE, STAFF, note="Xong")
    assert (await refused(db, rid, Action.RATE, Actor("resident", OTHER), rating="satisfied")).code == "not_reporter"
    assert (await refused(db, rid, Action.RATE, RESIDENT, rating="great")).code == "bad_rating"


async def test_who_is_checked_before_what_they_saw(db):
    """Someone who may not act is refused for that, whatever they claim to have seen: not told
    that the report changed, by whom, for which agency, nor its state."""
    await setup(db)
    rid = await new_report(db)
    assigned = await act(db, rid, Action.ASSIGN, MOD, agency_code="a1")
    outsiders = ((Action.ASSIGN, Actor("resident", OTHER, "Bình"), {"agency_code": "a2"}),
                 (Action.START, OTHER_STAFF, {}), (Action.RESOLVE, OTHER_STAFF, {"note": "Xong"}))
    for action, actor, args in outsiders:
        answers = set()
        for seen in ({"expected_event_id": assigned.event.id - 1}, {"expected_event_id": assigned.event.id},
                     {"expected_state": "submitted"}, {}):
            error = await refused(db, rid, action, actor, **seen, **args)
            assert error.code in ("not_moderator", "other_agency")
            assert (error.state, error.last_event) == (None, None)
            answers.add(error.render(translator("en").gettext, "en", HANOI))
        assert len(answers) == 1 and not {"Mai", "Transport", "assigned"} & set(answers.pop().split())
    async with db.read() as session:
        assert (await lifecycle.check(session, rid, Action.START, STAFF, policy=POLICY)).state == "assigned"
        with pytest.raises(Refused) as error:
            await lifecycle.check(session, rid, Action.START, OTHER_STAFF, policy=POLICY, expected_state="submitted")
        assert error.value.code == "other_agency"
    assert (await report_of(db, rid)).state == "assigned"


async def test_reasons_and_notes_are_required(db):
    await setup(db)
    rid = await new_report(db)
    assert (await refused(db, rid, Action.REJECT, MOD, reason="  ")).code == "missing_reason"
    assert (await refused(db, rid, Action.ASSIGN, MOD, agency_code="nope")).code == "unknown_agency"
    assert (await refused(db, rid, Action.DUPLICATE, MOD, original_id=rid)).code == "self_duplicate"
    assert (await refused(db, rid, Action.DUPLICATE, MOD, original_code="PA-ZZZZZ")).code == "original_not_found"
    await act(db, rid, Action.ASSIGN, MOD, agency_code="a1")
    assert (await refused(db, rid, Action.ASSIGN, MOD, agency_code="a1")).code == "no_change"
    assert (await refused(db, rid, Action.RESOLVE, STAFF)).code == "missing_note"
    assert (await refused(db, rid, Action.RESOLVE, STAFF, note="x" * 2001)).code == "too_long"
    assert (await refused(db, rid, Action.SEND_BACK, STAFF)).code == "missing_reason"
    result = await act(db, rid, Action.SEND_BACK, STAFF, reason="Không thuộc thẩm quyền")
    assert result.to_state == "submitted" and result.agency_code is None and result.notified == 0
    assert not result.event.visible and result.event.agency_code == "a1"


async def test_of_two_moderators_pressing_at_once_one_wins_and_the_other_is_told(db):
    await setup(db)
    rid = await new_report(db)

    async def press(actor: Actor, agency: str):
        try:
            return await act(db, rid, Action.ASSIGN, actor, agency_code=agency, expected_state="submitted")
        except Refused as error:
            return error

    results = await asyncio.gather(press(MOD, "a1"), press(Actor("moderator", ADMIN, "Quân"), "a2"))
    won = [r for r in results if isinstance(r, lifecycle.TransitionResult)]
    lost = [r for r in results if isinstance(r, Refused)]
    assert len(won) == 1 and len(lost) == 1
    winner, loser = won[0], lost[0]
    assert loser.code == "changed" and loser.state == "assigned" and loser.last_event.id == winner.event.id
    name = {"a1": ("Transport Department", "Mai"), "a2": ("URENCO Hanoi", "Quân")}[winner.agency_code]
    text = loser.render(translator("en").gettext, "en", HANOI)
    assert text == f"Already assigned to {name[0]} by {name[1]} at 27 Nov 2026, 17:00."
    assert "Đã được" in loser.render(translator("vi").gettext, "vi", HANOI)
    assert (await report_of(db, rid)).agency_code == winner.agency_code
    async with db.read() as session:
        assigns = (await session.execute(select(ReportEvent).where(ReportEvent.action == "assign"))).all()
    assert len(assigns) == 1 and len(await outbox(db)) == 1


async def test_a_duplicates_reporter_follows_the_original(db):
    await setup(db)
    original = await new_report(db, code="PA-ABCDE")
    duplicate = await new_report(db, code="PA-DUPES", telegram_id=OTHER)
    result = await act(db, duplicate, Action.DUPLICATE, MOD, original_code="pa-abcde")
    assert result.to_state == "duplicate" and (await report_of(db, duplicate)).duplicate_of_id == original
    [told] = await outbox(db)
    assert told.chat_id == OTHER and "PA-DUPES" in told.payload["params"]["text"]
    assert "same problem as report <b>PA-ABCDE</b>" in told.payload["params"]["text"]  # English, their language
    async with db.read() as session:
        assert (await session.execute(select(ReportFollower.report_id))).scalars().all() == [original]

    await act(db, original, Action.ASSIGN, MOD, agency_code="a2")
    await act(db, original, Action.START, OTHER_STAFF)
    news = (await outbox(db))[1:]
    assert sorted((d.chat_id, d.payload["method"]) for d in news) == [
        (REPORTER, "sendMessage"), (REPORTER, "sendMessage"), (OTHER, "sendMessage"), (OTHER, "sendMessage")]
    to_other = [d.payload["params"]["text"] for d in news if d.chat_id == OTHER]
    assert to_other[0] == "Report <b>PA-ABCDE</b> has been passed to URENCO Hanoi, which will handle it."
    assert to_other[1] == "URENCO Hanoi has started work on report <b>PA-ABCDE</b>."
    # The follower is not asked to rate; only the reporter may.
    await act(db, original, Action.RESOLVE, OTHER_STAFF, note="a < b")
    resolved = {d.chat_id: d.payload["params"]["text"] for d in (await outbox(db))[5:]}
    assert resolved[OTHER] == "URENCO Hanoi has resolved report <b>PA-ABCDE</b>: a &lt; b"
    assert "hài lòng" in resolved[REPORTER]
    # The reporter rates: the follower hears that it is closed, the reporter nothing more.
    await act(db, original, Action.RATE, RESIDENT, rating="satisfied")
    last = (await outbox(db))[7:]
    assert [(d.chat_id, d.payload["params"]["text"]) for d in last] == [(OTHER, "Report <b>PA-ABCDE</b> is closed.")]


async def test_a_duplicate_needs_an_open_original(db):
    await setup(db)
    closed = await new_report(db, code="PA-CLOSE", state="closed")
    rid = await new_report(db, code="PA-BBBBB")
    error = await refused(db, rid, Action.DUPLICATE, MOD, original_id=closed)
    assert error.code == "original_not_open" and "PA-CLOSE" in error.render(lambda m: m, "en", HANOI)


async def test_not_satisfied_reopens_and_the_clock_starts_again(db):
    await setup(db)
    rid = await new_report(db)
    await act(db, rid, Action.ASSIGN, MOD, agency_code="a1")
    await act(db, rid, Action.RESOLVE, STAFF, note="Xong")
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=HANOI).astimezone(timezone.utc)
    result = await act(db, rid, Action.REOPEN, RESIDENT, comment="Vẫn còn ổ gà", now=monday)
    report = await report_of(db, rid)
    assert (report.state, report.reopened_count, report.agency_code, report.resolved_at) == ("reopened", 1, "a1", None)
    assert report.rating == "not_satisfied" and report.rating_comment == "Vẫn còn ổ gà"
    assert report.take_up_due_at.astimezone(HANOI).strftime("%a %d %H:%M") == "Mon 30 17:00"
    assert result.notified == 0
    await act(db, rid, Action.START, STAFF, expected_state="reopened", now=monday)
    assert (await report_of(db, rid)).state == "in_progress"


async def test_urgent_reports_are_due_in_four_working_hours(db):
    await setup(db)
    rid = await new_report(db)
    before = await report_of(db, rid)
    assert before.take_up_due_at.astimezone(HANOI).strftime("%a %d %H:%M") == "Mon 30 15:00"
    assert before.due_at.astimezone(HANOI).strftime("%a %d/%m %H:%M") == "Fri 11/12 16:00"
    result = await act(db, rid, Action.PRIORITY, MOD, priority="urgent", now=T0)
    assert result.due_at.astimezone(HANOI).strftime("%a %d %H:%M") == "Mon 30 11:00"
    assert not result.event.visible and result.to_state == "submitted" and await outbox(db) == []
    assert (await refused(db, rid, Action.PRIORITY, MOD, priority="urgent")).code == "no_change"
    result = await act(db, rid, Action.PRIORITY, MOD, priority="normal")
    assert result.due_at == before.due_at


async def test_the_deadline_job_queries(db):
    await setup(db)
    fresh = await new_report(db, code="PA-FRESH")                 # take-up due Mon 30 15:00
    started = await new_report(db, code="PA-START", state="in_progress", agency="a1")  # resolve due Fri 11/12
    monday = lambda h: datetime(2026, 11, 30, h, 0, tzinfo=HANOI).astimezone(timezone.utc)  # noqa: E731
    async with db.transaction() as session:
        assert await deadlines.due_for_reminder(session, monday(12)) == []
        assert [r.id for r in await deadlines.due_for_reminder(session, monday(13))] == [fresh]
        assert await deadlines.mark_reminded(session, [fresh], monday(13)) == 1
        assert await deadlines.due_for_reminder(session, monday(14)) == []
        assert await deadlines.overdue(session, monday(15)) != [] and await deadlines.overdue(session, monday(14)) == []
        assert [r.id for r in await deadlines.overdue(session, monday(16))] == [fresh]
        await deadlines.mark_overdue(session, [fresh], monday(16))
        assert await deadlines.overdue(session, monday(16)) == []
        assert [r.id for r in await deadlines.overdue(session, monday(16), flagged=True)] == [fresh]
        assert [r.id for r in await deadlines.not_escalated(session)] == [fresh]
        await deadlines.mark_escalated(session, [fresh], monday(16))
        assert await deadlines.not_escalated(session) == []
        late = datetime(2026, 12, 12, tzinfo=timezone.utc)
        assert {r.id for r in await deadlines.overdue(session, late, flagged=True)} == {fresh, started}


async def test_resolved_reports_nobody_rated_close_after_n_days(db):
    await setup(db)
    rid = await new_report(db)
    await act(db, rid, Action.ASSIGN, MOD, agency_code="a1")
    await act(db, rid, Action.RESOLVE, STAFF, note="Xong", now=T0 + timedelta(days=1))
    async with db.transaction() as session:
        assert await lifecycle.auto_close(session, T0 + timedelta(days=7), POLICY) == []
    assert (await refused(db, rid, Action.AUTO_CLOSE, lifecycle.SYSTEM, now=T0 + timedelta(days=7))).code == "too_early"
    async with db.transaction() as session:
        [closed] = await lifecycle.auto_close(session, T0 + timedelta(days=8, hours=1), POLICY)
    assert closed.to_state == "closed" and closed.notified == 1
    assert (await outbox(db))[-1].payload["params"]["text"] == "Phản ánh <b>PA-AAAAA</b> đã đóng."


async def test_actor_for_reads_the_roles(db):
    await setup(db)
    async with db.read() as session:
        assert (await lifecycle.actor_for(session, MODERATOR)).kind == "moderator"
        assert (await lifecycle.actor_for(session, ADMIN, {ADMIN})).kind == "moderator"
        staff = await lifecycle.actor_for(session, STAFF_1, name="Hùng")
        assert (staff.kind, staff.agency_code, staff.name) == ("agency_staff", "a1", "Hùng")
        assert (await lifecycle.actor_for(session, REPORTER)).kind == "resident"


async def test_agency_statistics_over_a_known_history(db):
    await setup(db)
    now = datetime(2026, 12, 31, tzinfo=timezone.utc)
    day = timedelta(days=1)
    rows = [  # agency, created, resolved after, due after, rating
        ("a1", now - 10 * day, 2 * day, 5 * day, "satisfied"),
        ("a1", now - 20 * day, 4 * day, 3 * day, "not_satisfied"),
        ("a1", now - 30 * day, 9 * day, 10 * day, "satisfied"),
        ("a1", now - 5 * day, None, 5 * day, None),
        ("a1", now - 100 * day, 1 * day, 5 * day, "satisfied"),  # outside the 90 days
        ("a2", now - 3 * day, 1 * day, 5 * day, "acceptable"),
    ]
    async with db.transaction() as session:
        resident = (await session.execute(select(Resident).where(Resident.telegram_id == REPORTER))).scalar_one()
        for n, (agency, created, resolved, due, rating) in enumerate(rows):
            session.add(Report(code=f"PA-S{n:04d}", resident_id=resident.id, category_code="roads", description="x",
                               state="closed" if resolved else "in_progress", agency_code=agency, created_at=created,
                               updated_at=created, due_at=created + due,
                               resolved_at=created + resolved if resolved else None, rating=rating))
    async with db.read() as session:
        table = {s.agency_code: s for s in await stats.agency_stats(session, now=now, days=90)}
    a1, a2 = table["a1"], table["a2"]
    assert (a1.received, a1.resolved, a1.on_time, a1.rated, a1.satisfied) == (4, 3, 2, 3, 2)
    assert a1.on_time_pct == 66.7 and a1.satisfied_pct == 66.7 and a1.median_hours_to_resolve == 96
    assert (a2.received, a2.on_time_pct, a2.satisfied_pct, a2.acceptable) == (1, 100.0, 0.0, 1)
    assert a2.name("en") == "URENCO Hanoi"
