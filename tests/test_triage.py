"""Triage and agency work in Telegram groups, end to end through the emulator: the moderators'
card and its buttons, the agency's card, the questions staff answer by replying, refusals, races,
duplicates, rejection, sending back."""

from __future__ import annotations

from sqlalchemy import select, update

from handlers import staff_cards
from storage.models import Agency, Report, ReportFollower, ReportPhoto, StaffPrompt
from tests.fixtures.city import TRANSPORT, add_report
from tests.fixtures.reports import report_rows, resident_of
from tests.fixtures.residents import HOAN_KIEM, onboarded, tap
from tests.fixtures.triage import file_report, settings, staff  # noqa: F401 (fixtures)

URENCO = "Hanoi Urban Environment Company (URENCO)"


async def at_the_agency(emulator, staff):
    """A resident's report, assigned by Mai to the transport department: the resident, the
    moderators' card and the agency's card."""
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    await (await staff.mods.tap(staff.mai, f"🏢 Assign: {TRANSPORT}", message=card)).answer()
    work = await staff.transport.next_message()
    return lan, card, work


async def report_of(db, code: str) -> Report:
    [report] = await report_rows(db, code=code)
    return report


async def test_a_report_from_the_moderators_to_the_agency_to_the_resident(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan)
    [report] = await report_rows(db)
    card = await staff.mods.next_message()
    assert card.photo is not None, "the card shows the cleaned photo"
    assert card.caption.startswith(f"🆕 {report.code} · Received")
    assert "Traffic and roads" in card.caption and "Lan @lan" in card.caption and "Hoan Kiem" in card.caption
    assert "openstreetmap.org/?mlat=21.032540&mlon=105.850770" in str(card.message.caption_entities)
    assert card.buttons[0] == [f"🏢 Assign: {TRANSPORT}"]
    assert ["🔁 Duplicate of…", "❌ Reject…"] in card.buttons and ["🔴 Mark urgent"] in card.buttons
    # The photo on the card is not the resident's file: it was uploaded again from the cleaned copy.
    assert card.photo_sizes[-1]["file_unique_id"] != (await lan_photo_id(db, report))

    # Someone in the group without the role: refused, nothing changes.
    refusal = await (await staff.mods.tap(staff.guest, f"🏢 Assign: {TRANSPORT}", message=card)).answer()
    assert refusal.show_alert and refusal.text == "Only moderators can do this."
    assert (await report_of(db, report.code)).state == "submitted"

    done = await (await staff.mods.tap(staff.mai, "🔴 Mark urgent", message=card)).answer()
    assert done.text == f"Done: {report.code} is now “Received”."
    await staff.mods.wait_for(lambda: "🔴 urgent" in card.caption and ["⚪ Mark normal"] in card.buttons)
    assert "— Mai @mai" not in card.caption and "Mai" in card.caption and "priority set to urgent" in card.caption

    done = await (await staff.mods.tap(staff.mai, f"🏢 Assign: {TRANSPORT}", message=card)).answer()
    assert done.text == f"Done: {report.code} is now “Passed to the agency”."
    await staff.mods.wait_for(lambda: "Passed to the agency" in card.caption)
    assert f"assigned to {TRANSPORT}" in card.caption and "🏢 " + TRANSPORT in card.caption
    told = await lan.next_message()
    assert told.text == f"Report {report.code} has been passed to {TRANSPORT}, which will handle it."

    work = await staff.transport.next_message()
    assert work.caption.startswith(f"📨 {report.code} · Passed to the agency · 🔴 urgent")
    assert "Lan" not in work.caption and "@lan" not in work.caption, "agencies do not see who reported"
    assert work.buttons == [["▶️ In progress", "✅ Resolve…"], ["↩️ Send back to moderators…"],
                            ["❓ Ask the resident…"]]

    # Staff of another agency cannot act on it, even from inside this group, nor learn who has it.
    refusal = await (await staff.transport.tap(staff.thu, "▶️ In progress", message=work)).answer()
    assert refusal.text == "Only the staff of the agency handling this report can do this."
    refusal = await (await staff.transport.tap(staff.guest, "▶️ In progress", message=work)).answer()
    assert refusal.text == "Only the staff of the agency handling this report can do this."

    await (await staff.transport.tap(staff.hung, "▶️ In progress", message=work)).answer()
    await staff.transport.wait_for(lambda: "Being handled" in work.caption)
    assert work.buttons == [["✅ Resolve…"], ["↩️ Send back to moderators…"], ["❓ Ask the resident…"]]
    assert (await lan.next_message()).text == f"{TRANSPORT} has started work on report {report.code}."

    await (await staff.transport.tap(staff.hung, "✅ Resolve…", message=work)).answer()
    question = await staff.transport.next_message()
    assert question.text.startswith("Hùng, Reply to this message with what was done about")
    assert question.message.reply_markup["force_reply"] is True
    await staff.transport.send_photo(staff.hung, image=None, reply_to=question)
    assert (await staff.transport.next_message()).text == \
        "Write what was done.\nReply to my question again with the corrected text."
    await staff.transport.send_photo(staff.hung, caption="Filled the pothole <b>today</b>", reply_to=question)
    assert (await staff.transport.next_message()).text == f"Done: {report.code} is now “Resolved”."
    resolved = await lan.next_message()
    assert resolved.photo is not None
    assert resolved.caption.startswith(
        f"{TRANSPORT} has resolved report {report.code}: Filled the pothole <b>today</b>")
    assert resolved.buttons == [["😊 Satisfied"], ["😐 Acceptable"], ["😞 Not satisfied"]]
    await staff.transport.wait_for(lambda: "✅ " + report.code in work.caption and work.buttons == [])
    await staff.mods.wait_for(lambda: "resolved: Filled the pothole <b>today</b>" in card.caption)
    assert card.buttons == []
    async with db.read() as session:
        assert (await session.execute(select(StaffPrompt))).all() == []


async def lan_photo_id(db, report: Report) -> str:
    async with db.read() as session:
        [photo] = (await session.execute(select(ReportPhoto).where(ReportPhoto.report_id == report.id))).scalars()
        return photo.file_unique_id


async def test_two_moderators_pressing_at_once_one_wins_and_the_other_is_told(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    assert card.photo is None and card.text.startswith("🆕 PA-")
    first = await staff.mods.tap(staff.mai, f"🏢 Assign: {TRANSPORT}", message=card)
    second = await staff.mods.tap(staff.minh, "❌ Reject…", message=card)
    assert (await first.answer()).text.startswith("Done:")
    told = await second.answer()
    assert told.show_alert and told.text.startswith(f"Already assigned to {TRANSPORT} by Mai at ")
    [report] = await report_rows(db)
    assert (report.state, report.agency_code) == ("assigned", "hn-so-gtvt")
    await staff.mods.wait_for(lambda: "Passed to the agency" in card.text)
    assert ["❌ Reject…"] not in card.buttons


async def test_assign_to_another_agency_then_reject_with_a_reason(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    await (await staff.mods.tap(staff.mai, "🏢 Other agency…", message=card)).answer()
    await staff.mods.wait_for(lambda: ["« Back"] in card.buttons)
    names = [row[0] for row in card.buttons]
    assert names[0] == TRANSPORT and "Hoan Kiem Ward People's Committee" in " ".join(names)
    await (await staff.mods.tap(staff.mai, "« Back", message=card)).answer()
    await staff.mods.wait_for(lambda: card.buttons[0] == [f"🏢 Assign: {TRANSPORT}"])

    await (await staff.mods.tap(staff.mai, "❌ Reject…", message=card)).answer()
    await staff.mods.wait_for(lambda: ["✏️ Another reason…"] in card.buttons)
    await (await staff.mods.tap(staff.mai, "✏️ Another reason…", message=card)).answer()
    question = await staff.mods.next_message()
    assert "reason for rejecting" in question.text
    # Only the one asked may answer; an empty answer is refused and the question stays.
    await staff.mods.send(staff.minh, "not ours", reply_to=question)
    assert (await staff.mods.next_message()).text.startswith("This question was for someone else.")
    await staff.mods.send(staff.mai, "Trùng với <script>alert(1)</script> phản ánh trước", reply_to=question)
    assert (await staff.mods.next_message()).text.endswith("is now “Rejected”.")
    told = await lan.next_message()
    assert told.text == (f"Report {(await report_rows(db))[0].code} was not accepted. "
                         "Reason: Trùng với <script>alert(1)</script> phản ánh trước")
    # Shown as typed: escaped, or the emulator would have refused the HTML as Telegram does.
    await staff.mods.wait_for(lambda: "Rejected" in card.text and card.buttons == [])


async def test_a_template_reason_reaches_the_resident_in_their_language(bot, emulator, db, staff):
    binh = await onboarded(emulator, "vi")
    await file_report(binh, language="vi", photos=0)
    card = await staff.mods.next_message()
    # A reason that is not one of the templates (a forged button) is refused, not taken for the first.
    [report] = await report_rows(db)
    async with db.read() as session:
        from complaints.lifecycle import last_event
        seen = (await last_event(session, report.id)).id
    answer = await (await staff.mods.tap_data(staff.mai, f"tr:{report.id}:{seen}:rr:9", card)).answer()
    assert answer.text == "Unknown reason." and (await report_rows(db))[0].state == "submitted"
    await (await staff.mods.tap(staff.mai, "❌ Reject…", message=card)).answer()
    await staff.mods.wait_for(lambda: ["✏️ Another reason…"] in card.buttons)
    await (await staff.mods.tap(staff.mai, "There is not enough information to act on it.", message=card)).answer()
    told = await binh.next_message()
    assert told.text.startswith("Phản ánh ") and "không được tiếp nhận" in told.text
    [report] = await report_rows(db)
    assert report.state == "rejected"


async def test_duplicates_are_suggested_nearby_and_the_reporter_follows_the_original(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    first_card = await staff.mods.next_message()
    near = (HOAN_KIEM[0] + 0.0009, HOAN_KIEM[1])  # 100 m north
    binh = await onboarded(emulator, "en")
    await file_report(binh, photos=0, location=near, description="The same big pothole by the bus stop, again.")
    card = await staff.mods.next_message()
    original, duplicate = await report_rows(db)
    await (await staff.mods.tap(staff.mai, "🔁 Duplicate of…", message=card)).answer()
    await staff.mods.wait_for(lambda: ["⌨️ Type a code…"] in card.buttons)
    suggestion = card.buttons[0][0]
    assert suggestion.startswith(f"{original.code} · 100 m · A deep pothole")
    await (await staff.mods.tap(staff.mai, suggestion, message=card)).answer()
    told = await binh.next_message()
    assert told.text.startswith(f"Report {duplicate.code} is about the same problem as report {original.code}")
    async with db.read() as session:
        followers = (await session.execute(select(ReportFollower))).scalars().all()
        assert [(f.report_id, f.resident_id) for f in followers] == [(original.id, (await resident_of(db, binh)).id)]
    await staff.mods.wait_for(lambda: f"duplicate of {original.code}" in card.text)
    # The original's news now reaches both reporters.
    await (await staff.mods.tap(staff.mai, f"🏢 Assign: {TRANSPORT}", message=first_card)).answer()
    assert (await lan.next_message()).text.startswith(f"Report {original.code} has been passed to")
    assert (await binh.next_message()).text.startswith(f"Report {original.code} has been passed to")


async def test_the_agency_sends_a_report_back_and_the_moderators_hear_why(bot, emulator, db, staff):
    lan, card, work = await at_the_agency(emulator, staff)
    await (await staff.transport.tap(staff.hung, "↩️ Send back to moderators…", message=work)).answer()
    question = await staff.transport.next_message()
    await staff.transport.send(staff.hung, "The ward handles this street, not us", reply_to=question)
    assert (await staff.transport.next_message()).text.endswith("is now “Received”.")
    notice = await staff.mods.next_message()
    [report] = await report_rows(db)
    assert notice.text == f"↩️ {TRANSPORT} sent report {report.code} back: The ward handles this street, not us"
    assert notice.message.reply_to.message_id == card.message.message_id
    await staff.transport.wait_for(lambda: work.buttons == [])
    await staff.mods.wait_for(lambda: "Received" in card.text and "sent back to the moderators" in card.text)
    assert card.buttons[0] == [f"🏢 Assign: {TRANSPORT}"]
    assert (report.state, report.agency_code) == ("submitted", None)
    # The resident is not told of the staff's internal step.
    assert lan.messages[-1].text.startswith(f"Report {report.code} has been passed to")


async def test_chatid_tells_the_it_officer_what_to_configure(bot, emulator, db, staff):
    await staff.mods.send(staff.mai, "/chatid")
    answer = await staff.mods.next_message()
    group = staff.mods.chat.id
    assert answer.text == (f"This group's id is {group}. For the moderators' group, set LOA_MODERATORS_CHAT_ID="
                           f"{group}; for an agency's group, run: loa agencies chat AGENCY_CODE {group}")


async def test_forgetting_the_reporter_takes_their_name_off_the_card(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    assert "👤 Lan @lan" in card.text
    await lan.send("/forget")
    await tap(lan, (await lan.next_message()).buttons[0][0])
    await staff.mods.wait_for(lambda: "👤 anonymous" in card.text, timeout=15)
    assert "Lan" not in card.text


async def test_staff_see_every_photo_as_cleaned_copies_and_outsiders_do_not(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=3)
    card = await staff.mods.next_message()
    assert card.buttons[0] == [f"🏢 Assign: {TRANSPORT}"] and card.buttons[-1] == ["🖼 All 3 photos"]
    refusal = await (await staff.mods.tap(staff.guest, "🖼 All 3 photos", message=card)).answer()
    assert refusal.text == "Only moderators and the staff of the agency handling this report can see them."
    await (await staff.mods.tap(staff.mai, "🖼 All 3 photos", message=card)).answer()
    album = [await staff.mods.next_message() for _ in range(3)]
    assert len({m.message.media_group_id for m in album}) == 1
    assert all(m.message.reply_to.message_id == card.message.message_id for m in album)
    async with db.read() as session:
        originals = {p.file_unique_id for p in (await session.execute(select(ReportPhoto))).scalars()}
    assert len(originals) == 3 and not originals & {m.photo_sizes[-1]["file_unique_id"] for m in album}


async def test_a_reopened_report_goes_back_to_the_agency_flagged(bot, emulator, db, staff):
    lan, card, work = await at_the_agency(emulator, staff)
    await (await staff.transport.tap(staff.hung, "✅ Resolve…", message=work)).answer()
    question = await staff.transport.next_message()
    await staff.transport.send(staff.hung, "Patched", reply_to=question)
    await staff.transport.next_message()
    await lan.next_message()
    resolved = await lan.next_message()
    await tap(lan, "😞 Not satisfied", message=resolved)
    await tap(lan, "Reopen", message=await lan.next_message())
    await lan.next_message()
    await lan.send("Still a hole <i>there</i>")
    notice = await staff.transport.next_message(timeout=15)
    [report] = await report_rows(db)
    assert notice.text.startswith(f"↩️ Report {report.code} was reopened: the resident is not satisfied.")
    assert notice.message.reply_to.message_id == work.message.message_id
    await staff.transport.wait_for(lambda: "Reopened 1×" in work.text and "▶️ In progress" in str(work.buttons),
                                   timeout=15)
    await staff.transport.wait_for(lambda: "Still a hole <i>there</i>" in work.text, timeout=15)
    assert (report.state, report.reopened_count) == ("reopened", 1)


OPS = ("as:hn-so-gtvt", "ag", "du", "dp:1", "dp:x", "dc", "rj", "rr:0", "ro", "pr:urgent", "st", "rs", "sb", "bk",
       "ph")
NOT_YOURS = {"Only moderators can do this.", "Only the staff of the agency handling this report can do this.",
             "Only moderators and the staff of the agency handling this report can see them.",
             "This button is no longer active."}


async def everything_of(db) -> list:
    """Every report, event, staff question and follower as plain values: what a press may change."""
    from storage.models import ReportEvent
    async with db.read() as session:
        rows = []
        for model in (Report, ReportEvent, StaffPrompt, ReportFollower):
            rows += [sorted(row.model_dump().items()) for row in (await session.execute(select(model))).scalars()]
        return rows


async def test_forged_buttons_learn_nothing_and_change_nothing(bot, emulator, db, staff):
    """Someone without the role in the moderators' group, and the staff of another agency in the
    agency's group, press every kind of card button, with the event their card showed, an older
    one, on a report in another state and on none: each op gets one neutral answer whatever the
    report, and nothing changes, not even the card."""
    _lan, card, work = await at_the_agency(emulator, staff)
    await file_report(await onboarded(emulator, "vi"), language="vi", photos=0)
    fresh_card = await staff.mods.next_message()
    [assigned, fresh] = sorted(await report_rows(db), key=lambda report: report.id)
    async with db.read() as session:
        from complaints.lifecycle import last_event
        current = (await last_event(session, assigned.id)).id
    before = await everything_of(db)
    edits = {message.message_id: message.message.edit_count for message in (card, fresh_card, work)}
    presses = [(staff.mods, staff.guest, card), (staff.transport, staff.thu, work)]
    for op in OPS:
        answers = set()
        for group, person, message in presses:
            for report_id, event_id in ((assigned.id, current), (assigned.id, current - 1), (assigned.id, 0),
                                        (fresh.id, 0), (999_999, 1), (int("9" * 40), 1)):
                answer = await (await group.tap_data(person, f"tr:{report_id}:{event_id}:{op}", message)).answer()
                assert answer.show_alert, (op, answer)
                answers.add((group.chat.id, answer.text))
        texts = {text for _chat, text in answers}
        assert texts <= NOT_YOURS, (op, texts)
        assert len(answers) == len(presses), f"{op}: the answer depends on the report: {answers}"
    assert await everything_of(db) == before
    assert {message.message_id: message.message.edit_count for message in (card, fresh_card, work)} == edits
    assert staff.mods.last_message == fresh_card and staff.transport.last_message == work


async def test_a_report_without_a_ward_can_be_assigned_to_any_agency(bot, emulator, db, staff):
    """No routing rule reaches a report without an area (an Open311 address naming no ward): the
    moderators are offered the agencies taking its category, then every other one, never a button
    that does nothing."""
    code = await add_report(db, category="sanitation", area=None, point=None, address="15 Hàng Bài")
    staff_cards.soon(bot)
    card = await staff.mods.next_message()
    assert code in card.text and card.buttons[0] == ["🏢 Assign to…"]
    await (await staff.mods.tap(staff.mai, "🏢 Assign to…", message=card)).answer()
    await staff.mods.wait_for(lambda: ["« Back"] in card.buttons)
    names = [row[0] for row in card.buttons]
    assert names[:2] == [URENCO, "Hanoi Department of Natural Resources and Environment"]
    assert names.index("Hoan Kiem Ward People's Committee") < names.index(TRANSPORT) < names.index("« Back")
    assert len(names) == 13 + 1  # every agency of Hà Nội, and the way back
    done = await (await staff.mods.tap(staff.mai, URENCO, message=card)).answer()
    assert done.text == f"Done: {code} is now “Passed to the agency”."
    assert (await report_of(db, code)).agency_code == "hn-urenco"


async def test_with_no_other_agency_the_assign_button_says_so(bot, emulator, db, staff):
    async with db.transaction() as session:
        await session.execute(update(Agency).where(Agency.code != "hn-urenco").values(active=False))
    code = await add_report(db, category="sanitation", area=None, point=None, address="15 Hàng Bài")
    staff_cards.soon(bot)
    card = await staff.mods.next_message()
    await (await staff.mods.tap(staff.mai, "🏢 Assign to…", message=card)).answer()
    await staff.mods.wait_for(lambda: ["« Back"] in card.buttons)
    await (await staff.mods.tap(staff.mai, URENCO, message=card)).answer()
    await staff.mods.wait_for(lambda: "Passed to the agency" in card.text and ["« Back"] not in card.buttons)
    answer = await (await staff.mods.tap(staff.mai, "🏢 Assign to…", message=card)).answer()
    assert answer.show_alert and answer.text == "There is no other active agency to assign it to."
    assert (await report_of(db, code)).agency_code == "hn-urenco"
