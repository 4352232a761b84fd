"""Reporting a problem, end to end through the emulator: /report, /myreports, /status."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

from PIL import Image
from sqlalchemy import func, select

from bot.app import build_application
from complaints import bans, codes
from emulator.images import sample_jpeg
from kernel import formats
from storage import abuse
from storage.models import Report, ReportDraft, ReportEvent, ReportPhoto, ReportQuota, Resident
from storage.types import utcnow
from tests.fixtures.bot import running
from tests.fixtures.reports import DESCRIPTION, report_rows, resident_of, review_card, start_report, to_photos
from tests.fixtures.residents import HOAN_KIEM, LONG_BIEN, SAIGON, onboarded, tap


async def test_a_whole_report_without_photos_by_shared_location(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    choose = await start_report(lan)
    assert choose.text.startswith("What is the problem about? Choose a category:")
    assert "Traffic and roads: Potholes, broken roads" in choose.text
    assert ["Traffic and roads"] in choose.buttons and len(choose.buttons) == 8
    answer = await tap(lan, "Traffic and roads")
    assert answer.text == "Traffic and roads"
    assert (await lan.next_message()).text.startswith("Describe the problem in a message of 10 to 2,000")
    assert choose.buttons == []
    await lan.send(DESCRIPTION)
    photos = await lan.next_message()
    assert photos.text.startswith("Add photos of the problem: up to 5")
    await tap(lan, "No photo", message=photos)
    where = await lan.next_message()
    assert where.text.startswith("Where is the problem?")
    assert where.reply_keyboard == [["📍 Share the location"], ["📋 Pick the area"]]
    await lan.tap("📍 Share the location", location=HOAN_KIEM)
    assert (await lan.next_message()).text == "✅ Location: Hoan Kiem Ward"
    card = await lan.next_message()
    assert card.photo is None
    assert card.text.startswith("Your report: please check it")
    assert "Category: Traffic and roads" in card.text and DESCRIPTION in card.text
    assert "Photos: none" in card.text and "Hoan Kiem Ward" in card.text
    answer = await tap(lan, "✅ Submit", message=card)
    assert answer.text == "Sent ✓"
    done = await lan.next_message()
    assert done.text.startswith("✅ Thank you! Your report has been received.")
    [report] = await report_rows(db)
    assert f"Reference code: {report.code}" in done.text
    assert codes.parse(report.code) == report.code
    assert f"Expected to be handled by: {formats.day(report.due_at, 'en', bot.bot_data['settings'].tz)}\n" in done.text
    assert re.search(r"handled by: \d{1,2} [A-Z][a-z]{2} 20\d\d\n", done.text)  # 21 Dec 2026, as English has it
    resident = await resident_of(db, lan)
    assert (report.resident_id, report.category_code, report.state) == (resident.id, "roads", "submitted")
    assert (report.area_code, report.description, report.reporter_name) == ("00070", DESCRIPTION, "Lan @lan")
    assert report.latitude == HOAN_KIEM[0] and report.address_text is None
    assert 13 <= (report.due_at - report.created_at).days <= 16  # 10 working days
    assert card.buttons == []
    async with db.read() as session:
        events = (await session.execute(select(ReportEvent))).scalars().all()
        assert [(e.report_id, e.state) for e in events] == [(report.id, "submitted")]
        assert (await session.execute(select(ReportDraft))).all() == []
    assert resident.awaiting is None


async def test_photos_one_by_one_and_the_area_picked_from_the_list(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send_photo()
    saved = await lan.next_message()
    assert saved.text.startswith("📷 Photo saved (1 of 5).")
    await lan.send_photo()
    assert (await lan.next_message()).text.startswith("📷 Photo saved (2 of 5).")
    await tap(lan, "Done ✓")
    await lan.next_message()
    await lan.tap("📋 Pick the area")
    picker = await lan.next_message()
    assert picker.text.startswith("Where is the problem? Choose the ward or commune in Hanoi City:")
    await tap(lan, "‹ Back", message=picker)
    await lan.wait_for(lambda: picker.text.startswith("Where is the problem? Choose the province or city:"))
    await tap(lan, "Next ›", message=picker)
    await lan.wait_for(lambda: "(page 2 of" in picker.text)
    await tap(lan, "Hanoi", message=picker)
    await lan.wait_for(lambda: "in Hanoi City" in picker.text)
    ward = picker.buttons[0][0]
    await tap(lan, ward, message=picker)
    assert (await lan.next_message()).text.startswith("✅ Location: ")
    card = await lan.next_message()
    assert card.photo is not None and "Photos: 2" in card.caption
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    [report] = await report_rows(db)
    assert report.area_code is not None and report.latitude is None
    async with db.read() as session:
        photos = (await session.execute(select(ReportPhoto).order_by(ReportPhoto.position))).scalars().all()
    assert [p.position for p in photos] == [0, 1]
    assert photos[0].telegram_file_id == card.photo
    assert all(p.sha256 and p.width for p in photos)


async def test_an_album_of_three_gets_one_answer_and_the_review_shows_the_first_photo(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    sent = await lan.send_album([None, None, None])
    ack = await lan.next_message()
    assert ack.text.startswith("📷 Photos saved (1 of 5).")
    await tap(lan, "Done ✓", message=ack)
    where = await lan.next_message()
    assert where.text.startswith("Where is the problem?")
    assert len(lan.messages) == len([m for m in lan.messages])  # no message was deleted
    bot_messages_after_album = [m for m in lan.all_messages if m.message_id > ack.message_id]
    assert bot_messages_after_album == [where]
    await lan.share_location(*LONG_BIEN)
    await lan.next_message()
    card = await lan.next_message()
    assert "Photos: 3" in card.caption
    assert card.photo_sizes[-1]["file_unique_id"] == sent[0].message.photo[-1].file_unique_id
    async with db.read() as session:
        draft = (await session.execute(select(ReportDraft))).scalar_one()
    assert [p["file_unique_id"] for p in draft.photos] == [m.message.photo[-1].file_unique_id for m in sent]


async def test_more_than_five_photos_keeps_five_and_says_so_once_per_album(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send_album([None, None, None, None])
    assert (await lan.next_message()).text.startswith("📷 Photos saved")
    await lan.send_album([None, None, None])
    assert (await lan.next_message()).text.startswith("📷 Photos saved")
    refusal = await lan.next_message()
    assert refusal.text.startswith("A report can have at most 5 photos, so the extra photos were not added.")
    await lan.send_photo()
    assert (await lan.next_message()).text.startswith("A report can have at most 5 photos, so this one was not")
    async with db.read() as session:
        draft = (await session.execute(select(ReportDraft))).scalar_one()
    assert len(draft.photos) == 5 and draft.step == "photos"


async def test_every_field_can_be_changed_on_the_review_card(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    card = await review_card(lan, photos=1)
    await tap(lan, "✏️ Category", message=card)
    await lan.next_message()
    await tap(lan, "Environment and sanitation")
    card = await lan.next_message()
    assert "Category: Environment and sanitation" in card.caption
    await tap(lan, "✏️ Description", message=card)
    await lan.next_message()
    await lan.send("Garbage has piled up <b>on</b> the corner of the market for three days.")
    card = await lan.next_message()
    assert "Garbage has piled up <b>on</b> the corner" in card.caption
    assert "&lt;b&gt;on&lt;/b&gt;" in card.html
    await tap(lan, "✏️ Photos", message=card)
    photos = await lan.next_message()
    assert photos.text.startswith("Photos: 1 of 5.")
    await tap(lan, "Remove the photos", message=photos)
    await lan.wait_for(lambda: photos.text.startswith("Add photos of the problem"))
    await tap(lan, "No photo", message=photos)
    card = await lan.next_message()
    assert card.photo is None and "Photos: none" in card.text
    await tap(lan, "✏️ Location", message=card)
    await lan.next_message()
    # A landmark names no ward (Long Biên market is not in Long Biên ward): the ward is asked for.
    await lan.send("Cổng chợ Long Biên, near the flower stalls")
    assert (await lan.next_message()).text.startswith("Loa could not find the ward in the address.")
    await lan.share_location(*LONG_BIEN)
    assert (await lan.next_message()).text == (
        "✅ Location: Cổng chợ Long Biên, near the flower stalls, Long Bien Ward")
    card = await lan.next_message()
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    [report] = await report_rows(db)
    assert report.category_code == "sanitation"
    assert report.description.startswith("Garbage has piled up <b>on</b>")
    assert (report.address_text, report.area_code, report.latitude) == (
        "Cổng chợ Long Biên, near the flower stalls", "00145", LONG_BIEN[0])
    async with db.read() as session:
        assert (await session.execute(select(ReportPhoto))).all() == []


async def to_location(lan):
    await to_photos(lan)
    await tap(lan, "No photo")
    return await lan.next_message()


async def test_a_typed_address_finds_its_ward_and_the_resident_may_change_it(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_location(lan)
    await lan.send("25 NGUYEN VAN CU, long bien")  # the bot's own example, typed without accents
    located = await lan.next_message()
    assert located.text == ("✅ Location: 25 NGUYEN VAN CU, long bien\n"
                            "Ward: Long Bien Ward, Hanoi City. Not this one? Tap “✏️ Ward” below.")
    card = await lan.next_message()
    assert "Location: Long Bien Ward, 25 NGUYEN VAN CU, long bien" in card.text
    assert card.buttons[1] == ["✏️ Photos", "✏️ Location", "✏️ Ward"]
    await tap(lan, "✏️ Ward", message=card)
    question = await lan.next_message()
    assert question.text.startswith("Which ward or commune is “25 NGUYEN VAN CU, long bien” in? Choose it below")
    # The card left behind has neither buttons nor the words that point to them.
    await lan.wait_for(lambda: card.buttons == [])
    assert card.text.startswith("Your report: please check it") and "Tap a button" not in card.text
    assert ["Ba Dinh", "Bach Mai"] in question.buttons or any("Ba Dinh" in row for row in question.buttons)
    await tap(lan, "Ba Dinh", message=question)
    assert (await lan.next_message()).text == "✅ Location: 25 NGUYEN VAN CU, long bien, Ba Dinh Ward"
    card = await lan.next_message()
    assert "Location: Ba Dinh Ward, 25 NGUYEN VAN CU, long bien" in card.text
    await tap(lan, "✅ Submit", message=card)
    assert (await lan.next_message()).text.startswith("✅ Thank you!")
    await lan.wait_for(lambda: card.buttons == [])
    assert "Tap a button" not in card.text and "Location: Ba Dinh Ward" in card.text
    [report] = await report_rows(db)
    assert (report.address_text, report.area_code, report.latitude) == ("25 NGUYEN VAN CU, long bien", "00004", None)


async def test_an_address_without_a_ward_is_asked_for_its_ward_before_the_review(bot, emulator, db):
    lan = await onboarded(emulator, "vi")
    await lan.send("/report")
    await lan.next_message()
    await tap(lan, "Giao thông, đường sá")
    await lan.next_message()
    await lan.send("Ổ gà rất sâu trước số nhà 15, gần trạm xe buýt, từ tuần trước.")
    await lan.next_message()
    await tap(lan, "Không có ảnh")
    await lan.next_message()
    await lan.send("15 Hàng Bài <b>")
    question = await lan.next_message()
    assert question.text.startswith("Loa không tìm thấy phường, xã trong địa chỉ.")
    assert "“15 Hàng Bài <b>”" in question.text and "&lt;b&gt;" in question.html
    assert question.buttons[-1] == ["‹ Quay lại"] and "(trang 1/" in question.text  # Hà Nội's wards
    async with db.read() as session:
        draft = (await session.execute(select(ReportDraft))).scalar_one()
    assert (draft.step, draft.address_text, draft.area_code) == ("location", "15 Hàng Bài <b>", None)
    # Coming back to the report asks again; nothing typed is lost.
    await lan.send("/report")
    assert (await lan.next_message()).text.startswith("Bạn đang viết dở một phản ánh")
    assert (await lan.next_message()).text.startswith("“15 Hàng Bài <b>” thuộc phường, xã nào?")
    # Typing the ward's name answers the question and keeps the address.
    await lan.send("phuong cua nam")
    assert (await lan.next_message()).text == "✅ Vị trí: 15 Hàng Bài <b>, Phường Cửa Nam"
    card = await lan.next_message()
    await tap(lan, "✅ Gửi", message=card)
    await lan.next_message()
    [report] = await report_rows(db)
    assert (report.address_text, report.area_code) == ("15 Hàng Bài <b>", "00082")


async def test_a_restart_in_the_middle_of_a_report_loses_nothing(application, emulator, db, settings):
    async with running(application, emulator):
        lan = await onboarded(emulator, "vi")
        await lan.send("/report")
        await lan.next_message()
        await tap(lan, "Giao thông, đường sá")
        await lan.next_message()
        await lan.send("Ổ gà rất sâu trước số nhà 25, gần trạm xe buýt, từ tuần trước.")
        await lan.next_message()
        await lan.send_photo()
        await lan.next_message()
    # A new bot on the same database: the resident carries on.
    async with running(build_application(settings, db), emulator):
        await lan.send_photo()
        assert (await lan.next_message()).text.startswith("📷 Đã lưu ảnh (2/5).")
        await tap(lan, "Xong ✓")
        assert (await lan.next_message()).text.startswith("Vấn đề ở đâu?")
        await lan.send("/report")
        resumed = await lan.next_message()
        assert resumed.text.startswith("Bạn đang viết dở một phản ánh")
        await lan.next_message()
        await lan.share_location(*LONG_BIEN)
        await lan.next_message()
        card = await lan.next_message()
        await tap(lan, "✅ Gửi", message=card)
        await lan.next_message()
    [report] = await report_rows(db)
    assert report.description.startswith("Ổ gà rất sâu") and report.category_code == "roads"
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ReportPhoto))).scalar_one() == 2


async def test_a_double_tap_on_submit_files_one_report(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    card = await review_card(lan)
    first = await lan.tap("✅ Submit", message=card)
    second = await lan.tap("✅ Submit", message=card)
    assert (await first.answer()).text == "Sent ✓"
    late = await second.answer()
    assert late.text.startswith("This report has already been sent or cancelled.")
    assert (await lan.next_message()).text.startswith("✅ Thank you!")
    assert len(await report_rows(db)) == 1


async def test_cancel_at_any_step_throws_the_draft_away(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send("/cancel")
    assert (await lan.next_message()).text == "The report was cancelled; nothing was sent."
    async with db.read() as session:
        assert (await session.execute(select(ReportDraft))).all() == []
    await lan.send("This is not part of any report now")
    assert (await lan.next_message()).text.startswith("I didn't understand that.")
    await start_report(lan)
    await lan.send("/cancel")
    assert (await lan.next_message()).text == "The report was cancelled; nothing was sent."
    assert await report_rows(db) == []


async def test_bad_input_at_every_step_gets_a_specific_answer_and_keeps_what_was_entered(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    choose = await start_report(lan)
    # category
    await lan.send("pothole")
    assert (await lan.next_message()).text == (
        "That is not what Loa is asking for now. Please choose a category with the buttons above.")
    await lan.send_sticker()
    assert (await lan.next_message()).text.startswith("Stickers cannot go into a report.")
    await tap(lan, "Traffic and roads", message=choose)
    await lan.next_message()
    # description
    await lan.send("hole")
    assert (await lan.next_message()).text.startswith("That is too short (4 characters).")
    await lan.send("x" * 2001)
    assert (await lan.next_message()).text.startswith("That is too long: 2001 characters")
    for junk in ("aaaaaaaaaaaaaaaa", "!!!!!!!!!!!!!!!!!!", "1234567890123", "asdfghjklasdfgh"):
        await lan.send(junk)
        assert (await lan.next_message()).text.startswith("That does not look like a description."), junk
    await lan.send_voice()
    assert (await lan.next_message()).text.startswith("Loa cannot take voice messages")
    await lan.share_location(*LONG_BIEN)
    assert (await lan.next_message()).text.startswith("The location comes a little later")
    await lan.send(DESCRIPTION)
    await lan.next_message()
    # photos
    await lan.send_video()
    assert (await lan.next_message()).text.startswith("Loa cannot take videos, only photos.")
    await lan.send_document()
    assert (await lan.next_message()).text.startswith("This file is not a photo. Only photos can be added")
    await lan.send_document(b"not really a png", "fake.png", "image/png")
    assert (await lan.next_message()).text.startswith("This file is not a photo Loa can read.")
    await lan.send_photo()
    assert (await lan.next_message()).text.startswith("📷 Photo saved (1 of 5).")
    bot.bot_data["settings"] = bot.bot_data["settings"].model_copy(update={"max_photo_bytes": 2000})
    await lan.send_photo()
    assert (await lan.next_message()).text == (
        "This photo is too large: the limit is 0.00 MB. Please send a smaller one.")
    await lan.send("done")
    assert (await lan.next_message()).text.endswith("Send a photo, or tap “Done” (or “No photo”) above.")
    await tap(lan, "Done ✓")
    await lan.next_message()
    # location
    await lan.share_location(*SAIGON)
    assert (await lan.next_message()).text.startswith("This location is outside every area Loa serves.")
    await lan.send("ab")
    assert (await lan.next_message()).text.startswith("That is too short for an address.")
    await lan.send("y" * 201)
    assert (await lan.next_message()).text.startswith("That is too long for an address")
    await lan.send_photo()
    assert (await lan.next_message()).text.startswith("Photos come a little later")
    await lan.share_location(*LONG_BIEN)
    await lan.next_message()
    card = await lan.next_message()
    # review
    await lan.send_sticker()
    assert (await lan.next_message()).text.endswith("Check the report above and tap “Submit”, or a button to "
                                                    "change something.")
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    [report] = await report_rows(db)
    assert (report.description, report.area_code) == (DESCRIPTION, "00145")
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ReportPhoto))).scalar_one() == 1


async def test_bad_input_is_answered_in_vietnamese(bot, emulator, db):
    lan = await onboarded(emulator, "vi")
    await lan.send("/report")
    await lan.next_message()
    await tap(lan, "Khác")
    await lan.next_message()
    await lan.send("ngắn")
    assert (await lan.next_message()).text.startswith("Nội dung quá ngắn (4 ký tự).")
    await lan.send_video()
    assert (await lan.next_message()).text.startswith("Loa không nhận video, chỉ nhận ảnh.")


async def _insert_reports(db, resident_id: int, ages: list[timedelta], **fields) -> list[Report]:
    """Reports filed `ages` ago, counted for the hourly limit as the bot counts them."""
    now = utcnow()
    rows = []
    async with db.transaction() as session:
        resident = await session.get(Resident, resident_id)
        name = await abuse.pseudonym(session, None, resident.telegram_id)
        for age in ages:
            session.add(ReportQuota(pseudonym=name, at=now - age))
        for index, age in enumerate(ages):
            report = Report(code=codes.new_code(), resident_id=resident_id, category_code="roads",
                            description=f"Report number {index}", created_at=now - age, updated_at=now - age,
                            due_at=now + timedelta(days=14), **fields)
            session.add(report)
            rows.append(report)
        await session.flush()
        for report in rows:
            session.add(ReportEvent(report_id=report.id, at=report.created_at, state="submitted"))
    return rows


async def test_the_hourly_limit_says_when_the_resident_can_report_again(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    resident = await resident_of(db, lan)
    minutes = [5, 10, 20, 30, 50]
    await _insert_reports(db, resident.id, [timedelta(minutes=m) for m in minutes] + [timedelta(hours=2)])
    oldest = (await report_rows(db, description="Report number 4"))[0]
    refusal = await start_report(lan)
    tz = bot.bot_data["settings"].tz
    again = formats.moment(oldest.created_at + timedelta(hours=1), "en", tz)  # 7 Dec 2026, 18:25
    assert refusal.text.startswith("You have sent 5 reports in the last hour, the most Loa accepts. "
                                   f"You can report again from {again}.")
    async with db.read() as session:
        assert (await session.execute(select(ReportDraft))).all() == []
    # Another resident is not limited; and the limit is a setting.
    bot.bot_data["settings"] = bot.bot_data["settings"].model_copy(update={"reports_per_hour": 6})
    assert (await start_report(lan)).text.startswith("What is the problem about?")


async def test_the_limit_also_holds_at_submit(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    resident = await resident_of(db, lan)
    await to_photos(lan)
    card = await review_card(lan)
    await _insert_reports(db, resident.id, [timedelta(minutes=1)] * 5)
    answer = await tap(lan, "✅ Submit", message=card)
    assert answer.text == "Not sent yet: too many reports in the last hour."
    assert (await lan.next_message()).text.startswith("You have sent 5 reports in the last hour")
    assert len(await report_rows(db)) == 5
    async with db.read() as session:
        assert (await session.execute(select(ReportDraft))).scalar_one().step == "review"


async def test_a_banned_resident_is_refused_politely(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    async with db.transaction() as session:
        await bans.ban(session, None, lan.id, gettext=lambda language: (lambda text: text))
    assert (await start_report(lan)).text.startswith("Sorry, you can no longer send reports through Loa.")
    assert await report_rows(db) == []


async def test_the_menu_button_starts_a_report(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await lan.send("/start")
    menu = await lan.next_message()
    await tap(lan, "📝 Report a problem", message=menu)
    assert (await lan.next_message()).text.startswith("What is the problem about?")
    assert "/report" in {c["command"] for c in lan.commands()} or lan.commands() == []


async def test_myreports_pages_newest_first_and_status_shows_the_history(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await lan.send("/myreports")
    assert (await lan.next_message()).text == "You have not reported any problem yet. To report one, send /report."
    resident = await resident_of(db, lan)
    rows = await _insert_reports(db, resident.id, [timedelta(days=d) for d in range(7)])
    await lan.send("/myreports")
    page = await lan.next_message()
    assert page.text.startswith("Your reports, newest first:")
    assert "(page 1 of 2)" in page.text
    assert page.buttons[0] == [r.code for r in rows[:3]] and page.buttons[1] == [r.code for r in rows[3:5]]
    assert page.text.index(rows[0].code) < page.text.index(rows[4].code)
    assert "Traffic and roads: Received" in page.text
    await tap(lan, "Older ›", message=page)
    await lan.wait_for(lambda: "(page 2 of 2)" in page.text)
    assert page.buttons[0] == [rows[5].code, rows[6].code] and rows[0].code not in page.text
    await tap(lan, "‹ Newer", message=page)
    await lan.wait_for(lambda: "(page 1 of 2)" in page.text)
    await tap(lan, rows[2].code, message=page)
    details = await lan.next_message()
    assert details.text.startswith(f"{rows[2].code}: Received")
    assert "Report number 2" in details.text and "History" in details.text
    await lan.send(f"/status {rows[6].code.lower()}")
    details = await lan.next_message()
    assert details.text.startswith(f"{rows[6].code}: Received") and "Report number 6" in details.text


async def test_status_of_someone_elses_code_gets_the_same_answer_as_a_missing_one(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    minh = emulator.user(first_name="Minh", language_code="en")
    await minh.send("/start")
    await minh.next_message()
    resident = await resident_of(db, lan)
    [theirs] = await _insert_reports(db, resident.id, [timedelta(minutes=3)])
    missing = "PA-22222" if theirs.code != "PA-22222" else "PA-33333"
    await minh.send(f"/status {theirs.code}")
    other = await minh.next_message()
    await minh.send(f"/status {missing}")
    none = await minh.next_message()
    assert other.text == none.text.replace(missing, theirs.code)
    assert other.text.startswith(f"No report of yours has the code {theirs.code}.")
    assert "Report number" not in other.text
    await minh.send("/status <b>x</b>")
    assert (await minh.next_message()).text.startswith("No report of yours has the code <b>x</b>.")
    await minh.send("/status")
    assert (await minh.next_message()).text.startswith("Send /status followed by the reference code")


def jpeg_with_gps(lat: float, lon: float) -> bytes:
    image = Image.open(io.BytesIO(sample_jpeg(800, 600, seed=5)))
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"  # Make
    exif[0x9286] = b"ASCII\0\0\0owner: Lan, 0912345678"  # UserComment (in the Exif IFD, kept simple here)
    gps = exif.get_ifd(0x8825)

    def dms(value: float):
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
        return (degrees, minutes, seconds)

    gps.update({1: "N", 2: dms(lat), 3: "E", 4: dms(lon)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"taken at home")
    return out.getvalue()


async def test_metadata_is_gone_from_stored_photos_and_a_photo_location_is_only_offered(bot, emulator, db, settings):
    original = jpeg_with_gps(*LONG_BIEN)
    with Image.open(io.BytesIO(original)) as check:
        assert check.getexif().get_ifd(0x8825) and b"SecretPhone" in original
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send_document(original, "IMG_0042.jpg", "image/jpeg")
    assert (await lan.next_message()).text.startswith("📷 Photo saved (1 of 5).")
    await tap(lan, "Done ✓")
    where = await lan.next_message()
    assert where.text.startswith("Where is the problem?")
    offer = await lan.next_message()
    assert offer.text.startswith("A photo you sent says where it was taken. Loa does not use that on its own")
    async with db.read() as session:
        draft = (await session.execute(select(ReportDraft))).scalar_one()
    assert draft.latitude is None and draft.area_code is None  # not used without asking
    await tap(lan, "📷 Use the photo's location", message=offer)
    assert (await lan.next_message()).text == "✅ Location: Long Bien Ward"
    card = await lan.next_message()
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    async with db.read() as session:
        photo = (await session.execute(select(ReportPhoto))).scalar_one()
    stored = settings.media_dir / photo.sha256[:2] / f"{photo.sha256}.jpg"
    data = stored.read_bytes()
    assert hashlib.sha256(data).hexdigest() == photo.sha256
    with Image.open(io.BytesIO(data)) as clean:
        assert clean.format == "JPEG" and clean.size == (800, 600)
        assert dict(clean.getexif()) == {} and "exif" not in clean.info and "comment" not in clean.info
    assert b"SecretPhone" not in data and b"Exif" not in data and b"taken at home" not in data
    [report] = await report_rows(db)
    assert report.area_code == "00145"


async def test_forget_keeps_the_reports_as_anonymous_records(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    card = await review_card(lan)
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    await start_report(lan)  # a draft under way
    await lan.send("/forget")
    confirm = await lan.next_message()
    await tap(lan, "Yes, delete my data", message=confirm)
    await lan.wait_for(lambda: confirm.text.startswith("Your data has been deleted."))
    [report] = await report_rows(db)
    assert (report.resident_id, report.reporter_name) == (None, None)
    assert report.description == DESCRIPTION
    async with db.read() as session:
        assert (await session.execute(select(ReportDraft))).all() == []
        assert (await session.execute(select(ReportEvent))).scalar_one().report_id == report.id
    assert await resident_of(db, lan) is None
