"""The broadcaster's wizard end to end: /broadcast in Telegram → residents in the target areas
receive the alert; progress, cancel, corrections and cancellations; refusals and bad input."""

from __future__ import annotations

from sqlalchemy import func, select

from storage import roles
from storage.models import Alert, Delivery
from tests.fixtures.broadcasts import (
    HOAN_KIEM,
    LONG_BIEN,
    TEXT,
    broadcaster,
    eventually,
    quiet_now,
    resident_in,
    walk_to_preview,
)
from tests.fixtures.residents import tap


async def only_alert(db) -> Alert:
    async with db.read() as session:
        return (await session.execute(select(Alert).order_by(Alert.id))).scalars().first()


async def test_a_broadcaster_reaches_the_residents_of_the_area_and_gets_a_final_report(bot, emulator, db):
    reached = [await resident_in(db, emulator, LONG_BIEN, name=f"LB{n}") for n in range(2)]
    english = await resident_in(db, emulator, LONG_BIEN, language="en", name="John")
    elsewhere = await resident_in(db, emulator, HOAN_KIEM, name="HK")
    not_following = await resident_in(db, emulator, LONG_BIEN, topics=("traffic",), name="Traffic")
    boss = await broadcaster(db, emulator)

    shown, controls = await walk_to_preview(boss, english="Heavy rain from 2 pm <b>today</b>.")
    assert shown[0].text.startswith("🟠 NGHIÊM TRỌNG · Thời tiết và thiên tai")
    assert TEXT in shown[0].text  # escaped for HTML, shown as typed
    assert "Heavy rain from 2 pm <b>today</b>." in shown[1].text
    assert "Recipients now: 3" in controls.text

    await tap(boss, "📣 Send now", message=controls)
    for user in reached:
        message = await user.next_message()
        assert TEXT in message.text and message.text.startswith("🟠")
    assert "Heavy rain from 2 pm <b>today</b>." in (await english.next_message()).text
    report = await boss.next_message()
    await boss.wait_for(lambda: report.text.startswith("✅"), timeout=15)
    assert "Recipients: 3" in report.text and "Sent: 3" in report.text and "Failed: 0" in report.text
    assert report.buttons == [["✏️ Correct", "🚫 Cancel alert"]]
    assert elsewhere.last_message.text.startswith("Xin chào")  # only the welcome of /start
    assert not_following.last_message.text.startswith("Xin chào")
    async def unfollowed():
        alert = await only_alert(db)
        return alert if alert.wizard_step is None else None

    alert = await eventually(unfollowed)
    assert (alert.status, alert.source, alert.progress_message_id) == ("done", "bot", report.message_id)


async def test_cancel_mid_send_stops_what_waits_and_the_report_has_exact_counts(bot, emulator, db, settings):
    received = [await resident_in(db, emulator, LONG_BIEN, name=f"Day{n}") for n in range(2)]
    gone = await resident_in(db, emulator, LONG_BIEN, name="Gone")
    sleeping = [await resident_in(db, emulator, LONG_BIEN, quiet=quiet_now(settings.tz), name=f"Night{n}")
                for n in range(3)]
    await gone.deactivate()  # messages to it now fail with 403
    emulator.expect_error(403)
    boss = await broadcaster(db, emulator)
    _shown, controls = await walk_to_preview(boss, severity="🟡 Moderate")
    assert "Recipients now: 6" in controls.text
    await tap(boss, "📣 Send now", message=controls)
    for user in received:
        assert TEXT in (await user.next_message()).text
    progress = await boss.next_message()
    await boss.wait_for(lambda: "Waiting for quiet hours to end: 3" in progress.text and "Blocked the bot: 1"
                        in progress.text, timeout=15)
    assert progress.text.startswith("📣 Alert #")
    assert "Sent: 2" in progress.text and "Remaining: 0" in progress.text
    assert progress.buttons == [["⛔ Cancel sending"]]

    answer = await tap(boss, "⛔ Cancel sending", message=progress)
    assert answer.text == "Sending stopped: 3 messages will not be sent."
    await boss.wait_for(lambda: progress.text.startswith("⛔"), timeout=15)
    lines = progress.text.split("\n")
    assert lines[1:] == ["Recipients: 6", "Sent: 2", "Failed: 0", "Blocked the bot: 1", "Not sent (stopped): 3"]
    assert progress.buttons == []
    for user in sleeping:
        assert user.last_message.text.startswith("Xin chào")
    async with db.read() as session:
        states = dict((await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))).all())
    assert states == {"sent": 2, "blocked": 1, "cancelled": 3}


async def test_a_correction_reaches_those_who_received_the_alert(bot, emulator, db):
    reached = [await resident_in(db, emulator, LONG_BIEN, name=f"LB{n}") for n in range(2)]
    elsewhere = await resident_in(db, emulator, HOAN_KIEM, name="HK")
    boss = await broadcaster(db, emulator)
    _shown, controls = await walk_to_preview(boss)
    await tap(boss, "📣 Send now", message=controls)
    for user in reached:
        await user.next_message()
    report = await boss.next_message()
    await boss.wait_for(lambda: report.text.startswith("✅"), timeout=15)

    await tap(boss, "✏️ Correct", message=report)
    ask = await boss.next_message()
    assert ask.text.startswith("Send the corrected text in Vietnamese.")
    await boss.send("Mưa lớn từ 16:00, không phải 14:00.")
    assert (await boss.next_message()).text.startswith("The correction of alert #")
    for user in reached:
        correction = await user.next_message()
        assert correction.text.startswith("✏️ ĐÍNH CHÍNH")
        assert "Mưa lớn từ 16:00, không phải 14:00." in correction.text
    assert elsewhere.last_message.text.startswith("Xin chào")
    follow_report = await boss.next_message()
    await boss.wait_for(lambda: follow_report.text.startswith("✅ Correction #"), timeout=15)
    assert "Sent: 2" in follow_report.text
    await boss.wait_for(lambda: report.buttons == [])  # the original can no longer be corrected
    async with db.read() as session:
        original, correction = (await session.execute(select(Alert).order_by(Alert.id))).scalars().all()
    assert (correction.kind, correction.replaces_id, correction.texts) == (
        "correction", original.id, {"vi": "Mưa lớn từ 16:00, không phải 14:00."})


async def test_cancel_alert_tells_those_who_received_it(bot, emulator, db):
    reached = await resident_in(db, emulator, LONG_BIEN, name="LB")
    boss = await broadcaster(db, emulator)
    _shown, controls = await walk_to_preview(boss)
    await tap(boss, "📣 Send now", message=controls)
    await reached.next_message()
    report = await boss.next_message()
    await boss.wait_for(lambda: report.text.startswith("✅"), timeout=15)
    await tap(boss, "🚫 Cancel alert", message=report)
    confirm = await boss.next_message()
    assert "The 1 residents who received it will be told" in confirm.text
    await tap(boss, "Yes, cancel the alert", message=confirm)
    notice = await reached.next_message()
    assert notice.text.startswith("✅ HỦY CẢNH BÁO")
    cancellation_report = await boss.next_message()
    await boss.wait_for(lambda: cancellation_report.text.startswith("✅ Cancellation #"), timeout=15)
    assert cancellation_report.buttons == []
    await boss.wait_for(lambda: report.buttons == [])


async def test_someone_without_the_role_is_refused_even_with_an_old_button(bot, emulator, db):
    stranger = emulator.user(first_name="Nam", language_code="vi")
    await stranger.send("/broadcast")
    assert (await stranger.next_message()).text.startswith("Xin lỗi, chỉ cán bộ phát cảnh báo")
    await stranger.send("/schedules")
    assert (await stranger.next_message()).text.startswith("Xin lỗi, chỉ cán bộ phát cảnh báo")

    boss = await broadcaster(db, emulator)
    await boss.send("/broadcast")
    await boss.next_message()
    await tap(boss, "Weather and disasters")
    await boss.next_message()
    async with db.transaction() as session:
        assert await roles.revoke(session, boss.id, "broadcaster") == 1
    answer = await tap(boss, "Done ✓")
    assert answer.show_alert and answer.text.startswith("Sorry, sending alerts is only for the city's broadcasters")
    await boss.send("Long Biên")
    assert (await boss.next_message()).text.startswith("Sorry, sending alerts is only")
    async with db.read() as session:
        assert (await only_alert(db)).area_codes == []  # nothing changed


async def test_bad_input_is_explained_and_keeps_what_was_entered(bot, emulator, db):
    await resident_in(db, emulator, HOAN_KIEM, name="HK")
    boss = await broadcaster(db, emulator, role="admin")
    await boss.send("/broadcast")
    await boss.next_message()
    await tap(boss, "Traffic")
    await boss.next_message()
    await boss.send("Atlantis")
    assert (await boss.next_message()).text.startswith("I found no area called “Atlantis”")
    await boss.send_sticker()
    assert (await boss.next_message()).text.startswith("Type the name of an area")
    await boss.send("hoan kiem")
    picker = await boss.next_message()
    assert "Chosen: Hoan Kiem Ward" in picker.text
    await tap(boss, "Done ✓", message=picker)
    await boss.next_message()
    await tap(boss, "🔴 Extreme")
    await boss.next_message()
    await boss.send_sticker()
    assert (await boss.next_message()).text.startswith("Please send the text as a message.")
    await boss.send("x" * 3501)
    assert (await boss.next_message()).text == ("The text is too long: 3,501 characters, and an alert can have "
                                               "at most 3,500. Please shorten it and send it again.")
    await boss.send("Đường Tràng Tiền cấm xe " + "rất lâu " * 120)  # fits a message, not a caption
    assert (await boss.next_message()).text.startswith("Step 5")
    await tap(boss, "Skip ›")
    await boss.next_message()
    await boss.send_photo()
    refusal = await boss.next_message()
    assert refusal.text.startswith("With a photo the text can be at most 900 characters")
    await tap(boss, "No photo ›", message=refusal)
    shown = await boss.next_message()
    assert shown.text.startswith("🔴 ĐẶC BIỆT NGHIÊM TRỌNG · Giao thông") and "Đường Tràng Tiền cấm xe" in shown.text
    controls = await boss.next_message()
    assert "Recipients now: 1" in controls.text

    await tap(boss, "🕒 Send at a time", message=controls)
    await boss.wait_for(lambda: controls.text.startswith("When should it be sent?"))
    for typed, answer in (("tomorrow", "I could not read that time."),
                          ("2020-01-01 08:00", "That time has already passed."),
                          ("31/02/2030 08:00", "I could not read that time.")):
        await boss.send(typed)
        assert (await boss.next_message()).text.startswith(answer)
    await tap(boss, "‹ Back to the preview", message=controls)
    await boss.next_message()
    controls = await boss.next_message()
    # Edit one step from the preview: back to the preview after it, the rest kept.
    await tap(boss, "✏️ Edit", message=controls)
    await boss.wait_for(lambda: controls.text == "What do you want to change?")
    await tap(boss, "Severity", message=controls)
    await boss.next_message()
    await tap(boss, "🟡 Moderate")
    shown = await boss.next_message()
    assert shown.text.startswith("🟡 Trung bình · Giao thông") and "Đường Tràng Tiền cấm xe" in shown.text
    assert "Severity: 🟡 Moderate" in (await boss.next_message()).text

    await boss.send("/cancel")
    assert (await boss.next_message()).text == "The alert draft was deleted; nothing was sent."
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Alert))).scalar_one() == 0


async def test_the_draft_survives_a_restart_and_broadcast_carries_on(bot, emulator, db):
    boss = await broadcaster(db, emulator, language="vi")
    await boss.send("/broadcast")
    await boss.next_message()
    await tap(boss, "Thời tiết và thiên tai")
    await boss.next_message()
    await boss.send("Long Biên")
    await boss.next_message()
    # The state is all in the database: a new /broadcast (as after a restart) resumes at the areas step.
    await boss.send("/broadcast")
    picker = await boss.next_message()
    assert picker.text.startswith("Bạn đang soạn dở một cảnh báo")
    assert "Đã chọn: Phường Long Biên" in picker.text
    alert = await only_alert(db)
    assert (alert.status, alert.wizard_step, alert.area_codes) == ("draft", "areas", [LONG_BIEN])
    await boss.send("/cancel")
    assert (await boss.next_message()).text == "Đã xóa bản nháp cảnh báo; chưa có gì được gửi."
    answer = await tap(boss, "Xong ✓", message=picker)  # a button of the deleted draft
    assert answer.show_alert and answer.text.startswith("Nút này không còn hiệu lực")
