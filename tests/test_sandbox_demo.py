"""The sandbox's demo data (sandbox/demo.py) as the sandbox's users rely on it: every state of the
life cycle, Lan's and Tom's reports, Hoa absent, the staff's roles and groups, the alert sent, nothing
old left to send, the deadline job quiet at the start, statistics and queues fed, one demo per
database and the same demo on every run."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from broadcasts import alerts
from complaints import deadlines, lifecycle, queue, stats, thread
from complaints.lifecycle import FINAL, Action, State
from kernel.settings import Settings
from sandbox import cast, demo
from storage import roles, topics
from storage.db import Database
from storage.models import Agency, Alert, Area, Delivery, Report, ReportEvent, ReportFollower, Resident, Subscription

# A Wednesday, 10:00 in Hà Nội.
NOW = datetime(2026, 3, 18, 3, 0, tzinfo=timezone.utc)
SETTINGS = Settings(_env_file=None)


@pytest.fixture
async def seeded(areas_loaded):
    return areas_loaded, await demo.seed(areas_loaded, SETTINGS, now=NOW)


async def all_reports(db) -> list[Report]:
    async with db.read() as session:
        return list((await session.execute(select(Report).order_by(Report.created_at, Report.id))).scalars())


async def resident(db, telegram_id: int) -> Resident | None:
    async with db.read() as session:
        return (await session.execute(select(Resident).where(Resident.telegram_id == telegram_id))).scalar_one_or_none()


async def reports_of(db, person: cast.Person) -> list[Report]:
    async with db.read() as session:
        query = (select(Report).join(Resident, Resident.id == Report.resident_id)
                 .where(Resident.telegram_id == person.telegram_id).order_by(Report.created_at))
        return list((await session.execute(query)).scalars())


async def by_code(db, code: str) -> Report:
    async with db.read() as session:
        return (await session.execute(select(Report).where(Report.code == code))).scalar_one()


async def test_every_state_of_the_life_cycle_is_there(seeded):
    db, made = seeded
    found = await all_reports(db)
    states = {state: sum(r.state == state for r in found) for state in State}
    assert all(states.values()), states
    assert made.by_state == {state.value: count for state, count in states.items()}
    assert made.reports == len(found) == 30

    urgent, overdue, reopened = [await by_code(db, code) for code in (made.urgent, made.overdue, made.reopened)]
    assert (urgent.priority, urgent.state) == ("urgent", "assigned")
    assert overdue.state == "in_progress" and overdue.overdue_at is not None and overdue.due_at < NOW
    assert (reopened.state, reopened.reopened_count, reopened.rating) == ("reopened", 1, "not_satisfied")
    closed = [r for r in found if r.state == "closed"]
    assert {r.rating for r in closed} == {"satisfied", "acceptable", "not_satisfied", None}
    duplicate = next(r for r in found if r.state == "duplicate")
    original = next(r for r in found if r.id == duplicate.duplicate_of_id)
    assert original.state in lifecycle.OPEN and original.area_code == duplicate.area_code
    async with db.read() as session:
        followers = await lifecycle.followers(session, original.id)
        events = list((await session.execute(select(ReportEvent).order_by(ReportEvent.id))).scalars())
        areas = {a.code: a for a in (await session.execute(select(Area).where(
            Area.code.in_({r.area_code for r in found})))).scalars()}
    assert followers == [duplicate.resident_id]
    assert all(e.note for e in events if e.action in ("reject", "resolve", "send_back"))
    assert {e.action for e in events} >= {a.value for a in Action}  # every action at least once

    for report in found:
        area = areas[report.area_code]
        assert area.parent_code == cast.PROVINCE
        assert area.min_lat <= report.latitude <= area.max_lat and area.min_lon <= report.longitude <= area.max_lon
        assert NOW - timedelta(days=60) <= report.created_at < NOW
        times = [e.at for e in events if e.report_id == report.id]
        assert times == sorted(times) and times[0] == report.created_at and times[-1] < NOW


async def test_lan_and_tom_are_set_up_and_hoa_is_new(seeded):
    db, made = seeded
    lan, tom = await resident(db, cast.LAN.telegram_id), await resident(db, cast.TOM.telegram_id)
    assert await resident(db, cast.HOA.telegram_id) is None
    assert (lan.language, lan.area_code, lan.first_name, lan.onboarded, lan.awaiting) == ("vi", cast.LAN.ward, "Lan",
                                                                                          True, None)
    assert (tom.language, tom.area_code, tom.onboarded) == ("en", cast.TOM.ward, True)
    async with db.read() as session:
        defaults = {t.code for t in await topics.all_topics(session) if t.subscribed_by_default}
        assert await topics.subscribed(session, lan.id) == defaults
        assert "weather" in await topics.subscribed(session, tom.id) < defaults

    lans = await reports_of(db, cast.LAN)
    assert [r.code for r in lans] == list(made.lan) and len(lans) >= 3
    assert {"resolved", "in_progress", "closed"} <= {r.state for r in lans}
    assert next(r for r in lans if r.state == "resolved").code == made.to_rate
    toms = await reports_of(db, cast.TOM)
    assert [r.code for r in toms] == list(made.tom) and len(toms) == 2
    assert all(r.reporter_name == "Tom" for r in toms)

    async with db.read() as session:
        others = list((await session.execute(select(Resident).where(
            Resident.telegram_id >= cast.EXTRA_RESIDENTS_FROM))).scalars())
    assert len(others) == 40 and made.residents == 42
    assert len({r.area_code for r in others}) == 10 and {r.language for r in others} == {"vi", "en"}
    assert all(r.onboarded and r.created_at < NOW - timedelta(days=60) for r in others)


async def test_lans_report_in_progress_has_a_question_and_her_answer(seeded):
    db, made = seeded
    report = await by_code(db, made.asked)
    assert report.code in made.lan and report.state == "in_progress"
    async with db.read() as session:
        shown = await thread.messages(session, report.id, for_staff=False)
        assert await thread.waiting_question(session, report.id) is None
        assert not await thread.any_queued(session)  # nothing for the cards' job to settle at the start
    [question, answer] = shown
    assert (question.kind, question.author, question.author_telegram_id, question.delivery) == (
        "question", "moderator", cast.HUNG.telegram_id, "delivered")
    assert question.text == demo.QUESTION and question.answered_at == answer.at
    assert (answer.kind, answer.reply_to_id, answer.author_telegram_id, answer.text) == (
        "answer", question.id, cast.LAN.telegram_id, demo.ANSWER)
    assert report.updated_at == answer.at < NOW
    started = max(e.at for e in await events_of(db, report.id))
    assert started < question.at < answer.at


async def events_of(db, report_id: int) -> list[ReportEvent]:
    async with db.read() as session:
        return list((await session.execute(select(ReportEvent).where(ReportEvent.report_id == report_id))).scalars())


async def test_the_staff_have_their_roles_and_groups(seeded):
    db, made = seeded
    async with db.read() as session:
        granted = {(r.telegram_id, r.role, r.agency_code) for r in await roles.list_roles(session)}
        chats = {a.code: a.telegram_chat_id for a in (await session.execute(select(Agency))).scalars()}
        # What the sandbox shows them, they may do: Dũng takes up the urgent report, Mai the reopened one.
        urgent, reopened = [await by_code(db, code) for code in (made.urgent, made.reopened)]
        for person, report in ((cast.DUNG, urgent), (cast.MAI, reopened)):
            actor = await lifecycle.actor_for(session, person.telegram_id, agency_code=person.agencies[0])
            await lifecycle.check(session, report.id, Action.START, actor)
        hung = await lifecycle.actor_for(session, cast.HUNG.telegram_id)
        assert hung.kind == "moderator"
    assert granted == {(p.telegram_id, p.role, agency) for p in cast.STAFF for agency in p.agencies or (None,)}
    assert {code: chat for code, chat in chats.items() if chat} == {
        g.agency: g.chat_id for g in cast.GROUPS if g.agency}
    assert len(chats) == made.agencies == 13


async def test_the_weather_alert_was_sent_two_days_ago(seeded):
    db, made = seeded
    async with db.read() as session:
        alert = await session.get(Alert, made.alert_id)
        states = dict((await session.execute(select(Delivery.state, func.count()).where(
            Delivery.alert_id == alert.id).group_by(Delivery.state))).all())
        reached = await alerts.count_recipients(session, "weather", [cast.PROVINCE])
        progress = await alerts.progress(session, alert.id, now=NOW)
        tom = (await session.execute(select(Delivery).join(Resident, Resident.id == Delivery.resident_id).where(
            Resident.telegram_id == cast.TOM.telegram_id))).scalar_one()
    assert (alert.topic_code, alert.severity, alert.area_codes, alert.status) == ("weather", "severe", ["01"], "done")
    assert set(alert.texts) == {"vi", "en"}
    assert timedelta(days=1) < NOW - alert.created_at < timedelta(days=3)
    assert alert.composed_at == alert.created_at < alert.finished_at < NOW
    assert states == {"sent": reached} and made.alert_recipients == reached > 30
    assert progress.finished and progress.sent == reached
    assert (tom.language, tom.state) == ("en", "sent") and tom.done_at < NOW.timestamp()


async def test_only_lans_news_is_sent_when_the_sandbox_starts(seeded):
    db, made = seeded
    async with db.read() as session:
        [waiting] = (await session.execute(select(Delivery).where(Delivery.state == "pending"))).scalars().all()
    # The resolution of her report, with the buttons to rate it: the one way to rate it.
    params = waiting.payload["params"]
    assert waiting.chat_id == cast.LAN.telegram_id and made.to_rate in params.get("text", params.get("caption"))
    assert [button["text"] for [button] in params["reply_markup"]["inline_keyboard"]] == [
        "😊 Hài lòng", "😐 Chấp nhận được", "😞 Không hài lòng"]
    # The card job (handlers/staff_cards.py) posts cards for the reports changed since they were shown:
    # the open and resolved ones, not the dozen that are over.
    found = await all_reports(db)
    to_show = {r.code for r in found if r.cards_synced_at is None or r.cards_synced_at < r.updated_at}
    assert to_show == {r.code for r in found if r.state not in FINAL}
    assert all(r.cards_synced_at == r.updated_at for r in found if r.state in FINAL)


@pytest.mark.parametrize("now", [
    NOW,
    datetime(2026, 3, 20, 9, 50, tzinfo=timezone.utc),  # Friday 16:50 in Hà Nội
    datetime(2026, 3, 21, 19, 0, tzinfo=timezone.utc),  # Sunday 02:00
    datetime(2026, 3, 23, 0, 55, tzinfo=timezone.utc),  # Monday 07:55
])
async def test_the_deadline_job_has_nothing_to_say_at_the_start(areas_loaded, now):
    db = areas_loaded
    made = await demo.seed(db, SETTINGS, now=now)
    async with db.read() as session:
        assert await deadlines.due_for_reminder(session, now, timedelta(hours=SETTINGS.reminder_hours)) == []
        assert await deadlines.overdue(session, now) == []
        assert await deadlines.not_escalated(session) == []
        assert await deadlines.to_autoclose(session, now, SETTINGS.autoclose_days) == []
        assert [r.code for r in await deadlines.overdue(session, now, flagged=True)] == [made.overdue]


async def test_statistics_and_queues_see_the_demo(seeded):
    db, made = seeded
    async with db.read() as session:
        by_category = await stats.category_stats(session, now=NOW, include_idle=False)
        by_agency = {s.code: s for s in await stats.agency_stats(session, now=NOW, include_idle=False)}
        triage = await queue.page(session, queue.QueueFilter(states=("submitted", "reopened")))
        urenco = await queue.page(session, queue.QueueFilter(agency="hn-urenco"))
        late = await queue.page(session, queue.QueueFilter(overdue=True))
        urgent = await queue.page(session, queue.QueueFilter(priority="urgent"))
        found = await queue.page(session, queue.QueueFilter(search="ổ gà"))
    # Received: the reports an agency holds (not those waiting, rejected or merged into another).
    held = made.reports - made.by_state["submitted"] - made.by_state["rejected"] - made.by_state["duplicate"]
    assert by_category and sum(s.received for s in by_category) == held
    assert {"roads", "sanitation"} <= {s.code for s in by_category if s.resolved}
    for code in ("hn-urenco", "hn-so-gtvt"):
        figures = by_agency[code]
        assert figures.resolved and figures.rated and figures.median_hours_to_resolve is not None
        assert 0 < figures.on_time_pct <= 100
    assert triage.total == made.by_state["submitted"] + made.by_state["reopened"] == 5
    assert triage.counts == made.by_state
    assert urenco.total >= 8
    assert [r.code for r in late.rows] == [made.overdue]
    assert [r.code for r in urgent.rows] == [made.urgent]
    assert made.to_rate in {r.code for r in found.rows}


async def test_a_second_seeding_is_refused_and_changes_nothing(seeded):
    db, made = seeded
    with pytest.raises(demo.NotFresh, match="freshly migrated"):
        await demo.seed(db, SETTINGS, now=NOW + timedelta(hours=1))
    assert len(await all_reports(db)) == made.reports


async def fingerprint(db) -> tuple:
    """Everything seeded but the reference codes and row ids."""
    async with db.read() as session:
        people = (await session.execute(select(Resident).order_by(Resident.telegram_id))).scalars().all()
        chosen = (await session.execute(select(Resident.telegram_id, Subscription.topic_code).join(
            Subscription, Subscription.resident_id == Resident.id).order_by(Resident.telegram_id,
                                                                            Subscription.topic_code))).all()
        telegram = {p.id: p.telegram_id for p in people}
        found = (await session.execute(select(Report).order_by(Report.created_at, Report.description))).scalars().all()
        events = (await session.execute(select(ReportEvent).order_by(ReportEvent.at, ReportEvent.id))).scalars().all()
        followers = (await session.execute(select(ReportFollower.resident_id))).scalars().all()
        sent = (await session.execute(select(func.count()).select_from(Delivery))).scalar_one()
    ids = {r.id: i for i, r in enumerate(found)}
    return (
        [(p.telegram_id, p.first_name, p.language, p.area_code, p.quiet_start_minute, p.quiet_end_minute,
          p.created_at) for p in people],
        [tuple(row) for row in chosen],
        [(telegram.get(r.resident_id), r.category_code, r.description, r.area_code, r.latitude, r.longitude,
          r.state, r.priority, r.agency_code, r.due_at, r.rating, ids.get(r.duplicate_of_id)) for r in found],
        [(ids[e.report_id], e.action, e.at, e.actor_telegram_id, e.note) for e in events],
        sorted(telegram[f] for f in followers), sent,
    )


async def test_two_runs_give_the_same_demo(seeded, tmp_path, sqlite_template, shipped_areas):
    db, _ = seeded
    shutil.copyfile(sqlite_template, tmp_path / "again.db")
    again = Database(f"sqlite+aiosqlite:///{tmp_path / 'again.db'}")
    try:
        async with again.transaction() as session:
            for level in sorted({row["level"] for row in shipped_areas}):
                await session.execute(insert(Area.__table__), [r for r in shipped_areas if r["level"] == level])
        await demo.seed(again, SETTINGS, now=NOW)
        assert await fingerprint(again) == await fingerprint(db)
    finally:
        await again.dispose()
