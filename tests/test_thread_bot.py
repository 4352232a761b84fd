"""A report's thread in Telegram, end to end through the emulator: a moderator asks from the card,
the resident answers by replying (a photo, its metadata gone), the agency sees it on its card;
the resident adds a corrected location from /status; a stranger gets the answer of an unknown
code; internal notes never reach the resident; a question to a resident who blocked the bot is
marked undeliverable on the card; tapping twice is harmless."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import Image
from sqlalchemy import select

from complaints import lifecycle, thread
from complaints.lifecycle import Actor
from storage.models import Report, ReportMessage, Resident
from tests.fixtures.city import TRANSPORT
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import HOAN_KIEM, onboarded, tap
from tests.fixtures.triage import file_report, settings, staff  # noqa: F401 (fixtures)

ASK = "❓ Ask the resident…"


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 57.0), 3: "E", 4: (105.0, 51.0, 2.0)}
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


async def assigned(emulator, staff):
    """Lan's report (no photo), assigned by Mai to the transport department: Lan, the
    moderators' card, the agency's card, the report."""
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    await (await staff.mods.tap(staff.mai, f"🏢 Assign: {TRANSPORT}", message=card)).answer()
    work = await staff.transport.next_message()
    await lan.next_message()  # "passed to the transport department"
    return lan, card, work


async def ask(group, person, card, text: str):
    """`person` taps "Ask the resident…" on `card` and replies to the bot's question with `text`."""
    assert (await (await group.tap(person, ASK, message=card)).answer()).text in (None, "")
    prompt = await group.next_message()
    assert prompt.message.reply_markup["force_reply"] is True
    await group.send(person, text, reply_to=prompt)
    return await group.next_message()


async def messages_of(db, report_id: int) -> list[ReportMessage]:
    async with db.read() as session:
        return list((await session.execute(select(ReportMessage).where(ReportMessage.report_id == report_id)
                                            .order_by(ReportMessage.id))).scalars())


async def test_a_moderator_asks_the_resident_answers_with_a_photo_and_the_agency_sees_it(
        bot, emulator, db, staff, settings):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    assert [ASK] in card.buttons and [ASK] in work.buttons

    sent = await ask(staff.mods, staff.mai, card, "Which side of the street <b>exactly</b>?")
    assert sent.text == f"Sent to the resident of {report.code}. Their answer will appear on the card."
    question = await lan.next_message()
    assert question.text == (f"❓ A question from the city's moderators about your report {report.code}:\n\n"
                             "Which side of the street <b>exactly</b>?\n\n"
                             "Reply to this message to answer: with text, a photo or a location.")
    assert question.message.reply_markup["force_reply"] is True
    await staff.mods.wait_for(lambda: "❓ Mai" in card.text and "waiting for the answer" in card.text)
    await staff.transport.wait_for(lambda: "Which side of the street" in work.text)

    original = jpeg_with_exif()
    await lan.send_photo(caption="The left side, by the <bus stop>", image=original, reply_to=question)
    thanks = await lan.next_message()
    assert thanks.text == f"Thank you: your answer was passed on to the staff handling report {report.code}."

    # The agency's card shows the answer at once, by "the resident", never by name.
    await staff.transport.wait_for(lambda: "💬 the resident" in work.text and "1 photo(s)" in work.text)
    assert "The left side, by the &lt;bus stop&gt;" in work.html and "Lan" not in work.text
    assert "waiting for the answer" not in work.text
    told = await staff.transport.next_message()
    assert told.text.startswith(f"💬 The resident answered about report {report.code}:\nThe left side")
    assert told.reply_to_message_id == work.message.message_id
    await staff.mods.wait_for(lambda: "💬 the resident" in card.text)

    # Its staff see the cleaned copy: another file, without the metadata.
    assert ["🖼 The photo"] in work.buttons
    await (await staff.transport.tap(staff.hung, "🖼 The photo", message=work)).answer()
    shown = await staff.transport.next_message()
    data = emulator.state.files.get(shown.photo).data
    assert data != original and b"SecretPhone" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif()
    # The cards' job finds the question delivered (the sender marked its outbox row sent).
    await until(lambda: delivered(db, report.id), timeout=20)
    [asked, answer] = await messages_of(db, report.id)
    assert (asked.kind, asked.delivery, asked.answered_at is not None) == ("question", "delivered", True)
    assert (answer.kind, answer.reply_to_id, answer.author_telegram_id) == ("answer", asked.id, lan.id)
    assert (settings.media_dir / answer.photos[0]["sha256"][:2] / f"{answer.photos[0]['sha256']}.jpg").exists()

    # The resident's /status shows the exchange.
    await lan.send(f"/status {report.code}")
    status = await lan.next_message()
    assert "Messages\n" in status.text and "the city's moderators: Which side of the street" in status.text
    assert "you: The left side, by the <bus stop> · 📷 1 photo(s)" in status.text


async def test_the_resident_adds_a_location_and_a_stranger_is_refused(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    await lan.send(f"/status {report.code}")
    status = await lan.next_message()
    assert status.buttons == [["➕ Add to my report"]]
    await tap(lan, "➕ Add to my report", message=status)
    prompt = await lan.next_message()
    assert prompt.text.startswith(f"Send what you want to add to report {report.code}:")
    # A second tap is harmless: the same state, the same prompt.
    await tap(lan, "➕ Add to my report", message=status)
    assert (await lan.next_message()).text == prompt.text

    where = (HOAN_KIEM[0] + 0.0004, HOAN_KIEM[1] + 0.0003)
    await lan.share_location(*where)
    added = await lan.next_message()
    assert added.text == f"Added to report {report.code}. Send more, or tap “Done ✓”."
    await staff.transport.wait_for(lambda: "➕ the resident" in work.text and "corrected location" in work.text)
    told = await staff.transport.next_message()
    assert told.text.startswith(f"➕ The resident added to report {report.code}:")
    assert f"mlat={where[0]:.6f}" in str(told.message.entities)
    await tap(lan, "Done ✓", message=added)
    assert (await lan.next_message()).text.startswith(f"Thank you. The staff handling report {report.code}")
    await tap(lan, "Done ✓", message=added)  # twice: nothing more happens
    assert (await lan.next_message()).text == "Nothing more is being added."
    await lan.send("Hello?")  # no longer added to the report
    assert (await lan.next_message()).text.startswith("I didn't understand that.")
    [location] = await messages_of(db, report.id)
    assert (location.kind, location.latitude, location.area_code) == ("addition", where[0], "00070")

    # A stranger who forges the button gets exactly what /status gives for a code not theirs.
    minh = emulator.user(first_name="Minh", language_code="en")
    await minh.send("/start")
    hello = await minh.next_message()
    await minh.send(f"/status {report.code}")
    unknown = await minh.next_message()
    await (await minh.tap_data(f"ad:{report.code}", hello)).answer()
    refused = await minh.next_message()
    assert refused.text == unknown.text
    assert refused.text.startswith(f"No report of yours has the code {report.code}.")
    assert len(await messages_of(db, report.id)) == 1


async def test_internal_notes_never_reach_the_resident(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    async with db.transaction() as session:
        posted = await thread.note(session, report.id, Actor("agency_staff", staff.hung.id, "Hùng", "hn-so-gtvt"),
                                   "Internal: the contractor is late")
    bot.bot_data["effects"](posted.effects)
    await staff.transport.wait_for(lambda: "📝 Hùng" in work.text and "contractor is late" in work.text)
    await lan.send(f"/status {report.code}")
    status = await lan.next_message()
    assert "contractor" not in status.text and "Messages" not in status.text
    assert all("contractor" not in (m.text or "") for m in lan.messages)


async def test_a_question_to_a_resident_who_blocked_the_bot_is_undeliverable(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    await lan.block()
    await until(lambda: blocked(db, lan))
    sent = await ask(staff.mods, staff.mai, card, "Is it still there?")
    assert sent.text == (f"Saved in the thread of {report.code}, but the resident cannot receive it: "
                         "they blocked the bot.")
    await staff.mods.wait_for(lambda: "undeliverable: the resident blocked the bot" in card.text)
    await staff.transport.wait_for(lambda: "undeliverable" in work.text)
    [asked] = await messages_of(db, report.id)
    assert asked.delivery == "undeliverable"
    assert "Is it still there?" not in " ".join(m.text or "" for m in lan.all_messages)


async def test_a_question_the_sender_cannot_deliver_is_marked_on_the_card(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    refused = emulator.expect_error(403)
    await lan.deactivate()  # no update tells the bot: the sender finds out
    sent = await ask(staff.transport, staff.hung, work, "Can you send a photo?")
    assert sent.text == f"Sent to the resident of {report.code}. Their answer will appear on the card."
    await staff.transport.wait_for(lambda: "undeliverable: the resident blocked the bot" in work.text, timeout=20)
    await staff.mods.wait_for(lambda: "undeliverable" in card.text)
    assert refused.matched
    [asked] = await messages_of(db, report.id)
    assert (asked.delivery, asked.author, asked.agency_code) == ("undeliverable", "agency_staff", "hn-so-gtvt")


async def test_two_taps_on_ask_give_two_prompts_but_one_answer_makes_one_question(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    await (await staff.transport.tap(staff.hung, ASK, message=work)).answer()
    first = await staff.transport.next_message()
    await (await staff.transport.tap(staff.hung, ASK, message=work)).answer()
    second = await staff.transport.next_message()
    await staff.transport.send(staff.hung, "How deep is it?", reply_to=second)
    assert (await staff.transport.next_message()).text.startswith("Sent to the resident")
    question = await lan.next_message()
    assert question.text.startswith(f"❓ A question from {TRANSPORT} about your report {report.code}")
    # Someone else cannot answer Hùng's question, and a stranger cannot ask at all.
    await staff.transport.send(staff.thu, "Me too", reply_to=first)
    assert (await staff.transport.next_message()).text.startswith("This question was for someone else.")
    refusal = await (await staff.transport.tap(staff.guest, ASK, message=work)).answer()
    assert refusal.text == "Only moderators and the staff of the agency handling this report can do this."
    # Hùng drops the question he no longer needs.
    await staff.transport.send(staff.hung, "/cancel", reply_to=first)
    assert (await staff.transport.next_message()).text.startswith(
        f"Cancelled: I no longer wait for your answer about {report.code}.")
    await staff.transport.wait_for(lambda: first.text.endswith("✖ Cancelled."))
    assert len(await messages_of(db, report.id)) == 1
    # A reply to another message of the bot is no answer.
    await lan.send("Hello", reply_to=(await lan.wait_for(lambda: lan.messages[0])))
    assert (await lan.next_message()).text.startswith("I didn't understand that.")
    await lan.send("About 20 cm", reply_to=question)
    assert (await lan.next_message()).text.startswith("Thank you: your answer was passed on")
    await staff.transport.wait_for(lambda: "About 20 cm" in work.text)
    assert [m.kind for m in await messages_of(db, report.id)] == ["question", "answer"]


async def test_nothing_is_added_to_a_closed_report(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    await lan.send(f"/status {report.code}")
    status = await lan.next_message()
    await tap(lan, "➕ Add to my report", message=status)
    await lan.next_message()
    async with db.transaction() as session:
        row = await session.get(Report, report.id)
        row.state = "closed"
    # Closed while the resident was adding: refused, and their next messages go elsewhere.
    await lan.send("One more thing")
    closed = f"Report {report.code} is “Closed”: nothing can be added to it any more."
    assert (await lan.next_message()).text == closed
    await lan.send("Hello?")
    assert (await lan.next_message()).text.startswith("I didn't understand that.")
    await tap(lan, "➕ Add to my report", message=status)  # an old button
    assert (await lan.next_message()).text == closed
    await lan.send(f"/status {report.code}")
    assert (await lan.next_message()).buttons == []
    assert await messages_of(db, report.id) == []


async def delivered(db, report_id: int) -> bool:
    return [m.delivery for m in await messages_of(db, report_id)][:1] == ["delivered"]


async def blocked(db, user) -> bool:
    async with db.read() as session:
        resident = (await session.execute(select(Resident).where(Resident.telegram_id == user.id))).scalar_one()
        return resident.blocked_at is not None


async def until(condition, timeout: float = 10.0) -> None:
    """Wait until the async `condition` holds (the bot has handled an update it cannot answer)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.05)


async def test_with_the_pause_the_deadline_waits_for_the_answer(bot, emulator, db, staff, settings):
    bot.bot_data["settings"] = settings.model_copy(update={"pause_while_asking": True})
    # Monday 09:00 in Hanoi, moving on as the test runs (the cards are redrawn when a report's
    # time of change moves), plus the hours the test skips.
    start, skipped = time.monotonic(), {"hours": 0}
    bot.bot_data["clock"] = lambda: HANOI_MONDAY_9 + timedelta(hours=skipped["hours"],
                                                               seconds=time.monotonic() - start)
    lan, card, work = await assigned(emulator, staff)
    [report] = await report_rows(db)
    skipped["hours"] = 1
    await ask(staff.transport, staff.hung, work, "Is the hole wider than a metre?")
    question = await lan.next_message()
    await staff.transport.wait_for(lambda: "the deadline waits too" in work.text)
    skipped["hours"] = 3
    await lan.send("Yes, about two metres", reply_to=question)
    await lan.next_message()
    await staff.transport.wait_for(lambda: "the deadline moved by 2" in work.text)  # 2, or 2.01 on a slow run
    [moved] = await report_rows(db)
    assert timedelta(hours=2) <= moved.due_at - report.due_at < timedelta(hours=2, minutes=1)


HANOI_MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh")).astimezone(timezone.utc)


async def test_the_reporter_of_a_duplicate_adds_to_the_report_it_was_merged_into(bot, emulator, db, staff):
    lan, card, work = await assigned(emulator, staff)
    minh = await onboarded(emulator, "en")
    await file_report(minh, photos=0)
    await staff.mods.next_message()
    original, duplicate = await report_rows(db)
    async with db.transaction() as session:
        merged = await lifecycle.apply(session, duplicate.id, "duplicate", Actor("moderator", staff.mai.id, "Mai"),
                                       policy=bot.bot_data["policy"](), original_id=original.id)
    bot.bot_data["effects"](merged.effects)
    await minh.next_message()  # told of the merge
    await minh.send(f"/status {duplicate.code}")
    status = await minh.next_message()
    assert status.buttons == [[f"➕ Add to report {original.code}"]]
    await tap(minh, f"➕ Add to report {original.code}", message=status)
    assert (await minh.next_message()).text.startswith(f"Send what you want to add to report {original.code}:")
    await minh.send("Same pothole, it is getting bigger")
    assert (await minh.next_message()).text.startswith(f"Added to report {original.code}.")
    await staff.transport.wait_for(lambda: "➕ the resident" in work.text and "getting bigger" in work.text)
    # Lan, the reporter, sees it as another resident's; Minh cannot /status the original.
    await lan.send(f"/status {original.code}")
    assert "another resident: Same pothole, it is getting bigger" in (await lan.next_message()).text
    await minh.send(f"/status {original.code}")
    assert (await minh.next_message()).text.startswith(f"No report of yours has the code {original.code}.")
