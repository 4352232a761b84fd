"""The resident rates a resolved report, end to end through the emulator: satisfied, acceptable,
not satisfied (reopen, or close), the optional comment, stale taps; and /status hides the
staff's own steps."""

from __future__ import annotations

from sqlalchemy import select

from complaints.lifecycle import Action
from kernel.i18n import translator
from storage.models import Report, ReportEvent, Resident
from tests.fixtures.rating import MOD, WORKER, act, file_report, resolution, resolved_report, staff
from tests.fixtures.reports import resident_of
from tests.fixtures.residents import onboarded, tap


async def report_of(db, report_id: int) -> Report:
    async with db.read() as session:
        return await session.get(Report, report_id)


async def events_of(db, report_id: int) -> list[ReportEvent]:
    async with db.read() as session:
        query = select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.id)
        return list((await session.execute(query)).scalars())


async def test_satisfied_closes_the_report_and_takes_a_comment(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    answer = await tap(lan, "😊 Satisfied", message=message)
    assert answer.text == "Thank you for your rating!" and not answer.show_alert
    done = await lan.next_message()
    assert done.text == (f"Your rating: satisfied.\nReport {report.code} is closed.\n\n"
                         "Add a comment? Type it now, or tap Skip.")
    assert done.buttons == [["Skip"]]
    assert message.buttons == []
    stored = await report_of(db, report.id)
    assert (stored.state, stored.rating, stored.rating_comment) == ("closed", "satisfied", None)
    assert stored.closed_at is not None and stored.rated_at is not None
    assert (await resident_of(db, lan)).awaiting == "comment"

    await lan.send("Quick work, <thank you> & well done!")
    saved = await lan.next_message()
    assert saved.text == f"Thank you: your comment on report {report.code} was saved."
    stored = await report_of(db, report.id)
    assert stored.rating_comment == "Quick work, <thank you> & well done!"
    rate = (await events_of(db, report.id))[-1]
    assert (rate.action, rate.state, rate.actor, rate.note) == ("rate", "closed", "resident", stored.rating_comment)
    assert rate.actor_telegram_id == lan.id and rate.actor_name is None
    assert (await resident_of(db, lan)).awaiting is None

    # The comment step is over: more text is not a comment, and Skip changes nothing.
    await lan.send("One more thing")
    assert (await lan.next_message()).text.startswith("I didn't understand that.")
    await tap(lan, "Skip", message=done)
    await lan.wait_for(lambda: done.buttons == [])
    assert (await report_of(db, report.id)).rating_comment == "Quick work, <thank you> & well done!"

    await lan.send(f"/status {report.code}")
    status = await lan.next_message()
    assert "Quick work, &lt;thank you&gt; &amp; well done!" in status.html
    assert "\nYour rating: satisfied.\n" in status.text


async def test_acceptable_and_skip(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    await tap(lan, "😐 Acceptable", message=message)
    done = await lan.next_message()
    assert done.text.endswith("Add a comment? Type it now, or tap Skip.")
    answer = await tap(lan, "Skip", message=done)
    assert not answer.show_alert
    await lan.wait_for(lambda: done.buttons == [] and message.buttons == [])
    assert (await resident_of(db, lan)).awaiting is None
    stored = await report_of(db, report.id)
    assert (stored.state, stored.rating, stored.rating_comment) == ("closed", "acceptable", None)
    await lan.send("Not a comment any more")
    assert (await lan.next_message()).text.startswith("I didn't understand that. Send /help")
    assert (await report_of(db, report.id)).rating_comment is None


async def test_not_satisfied_reopens_the_report_with_a_comment(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    await tap(lan, "😞 Not satisfied", message=message)
    question = await lan.next_message()
    assert question.text == f"{report.code}\nReopen the report so the agency works on it again?"
    assert question.buttons == [["Reopen", "No, close it"]]
    assert message.buttons == []
    assert (await report_of(db, report.id)).state == "resolved"  # nothing changed yet

    await tap(lan, "Reopen", message=question)
    done = await lan.next_message()
    assert done.text == (f"Your rating: not satisfied.\nReport {report.code} is reopened: it goes back to the "
                         "agency, which will work on it again.\n\nAdd a comment? Type it now, or tap Skip.")
    assert question.buttons == []
    stored = await report_of(db, report.id)
    assert (stored.state, stored.reopened_count, stored.rating) == ("reopened", 1, "not_satisfied")
    assert stored.agency_code == "a1" and stored.resolved_at is None

    await lan.send("The hole is back after one day of rain.")
    assert (await lan.next_message()).text == f"Thank you: your comment on report {report.code} was saved."
    stored = await report_of(db, report.id)
    assert stored.rating_comment == "The hole is back after one day of rain."
    reopen = (await events_of(db, report.id))[-1]
    assert (reopen.action, reopen.state, reopen.note) == ("reopen", "reopened", stored.rating_comment)
    # The agency works on it again.
    await act(bot, db, report.id, (Action.START, WORKER, {}))
    assert (await report_of(db, report.id)).state == "in_progress"


async def test_not_satisfied_without_reopening_closes_it(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    await tap(lan, "😞 Not satisfied", message=message)
    question = await lan.next_message()
    answer = await tap(lan, "No, close it", message=question)
    assert answer.text == "Thank you for your rating!"
    done = await lan.next_message()
    assert done.text.startswith(f"Your rating: not satisfied.\nReport {report.code} is closed.")
    stored = await report_of(db, report.id)
    assert (stored.state, stored.rating, stored.reopened_count) == ("closed", "not_satisfied", 0)
    assert [e.action for e in await events_of(db, report.id)][-1] == "rate"


async def test_a_second_tap_is_refused_and_changes_nothing(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    # Three taps before the bot took the buttons away: the first one counts.
    first = await lan.tap("😊 Satisfied", message=message)
    second = await lan.tap("😐 Acceptable", message=message)
    third = await lan.tap("😞 Not satisfied", message=message)
    assert (await first.answer()).text == "Thank you for your rating!"
    for tapped in (second, third):
        answer = await tapped.answer()
        assert answer.show_alert and answer.text.startswith("You already rated this report at "), answer
        assert answer.text.endswith(": satisfied."), "the rating that counts, not the one tapped last"
    await lan.next_message()  # the comment offer, once
    stored = await report_of(db, report.id)
    assert (stored.state, stored.rating) == ("closed", "satisfied")
    assert [e.action for e in await events_of(db, report.id)].count("rate") == 1

    # Reopened already: "No, close it" on the question answered twice.
    other = await file_report(lan, db)
    await act(bot, db, other.id, (Action.ASSIGN, MOD, {"agency_code": "a1"}),
              (Action.RESOLVE, WORKER, {"note": "Done."}))
    message = await resolution(lan, other.code)
    await tap(lan, "😞 Not satisfied", message=message)
    question = await lan.next_message()
    reopen = await lan.tap("Reopen", message=question)
    close = await lan.tap("No, close it", message=question)
    await reopen.answer()
    answer = await close.answer()
    assert answer.show_alert and answer.text.startswith("You already reopened this report at ")
    await lan.next_message()
    stored = await report_of(db, other.id)
    assert (stored.state, stored.rating, stored.reopened_count) == ("reopened", "not_satisfied", 1)


async def test_the_refusal_is_in_the_residents_language(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    async with db.transaction() as session:
        (await session.execute(select(Resident).where(Resident.telegram_id == lan.id))).scalar_one().language = "vi"
    first = await lan.tap("😐 Acceptable", message=message)
    second = await lan.tap("😐 Acceptable", message=message)
    assert not (await first.answer()).show_alert
    answer = await second.answer()
    prefix = translator("vi").gettext("You already rated this report at {time}: {rating}.").split("{time}")[0]
    assert prefix == "Bạn đã đánh giá phản ánh này lúc "
    assert answer.show_alert and answer.text.startswith(prefix) and answer.text.endswith(": chấp nhận được.")
    assert "/" in answer.text and ":" in answer.text  # the time, as HH:MM DD/MM/YYYY
    await lan.next_message()


async def test_a_too_long_comment_is_refused_and_a_good_one_then_accepted(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    await tap(lan, "😐 Acceptable", message=message)
    await lan.next_message()
    await lan.send("x" * 1001)
    refused = await lan.next_message()
    assert refused.text == ("Your comment is 1001 characters long; at most 1000 fit. Please shorten it and send it "
                            "again, or tap Skip.")
    assert (await report_of(db, report.id)).rating_comment is None
    assert (await resident_of(db, lan)).awaiting == "comment"
    await lan.send_sticker()
    assert (await lan.next_message()).text == ("I can't use this kind of message here. Type a comment on how your "
                                                "report was handled, or tap Skip.")
    await lan.send("y" * 1000)
    assert (await lan.next_message()).text.startswith("Thank you: your comment")
    assert (await report_of(db, report.id)).rating_comment == "y" * 1000
    assert (await resident_of(db, lan)).awaiting is None


async def test_status_shows_only_what_the_resident_is_told(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    report = await file_report(lan, db)
    await staff(db)
    await act(bot, db, report.id, (Action.ASSIGN, MOD, {"agency_code": "a1", "note": "Internal: call Mr Tuan"}),
              (Action.PRIORITY, MOD, {"priority": "urgent"}),
              (Action.SEND_BACK, WORKER, {"reason": "Not ours, internal"}),
              (Action.ASSIGN, MOD, {"agency_code": "a1"}))
    await lan.send(f"/status {report.code}")
    status = await lan.wait_for(lambda: next((m for m in lan.messages if (m.text or "").startswith(report.code)), None),
                                timeout=15)
    history = status.text.split("History\n", 1)[1].splitlines()
    assert len(history) == 3, status.text  # submitted, assigned, assigned again
    assert [line.split(": ", 1)[1] for line in history] == ["Received", "Passed to the agency", "Passed to the agency"]
    assert "urgent" not in status.text and "internal" not in status.text.lower()
    assert len(await events_of(db, report.id)) == 5


async def test_forget_takes_the_residents_id_off_their_rating_in_the_history(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    await tap(lan, "😊 Satisfied", message=message)
    await lan.next_message()
    await lan.send("/forget")
    confirm = await lan.next_message()
    await tap(lan, "Yes, delete my data", message=confirm)
    await lan.wait_for(lambda: confirm.text.startswith("Your data has been deleted."))
    events = await events_of(db, report.id)
    assert (events[-1].action, events[-1].actor, events[-1].actor_telegram_id) == ("rate", "resident", None)
    assert all(event.actor_telegram_id != lan.id for event in events)
    assert all(e.actor_telegram_id is not None for e in events if e.actor in ("moderator", "agency_staff")), \
        "the staff's steps keep who took them"
