"""A report's thread on SQLite and PostgreSQL (complaints/thread.py): who may ask, note and add,
what reaches the resident through the outbox (once, in their language), what stays internal,
the limits, the pause of the deadline, the deliveries the sender settled, and /forget."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select, update

from broadcasts import outbox as outbox_rows
from complaints import deadlines, lifecycle, media, open311, thread
from complaints.calendar import WorkingCalendar
from complaints.deadlines import DeadlineRules
from complaints.lifecycle import Actor, Policy, Refused
from complaints.thread import Location
from kernel.i18n import translator
from storage import abuse, residents
from storage.areas import AreaLocator
from storage.models import (
    Agency,
    Delivery,
    Report,
    ReportEvent,
    ReportFollower,
    ReportMessage,
    ReportPhoto,
    Resident,
    StaffRole,
)

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
ADMIN, MODERATOR, STAFF_1, STAFF_2 = 900, 500, 601, 602
REPORTER, FOLLOWER, STRANGER = 1001, 1002, 1003
POLICY = Policy(rules=DeadlineRules(WorkingCalendar(HANOI)), admin_ids=frozenset({ADMIN}), translator=translator)
MOD = Actor("moderator", MODERATOR, "Mai")
STAFF = Actor("agency_staff", STAFF_1, "Hùng", "a1")
OTHER_STAFF = Actor("agency_staff", STAFF_2, "Lan", "a2")
RESIDENT = Actor("resident", REPORTER)
# Monday 30 November 2026, 09:00 in Hanoi.
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=HANOI).astimezone(timezone.utc)
SQUARE = {"type": "Polygon", "coordinates": [[[105.0, 21.0], [106.0, 21.0], [106.0, 22.0], [105.0, 22.0],
                                              [105.0, 21.0]]]}
LOCATOR = AreaLocator([("01", 0, SQUARE)])


def photo(n: int) -> dict:
    return {"file_id": f"F{n}", "file_unique_id": f"U{n}", "sha256": f"{n:064x}", "width": 10, "height": 10}


async def setup(db, *, state: str = "assigned", agency: str | None = "a1", photos: int = 0) -> int:
    async with db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(Agency(code="a2", name_vi="URENCO Hà Nội", name_en="URENCO Hanoi"))
        reporter = Resident(telegram_id=REPORTER, language="en")
        session.add_all([reporter, Resident(telegram_id=FOLLOWER, language="vi"),
                         Resident(telegram_id=STRANGER, language="vi")])
        session.add(StaffRole(telegram_id=MODERATOR, role="moderator"))
        session.add(StaffRole(telegram_id=STAFF_1, role="agency_staff", agency_code="a1"))
        session.add(StaffRole(telegram_id=STAFF_2, role="agency_staff", agency_code="a2"))
        await session.flush()
        report = Report(code="PA-AAAAA", resident_id=reporter.id, category_code="roads", description="Ổ gà",
                        state=state, agency_code=agency, created_at=T0, updated_at=T0)
        session.add(report)
        await session.flush()
        await deadlines.start_clock(session, report, T0, POLICY.rules)
        session.add(ReportEvent(report_id=report.id, at=T0, state="submitted", action="submit", actor="resident"))
        for n in range(photos):
            session.add(ReportPhoto(report_id=report.id, position=n, telegram_file_id=f"R{n}",
                                    file_unique_id=f"RU{n}", sha256=None))
        follower = (await session.execute(select(Resident).where(Resident.telegram_id == FOLLOWER))).scalar_one()
        session.add(ReportFollower(report_id=report.id, resident_id=follower.id))
        return report.id


async def write(db, function, *args, **kwargs):
    kwargs.setdefault("now", T0 + timedelta(hours=1))
    kwargs.setdefault("policy", POLICY)
    async with db.transaction() as session:
        return await function(session, *args, **kwargs)


async def refused(db, function, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as error:
        await write(db, function, *args, **kwargs)
    return error.value


async def deliveries(db) -> list[Delivery]:
    async with db.read() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def thread_of(db, rid: int, *, for_staff: bool) -> list[thread.MessageInfo]:
    async with db.read() as session:
        return await thread.messages(session, rid, for_staff=for_staff)


async def test_a_question_reaches_the_resident_once_in_their_language_and_the_answer_joins_the_thread(db):
    rid = await setup(db)
    posted = await write(db, thread.ask, rid, STAFF, "  Which side of the <street>?  ")
    assert (posted.message.kind, posted.message.visibility, posted.message.delivery) == ("question", "public", "queued")
    assert posted.message.text == "Which side of the <street>?" and posted.notified == 1
    assert posted.effects.wake_sender and posted.effects.cards
    [sent] = await deliveries(db)
    params = sent.payload["params"]
    assert sent.chat_id == REPORTER and sent.key == f"report-message:{posted.message.id}"
    assert "A question from Transport Department about your report <b>PA-AAAAA</b>" in params["text"]  # English
    assert "&lt;street&gt;" in params["text"] and "<street>" not in params["text"]
    assert params["reply_markup"]["force_reply"] is True
    # The same key is not queued twice.
    async with db.transaction() as session:
        assert not await outbox_rows.enqueue(session, REPORTER, "sendMessage", {"text": "x"}, key=sent.key)

    # The sender sent it as message 77: a reply to 77 answers that question.
    async with db.transaction() as session:
        await session.execute(update(Delivery).where(Delivery.id == sent.id).values(state="sent", message_id=77))
    async with db.read() as session:
        assert await thread.question_replied(session, REPORTER, 77) == (rid, posted.message.id)
        assert await thread.question_replied(session, REPORTER, 78) is None
        assert await thread.question_replied(session, STRANGER, 77) is None
        assert (await thread.waiting_question(session, rid)).id == posted.message.id
    async with db.transaction() as session:
        settled = await thread.settle_deliveries(session, now=T0 + timedelta(hours=2))
    assert settled.cards

    answer = await write(db, thread.add, rid, RESIDENT, text="The left side", photos=[photo(1)],
                         question_id=posted.message.id, now=T0 + timedelta(hours=3))
    assert (answer.message.kind, answer.message.reply_to_id, answer.message.photos) == \
        ("answer", posted.message.id, (photo(1),))
    assert answer.effects.cards and not answer.effects.wake_sender
    shown = await thread_of(db, rid, for_staff=False)
    assert [(m.kind, m.author, m.delivery) for m in shown] == [("question", "agency_staff", "delivered"),
                                                               ("answer", "resident", None)]
    assert shown[0].answered_at == T0 + timedelta(hours=3)
    async with db.read() as session:
        assert await thread.waiting_question(session, rid) is None
        report = await session.get(Report, rid)
    assert report.updated_at == T0 + timedelta(hours=3)  # the cards are drawn again


async def test_internal_notes_stay_with_the_staff(db):
    rid = await setup(db)
    await write(db, thread.note, rid, MOD, "Reporter sounds unsure; check with the ward")
    await write(db, thread.ask, rid, MOD, "Is it still there?", now=T0 + timedelta(hours=2))
    staff = await thread_of(db, rid, for_staff=True)
    resident = await thread_of(db, rid, for_staff=False)
    assert [m.kind for m in staff] == ["note", "question"] and staff[0].internal
    assert [m.kind for m in resident] == ["question"]
    sent = await deliveries(db)
    assert len(sent) == 1 and "unsure" not in str(sent[0].payload)
    assert "A question from the city's moderators about your report" in sent[0].payload["params"]["text"]
    # Notes are for the staff in any state, even closed.
    async with db.transaction() as session:
        await session.execute(update(Report).where(Report.id == rid).values(state="closed"))
    await write(db, thread.note, rid, STAFF, "Closed after the repair")
    assert (await refused(db, thread.ask, rid, MOD, "Again?")).code == "closed"


async def test_who_may_ask_and_note(db):
    rid = await setup(db)
    assert (await refused(db, thread.ask, rid, OTHER_STAFF, "?")).code == "other_agency"
    assert (await refused(db, thread.note, rid, OTHER_STAFF, "?")).code == "other_agency"
    assert (await refused(db, thread.ask, rid, Actor("moderator", STAFF_1), "?")).code == "not_moderator"
    assert (await refused(db, thread.ask, rid, RESIDENT, "?")).code == "not_staff"
    assert (await refused(db, thread.ask, rid, Actor("agency_staff", MODERATOR, None, "a1"), "?")).code == \
        "not_agency_staff"
    assert (await refused(db, thread.ask, 99999, MOD, "?")).code == "not_found"
    assert (await refused(db, thread.ask, rid, MOD, "   ")).code == "missing_text"
    error = await refused(db, thread.ask, rid, MOD, "x" * (thread.MESSAGE_MAX + 1))
    assert error.code == "too_long" and error.params["limit"] == thread.MESSAGE_MAX
    # An admin of the settings is a moderator.
    await write(db, thread.ask, rid, Actor("moderator", ADMIN, "Admin"), "Where exactly?")
    assert await thread_of(db, rid, for_staff=True) != [] and await deliveries(db) != []


async def test_a_stranger_gets_the_answer_of_an_unknown_code(db):
    rid = await setup(db)
    stranger = await refused(db, thread.add, rid, Actor("resident", STRANGER), text="Hello")
    unknown = await refused(db, thread.add, 99999, Actor("resident", STRANGER), text="Hello")
    nobody = await refused(db, thread.add, rid, Actor("resident", 424242), text="Hello")
    assert stranger.code == unknown.code == nobody.code == "not_found"
    assert stranger.message == unknown.message == thread.NOT_FOUND
    assert stranger.state is None and stranger.last_event is None
    # Staff are not residents of the report either.
    assert (await refused(db, thread.add, rid, MOD, text="Hello")).code == "not_found"
    # A question of another report is no question of this one.
    question = await write(db, thread.ask, rid, MOD, "Which side?")
    assert (await refused(db, thread.add, rid, Actor("resident", FOLLOWER), text="left",
                          question_id=question.message.id)).code == "not_found"
    assert await thread_of(db, rid, for_staff=True) == [question.message]


async def test_the_follower_adds_and_the_reporter_adds_a_location(db):
    rid = await setup(db)
    added = await write(db, thread.add, rid, Actor("resident", FOLLOWER), text="Còn nguy hiểm hơn")
    assert added.message.kind == "addition" and added.message.author_telegram_id == FOLLOWER
    located = await write(db, thread.add, rid, RESIDENT, location=Location(21.5, 105.5), locator=LOCATOR)
    assert (located.message.latitude, located.message.longitude, located.message.area_code) == (21.5, 105.5, "01")
    assert (await refused(db, thread.add, rid, RESIDENT, location=Location(10.0, 106.0),
                          locator=LOCATOR)).code == "outside"
    assert (await refused(db, thread.add, rid, RESIDENT, location=Location(95.0, 106.0),
                          locator=LOCATOR)).code == "outside"
    assert (await refused(db, thread.add, rid, RESIDENT)).code == "empty"
    # The report keeps the place it was filed with; the correction is in the thread.
    async with db.read() as session:
        assert (await session.get(Report, rid)).latitude is None


async def test_nothing_is_added_to_a_closed_report(db):
    rid = await setup(db, state="resolved")
    error = await refused(db, thread.add, rid, RESIDENT, text="It came back")
    assert error.code == "closed" and error.params["code"] == "PA-AAAAA"
    assert "nothing can be added" in error.render(translator("en").gettext, "en", HANOI)
    assert "Resolved" in error.render(translator("en").gettext, "en", HANOI)


async def test_photos_count_with_the_reports_own(db):
    rid = await setup(db, photos=3)
    await write(db, thread.add, rid, RESIDENT, photos=[photo(1)])
    error = await refused(db, thread.add, rid, Actor("resident", FOLLOWER), photos=[photo(2), photo(3)])
    assert error.code == "too_many_photos" and error.params == {"limit": 5, "count": 4}
    await write(db, thread.add, rid, RESIDENT, photos=[photo(2)])
    assert (await refused(db, thread.add, rid, RESIDENT, photos=[photo(3)])).code == "too_many_photos"
    # Text is still welcome.
    await write(db, thread.add, rid, RESIDENT, text="One more thing")


async def test_the_daily_limits_and_the_ban(db):
    rid = await setup(db)
    for n in range(thread.RESIDENT_PER_DAY):
        await write(db, thread.add, rid, RESIDENT, text=f"n{n}", now=T0 + timedelta(minutes=n))
    error = await refused(db, thread.add, rid, Actor("resident", FOLLOWER), text="more",
                          now=T0 + timedelta(hours=5))
    assert error.code == "too_many" and error.params["time"] == T0 + timedelta(hours=24)
    await write(db, thread.add, rid, RESIDENT, text="next day", now=T0 + timedelta(hours=24, minutes=1))
    # The staff's count is their own.
    await write(db, thread.note, rid, MOD, "still fine", now=T0 + timedelta(hours=5))

    async with db.transaction() as session:
        await abuse.ban(session, None, REPORTER)
    assert (await refused(db, thread.add, rid, RESIDENT, text="x",
                          now=T0 + timedelta(days=3))).code == "banned"


async def test_a_question_to_a_resident_who_blocked_the_bot_is_undeliverable(db):
    rid = await setup(db)
    async with db.transaction() as session:
        await residents.mark_blocked(session, REPORTER, True)
    posted = await write(db, thread.ask, rid, MOD, "Still there?", pause=True)
    assert posted.message.delivery == "undeliverable" and posted.notified == 0 and not posted.effects.wake_sender
    assert not posted.message.pauses  # no answer can come: the deadline does not wait
    assert await deliveries(db) == []

    # Unblocked, asked again; the sender then finds the chat blocked (403).
    async with db.transaction() as session:
        await residents.mark_blocked(session, REPORTER, False)
    posted = await write(db, thread.ask, rid, MOD, "Hello?", pause=True, now=T0 + timedelta(hours=2))
    assert posted.message.pauses
    [sent] = await deliveries(db)
    async with db.transaction() as session:
        await outbox_rows.record(session, [outbox_rows.Outcome(sent.id, outbox_rows.BLOCKED, chat_id=REPORTER)])
    async with db.transaction() as session:
        effects = await thread.settle_deliveries(session, now=T0 + timedelta(hours=3))
        assert not (await thread.settle_deliveries(session, now=T0 + timedelta(hours=3))).cards  # done once
    assert effects.cards
    shown = await thread_of(db, rid, for_staff=True)
    assert [(m.delivery, m.pauses) for m in shown] == [("undeliverable", False), ("undeliverable", False)]
    async with db.read() as session:
        assert (await session.get(Report, rid)).updated_at == T0 + timedelta(hours=3)


async def test_the_deadline_waits_for_the_answer_when_asked_to(db):
    rid = await setup(db)
    async with db.read() as session:
        due = (await session.get(Report, rid)).due_at
    # Asked Monday 10:00, answered Tuesday 10:00: 9 working hours (08:00-17:00) went by.
    await write(db, thread.ask, rid, MOD, "Which side?", pause=True, now=T0 + timedelta(hours=1))
    await write(db, thread.ask, rid, STAFF, "And how big?", pause=True, now=T0 + timedelta(hours=2))
    question = (await thread_of(db, rid, for_staff=True))[0]
    answer = await write(db, thread.add, rid, RESIDENT, text="Left, one metre", question_id=question.id,
                         now=T0 + timedelta(days=1, hours=1))
    assert answer.message.paused_hours == 9
    async with db.read() as session:
        assert (await session.get(Report, rid)).due_at == POLICY.rules.calendar.add_hours(due, 9)
    assert all(m.answered_at is not None for m in await thread_of(db, rid, for_staff=True) if m.kind == "question")
    # Without the pause the deadline stays.
    await write(db, thread.ask, rid, MOD, "Anything else?", now=T0 + timedelta(days=1, hours=2))
    again = await write(db, thread.add, rid, RESIDENT, text="No", question_id=question.id,
                        now=T0 + timedelta(days=2))
    assert again.message.paused_hours is None
    async with db.read() as session:
        assert (await session.get(Report, rid)).due_at == POLICY.rules.calendar.add_hours(due, 9)


async def test_forget_keeps_the_thread_as_anonymous_text(db):
    rid = await setup(db)
    await write(db, thread.ask, rid, STAFF, "Which side?")
    await write(db, thread.add, rid, RESIDENT, text="Left", photos=[photo(1)])
    async with db.transaction() as session:
        assert await residents.forget(session, REPORTER)
    shown = await thread_of(db, rid, for_staff=True)
    assert [(m.author, m.author_telegram_id, m.text) for m in shown] == [
        ("agency_staff", STAFF_1, "Which side?"), ("resident", None, "Left")]
    assert shown[1].photos == (photo(1),)  # the cleaned copy stays, as the report's own photos do
    # Nobody is left to ask, and the old reporter is a stranger now.
    assert (await refused(db, thread.ask, rid, STAFF, "Still there?")).code == "no_resident"
    async with db.transaction() as session:
        assert await residents.by_telegram_id(session, REPORTER) is None


async def test_open311_keeps_the_last_public_staff_note(db):
    rid = await setup(db, state="submitted", agency=None)
    result = await write(db, lifecycle.apply, rid, "reject", MOD, reason="Not a city matter")
    assert result.to_state == "rejected"
    await write(db, thread.note, rid, MOD, "internal: spam?", now=T0 + timedelta(hours=2))
    async with db.read() as session:
        [public] = await open311.public(session, [await session.get(Report, rid)])
    assert public.status_notes == "Not a city matter"


async def test_thread_photos_are_kept_by_the_media_store(db, tmp_path):
    rid = await setup(db)
    store = media.MediaStore(tmp_path)
    stored = store.put(_jpeg(), 10_000_000)
    await write(db, thread.add, rid, RESIDENT, photos=[{**photo(1), "sha256": stored.sha256}])
    async with db.read() as session:
        assert await media.remove_unused(session, store, [stored.sha256]) == 0
    assert store.path_of(stored.sha256).exists()
    async with db.transaction() as session:
        await session.execute(ReportMessage.__table__.delete())
    async with db.read() as session:
        assert await media.remove_unused(session, store, [stored.sha256]) == 1


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, "JPEG")
    return out.getvalue()


async def test_a_paused_deadline_is_neither_reminded_nor_overdue_until_the_answer(db):
    rid = await setup(db)
    async with db.transaction() as session:
        await session.execute(update(Report).where(Report.id == rid).values(due_at=T0 + timedelta(hours=1)))
    question = await write(db, thread.ask, rid, MOD, "Which side?", pause=True, now=T0 + timedelta(minutes=30))
    async with db.read() as session:
        assert await deadlines.overdue(session, T0 + timedelta(hours=2)) == []
        assert await deadlines.due_for_reminder(session, T0 + timedelta(minutes=45)) == []
    answer = await write(db, thread.add, rid, RESIDENT, text="Left", question_id=question.message.id,
                         now=T0 + timedelta(hours=3))
    assert answer.message.paused_hours == 2.5
    async with db.read() as session:
        assert (await session.get(Report, rid)).due_at == T0 + timedelta(hours=3, minutes=30)
        assert await deadlines.overdue(session, T0 + timedelta(hours=3)) == []
        assert [r.id for r in await deadlines.overdue(session, T0 + timedelta(hours=4))] == [rid]


async def test_a_reply_is_known_by_its_message_or_by_the_code_it_names(db):
    rid = await setup(db)
    first = await write(db, thread.ask, rid, MOD, "Which side?")
    second = await write(db, thread.ask, rid, MOD, "How big?", now=T0 + timedelta(hours=2))
    rows = await deliveries(db)
    async with db.transaction() as session:
        await session.execute(update(Delivery).where(Delivery.id == rows[0].id).values(state="sent", message_id=70))
    async with db.read() as session:
        assert await thread.question_replied(session, REPORTER, 70) == (rid, first.message.id)
        # Not recorded yet: the text of the replied message names the report; its latest question.
        text = rows[1].payload["params"]["text"].replace("<b>", "").replace("</b>", "")
        assert await thread.question_replied(session, REPORTER, 71, text) == (rid, second.message.id)
        assert await thread.question_replied(session, REPORTER, 71, "Report PA-AAAAA has been passed") is None
        assert await thread.question_replied(session, STRANGER, 71, text) is None
        # "May I add?" answers as `add` would, writing nothing.
        assert (await thread.may_add(session, rid, RESIDENT)).code == "PA-AAAAA"
        with pytest.raises(Refused) as error:
            await thread.may_add(session, rid, Actor("resident", STRANGER))
        assert error.value.code == "not_found"


async def test_a_message_handled_again_after_its_instance_died_is_added_once(db):
    rid = await setup(db)
    first = await write(db, thread.add, rid, RESIDENT, text="Still there", photos=[photo(1)])
    # The same update, taken over from the instance that added it and died before its reply.
    again = await write(db, thread.add, rid, RESIDENT, text="Still there", photos=[photo(1)], again=True)
    assert again.message.id == first.message.id and not again.effects.cards
    assert [m.text for m in await thread_of(db, rid, for_staff=True)] == ["Still there"]
    # Another message is added, and the same words sent anew (not a takeover) are too.
    await write(db, thread.add, rid, RESIDENT, text="Still there", photos=[photo(2)], again=True)
    await write(db, thread.add, rid, RESIDENT, text="Still there")
    assert len(await thread_of(db, rid, for_staff=True)) == 3
