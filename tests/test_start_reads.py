"""/start answered from a read when it would change nothing, and written when it would."""

from __future__ import annotations

from tests.fixtures.residents import ALL_TOPICS, onboarded, stored


async def test_a_start_that_changes_nothing_writes_nothing(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await lan.send("/start")
    first = await lan.next_message()
    before, _ = await stored(db, lan)
    await lan.send("/start")
    again = await lan.next_message()
    after, chosen = await stored(db, lan)
    assert first.text == again.text
    assert again.text.startswith("Welcome back to Loa. Your settings are as you left them.")
    assert "Area: Long Bien Ward" in again.text and again.buttons == [["📝 Report a problem"]]
    assert after.updated_at == before.updated_at and chosen == ALL_TOPICS


async def test_a_start_with_a_new_telegram_name_stores_it(bot, emulator, db):
    lan = await onboarded(emulator, "vi")
    lan.user.first_name, lan.user.username, lan.user._dict = "Lan Anh", "lananh", None
    await lan.send("/start")
    assert (await lan.next_message()).text.startswith("Chào mừng bạn quay lại với Loa")
    resident, _ = await stored(db, lan)
    assert (resident.first_name, resident.username) == ("Lan Anh", "lananh")


async def test_a_start_in_the_middle_of_a_question_ends_the_question(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await lan.send("/area")
    await lan.next_message()
    resident, _ = await stored(db, lan)
    assert resident.awaiting == "area"
    await lan.send("/start")
    assert (await lan.next_message()).text.startswith("Welcome back to Loa.")
    resident, _ = await stored(db, lan)
    assert resident.awaiting is None


async def test_a_start_before_choosing_a_language_asks_again_without_writing(bot, emulator, db):
    minh = emulator.user(first_name="Minh", language_code="vi")
    await minh.send("/start")
    first = await minh.next_message()
    before, _ = await stored(db, minh)
    await minh.send("/start")
    again = await minh.next_message()
    after, chosen = await stored(db, minh)
    assert again.text == first.text and again.buttons == [["Tiếng Việt ✓", "English"]]
    assert after.updated_at == before.updated_at and after.awaiting == "language" and chosen == ALL_TOPICS
