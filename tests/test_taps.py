"""Every button tapped twice, as a resident with an unsteady thumb or a slow connection does:
both callback queries carry the message as it was before either was handled. The second tap
changes nothing, and no edit that would change nothing reaches Telegram (it answers those with
"message is not modified", which the emulator records as an error)."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import Alert, Delivery, Report, ReportEvent
from tests.fixtures.broadcasts import broadcaster, resident_in
from tests.fixtures.city import TRANSPORT
from tests.fixtures.rating import resolved_report
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import onboarded, stored, until
from tests.fixtures.triage import file_report, settings, staff  # noqa: F401 (fixtures)


async def twice(user, text: str, message=None, *, group=None):
    """`user` taps the button labelled `text` twice before the bot has handled the first tap
    (in `group`, if given); both answers."""
    if group is not None:
        first = await group.tap(user, text, message=message)
        second = await group.tap(user, text, message=message)
    else:
        first = await user.tap(text, message=message)
        second = await user.tap(text, message=message)
    return await first.answer(), await second.answer()


def edits_that_change_nothing(emulator) -> list:
    return [error for error in emulator.errors if "not modified" in error.description.lower()]


def texts(user) -> list[str]:
    return [message.text or message.caption or "" for message in user.all_messages]


async def count(db, model) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_onboarding_and_settings_buttons_tapped_twice(bot, emulator, db):
    lan = emulator.user(first_name="Lan", language_code="vi")
    await lan.send("/start")
    welcome = await lan.next_message()
    await twice(lan, "Tiếng Việt ✓", welcome)
    await until(lan, welcome, "Ngôn ngữ: Tiếng Việt")
    area_prompt = await lan.next_message()
    assert area_prompt.text.startswith("Bạn sống ở phường, xã nào?")
    # The area from the list: a page further, a province, a ward, each twice.
    await lan.tap("📋 Chọn từ danh sách")
    provinces = await lan.next_message()
    await twice(lan, "Trang sau ›", provinces)
    await lan.wait_for(lambda: "(trang 2/" in provinces.text)
    await twice(lan, "‹ Trang trước", provinces)
    await lan.wait_for(lambda: "(trang 1/" in provinces.text)
    await lan.tap("Trang sau ›", message=provinces)
    await lan.wait_for(lambda: "(trang 2/" in provinces.text)
    await twice(lan, "Hà Nội", provinces)
    await lan.wait_for(lambda: "Ba Đình" in str(provinces.buttons))
    await twice(lan, "Ba Đình", provinces)
    assert (await lan.next_message()).text == "✅ Khu vực của bạn: Phường Ba Đình"
    topics_prompt = await lan.next_message()
    assert topics_prompt.text.startswith("Bạn muốn nhận những cảnh báo nào?")
    await twice(lan, "Xong ✓", topics_prompt)
    await until(lan, topics_prompt, "Giờ yên lặng:")
    await twice(lan, "Giữ 22:00–06:00", topics_prompt)
    await until(lan, topics_prompt, "Hoàn tất!")

    # Settings later: quiet hours changed, each step tapped twice; the language chosen again twice.
    await lan.send("/quiet")
    quiet = await lan.next_message()
    await twice(lan, "Chọn giờ khác", quiet)
    await until(lan, quiet, "Giờ yên lặng bắt đầu lúc:")
    await twice(lan, "23:00", quiet)
    await until(lan, quiet, "Giờ yên lặng từ 23:00 kết thúc lúc:")
    await twice(lan, "07:00", quiet)
    await until(lan, quiet, "Đã lưu.")
    await lan.send("/quiet")
    quiet = await lan.next_message()
    await twice(lan, "Giữ 23:00–07:00", quiet)
    await until(lan, quiet, "Đã lưu.")
    await lan.send("/language")
    language = await lan.next_message()
    await twice(lan, "Tiếng Việt ✓", language)
    await until(lan, language, "Ngôn ngữ: Tiếng Việt")
    await lan.send("/forget")
    forget = await lan.next_message()
    await twice(lan, forget.buttons[-1][-1], forget)
    await lan.wait_for(lambda: forget.buttons == [])
    await lan.send("/help")
    await lan.next_message()

    resident, _chosen = await stored(db, lan)
    assert (resident.onboarded, resident.area_code, resident.quiet_start_minute) == (True, "00004", 23 * 60)
    sent = texts(lan)
    assert sum(t.startswith("Bạn sống ở phường, xã nào?") for t in sent) == 1, sent
    assert sum(t.startswith("✅ Khu vực của bạn") for t in sent) == 1, sent
    assert edits_that_change_nothing(emulator) == []


async def test_report_wizard_and_my_reports_buttons_tapped_twice(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    summary = lan.last_message
    await twice(lan, "📝 Report a problem", summary)
    categories = await lan.next_message()
    await twice(lan, categories.buttons[0][0], categories)
    await lan.wait_for(lambda: categories.buttons == [])
    await lan.send("A deep pothole in front of number 25, near the bus stop, since last week.")
    photos = await lan.wait_for(lambda: next((m for m in lan.messages if "No photo" in str(m.buttons)), None))
    await twice(lan, "No photo", photos)
    await lan.wait_for(lambda: photos.buttons == [])
    await lan.wait_for(lambda: lan.last_message.text.startswith("Where is the problem?"))
    await lan.send("25 Nguyễn Văn Cừ, Long Biên")
    review = await lan.wait_for(lambda: next((m for m in lan.messages if "✅ Submit" in str(m.buttons)), None))
    # Another ward for the typed address, and the ward from the list: each tapped twice.
    await twice(lan, "✏️ Ward", review)
    await lan.wait_for(lambda: review.buttons == [])
    question = await lan.wait_for(
        lambda: next((m for m in lan.messages if m.text.startswith("Which ward or commune is")), None))
    await twice(lan, "Bo De", question)
    review = await lan.wait_for(lambda: next((m for m in lan.messages if "✅ Submit" in str(m.buttons)), None))
    assert "Bo De Ward" in review.text
    await twice(lan, "✅ Submit", review)
    await lan.wait_for(lambda: any(t.startswith("✅ Thank you!") for t in texts(lan)))
    [report] = await report_rows(db)

    await lan.send("/myreports")
    mine = await lan.next_message()
    await twice(lan, mine.buttons[0][0], mine)
    await lan.wait_for(lambda: report.code in lan.last_message.text and lan.last_message != mine)
    await lan.send("/help")
    await lan.next_message()
    sent = texts(lan)
    assert sum(t.startswith("✅ Thank you!") for t in sent) == 1, sent
    assert sum(t.startswith("Describe the problem") for t in sent) == 1, sent
    assert sum(t.startswith("Where is the problem?") for t in sent) == 1, sent
    assert sum(t.startswith("Which ward or commune is") for t in sent) == 1, sent
    assert sum(t.startswith("✅ Location") for t in sent) == 2, sent
    assert await count(db, Report) == 1
    assert report.area_code == "00118"
    assert edits_that_change_nothing(emulator) == []


async def test_rating_buttons_tapped_twice(bot, emulator, db):
    lan, report, message = await resolved_report(bot, emulator, db)
    await twice(lan, "😞 Not satisfied", message)
    question = await lan.next_message()
    await twice(lan, "Reopen", question)
    await lan.wait_for(lambda: question.buttons == [])
    async with db.read() as session:
        stored_report = await session.get(Report, report.id)
    assert stored_report.state == "reopened"
    assert edits_that_change_nothing(emulator) == []


async def test_staff_card_buttons_tapped_twice(bot, emulator, db, staff):  # noqa: F811 (the fixture)
    lan = await onboarded_in(emulator)
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    await twice(staff.mai, "🔴 Mark urgent", card, group=staff.mods)
    await staff.mods.wait_for(lambda: ["⚪ Mark normal"] in card.buttons)
    await twice(staff.mai, "🏢 Other agency…", card, group=staff.mods)
    await staff.mods.wait_for(lambda: ["« Back"] in card.buttons)
    await twice(staff.mai, "« Back", card, group=staff.mods)
    await staff.mods.wait_for(lambda: ["« Back"] not in card.buttons)
    await twice(staff.mai, f"🏢 Assign: {TRANSPORT}", card, group=staff.mods)
    work = await staff.transport.next_message()
    await twice(staff.hung, "▶️ In progress", work, group=staff.transport)
    await staff.transport.wait_for(lambda: "Being handled" in (work.text or work.caption))
    [report] = await report_rows(db)
    assert (report.state, report.priority, report.agency_code) == ("in_progress", "urgent", "hn-so-gtvt")
    async with db.read() as session:
        actions = [event.action for event in (await session.execute(
            select(ReportEvent).where(ReportEvent.report_id == report.id))).scalars()]
    assert sorted(actions) == ["assign", "priority", "start", "submit"]
    assert edits_that_change_nothing(emulator) == []


async def onboarded_in(emulator):
    return await onboarded(emulator, "en")


async def test_broadcast_wizard_buttons_tapped_twice(bot, emulator, db):
    reached = await resident_in(db, emulator, "00145", name="LB")
    boss = await broadcaster(db, emulator)
    await boss.send("/broadcast")
    topics_message = await boss.next_message()
    await twice(boss, "Weather and disasters", topics_message)
    areas_message = await boss.next_message()
    await boss.send("Long Biên")
    picker = await boss.next_message()
    await twice(boss, "Done ✓", picker)
    severity = await boss.wait_for(lambda: boss.last_message.text.startswith("Step 3") and boss.last_message)
    await twice(boss, "🟠 Severe", severity)
    await boss.wait_for(lambda: boss.last_message.text.startswith("Step 4"))
    await boss.send("Mưa lớn từ 14 giờ chiều nay, đề phòng ngập úng.")
    english = await boss.wait_for(lambda: boss.last_message.text.startswith("Step 5") and boss.last_message)
    await twice(boss, "Skip ›", english)
    photo = await boss.wait_for(lambda: boss.last_message.text.startswith("Step 6") and boss.last_message)
    await twice(boss, "No photo ›", photo)
    controls = await boss.wait_for(
        lambda: boss.last_message.text.startswith("This is the alert as residents will see it.") and boss.last_message)
    await twice(boss, "📣 Send now", controls)
    await reached.wait_for(lambda: any("Mưa lớn" in t for t in texts(reached)), timeout=15)
    report = await boss.wait_for(lambda: boss.last_message.text.startswith("✅") and boss.last_message, timeout=15)
    assert "Sent: 1" in report.text
    sent = texts(boss)
    for step in ("Step 2", "Step 3", "Step 4", "Step 5", "Step 6"):
        assert sum(t.startswith(step) for t in sent) == 1, (step, sent)
    assert sum("Mưa lớn" in t for t in texts(reached)) == 1
    assert (await count(db, Alert), await count(db, Delivery)) == (1, 1)
    assert areas_message.text.startswith("Step 2")
    assert edits_that_change_nothing(emulator) == []


HUGE = "9" * 40  # no id: larger than any integer column


async def test_forged_buttons_with_absurd_ids_are_answered_and_change_nothing(bot, emulator, db):
    """Callback data no button carries, with ids no column can hold: each press is answered like
    an old button, and no handler fails."""
    lan = await onboarded(emulator, "en")
    boss = await broadcaster(db, emulator)
    await boss.send("/help")
    help_message = await boss.next_message()
    summary = lan.last_message
    for user, message, data in ((lan, summary, f"mr:{HUGE}"), (lan, summary, f"rt:{HUGE}:satisfied"),
                                (lan, summary, f"rs:{HUGE}"), (lan, summary, f"rl:00145:{HUGE}"),
                                (lan, summary, f"ap:-:{HUGE}"), (lan, summary, f"tr:{HUGE}:1:st"),
                                (boss, help_message, f"bs:{HUGE}"), (boss, help_message, f"bc:{HUGE}:send")):
        await (await user.tap_data(data, message)).answer()  # a failing handler leaves it unanswered
    assert await count(db, Report) == 0 and await count(db, Alert) == 0
