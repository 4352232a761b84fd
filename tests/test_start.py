"""End to end: simulated residents talk to the real Application through the emulator."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from storage import residents


async def test_start_records_a_new_resident_and_asks_their_language(bot, emulator, db):
    lan = emulator.user(first_name="Lan", language_code="vi", username="lan_hn")
    await lan.send("/start")
    reply = await lan.next_message()
    assert reply.text.startswith("Xin chào! Đây là Loa")
    async with db.read() as session:
        resident = await residents.by_telegram_id(session, lan.id)
    assert (resident.language, resident.first_name, resident.username) == ("vi", "Lan", "lan_hn")
    assert resident.onboarded is False and resident.awaiting == "language"


async def test_the_language_is_preselected_from_telegram_and_vietnamese_otherwise(bot, emulator):
    john = emulator.user(first_name="John", language_code="en-GB")
    hans = emulator.user(first_name="Hans", language_code="de")
    await john.send("/start")
    await hans.send("/start")
    assert (await john.next_message()).buttons == [["Tiếng Việt", "English ✓"]]
    assert (await hans.next_message()).buttons == [["Tiếng Việt ✓", "English"]]


async def test_one_chat_is_handled_in_order_while_other_chats_go_on(application, emulator):
    """A slow update holds back the next one from the same chat, not those of other chats."""
    release = asyncio.Event()
    handled: list[tuple[int, str]] = []

    async def record(update: Update, _context) -> None:
        text = update.message.text
        if text == "slow":
            await release.wait()
        handled.append((update.effective_chat.id, text))
        await update.message.reply_text(f"done {text}")
        raise ApplicationHandlerStop

    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, record), group=-2)
    async with application:
        await application.start()
        await application.updater.start_polling(timeout=1)
        try:
            a, b = emulator.user(first_name="A"), emulator.user(first_name="B")
            await a.send("slow")
            await a.send("quick")
            await b.send("other")
            assert (await b.next_message()).text == "done other"
            assert handled == [(b.id, "other")]
            release.set()
            assert (await a.next_message()).text == "done slow"
            assert (await a.next_message()).text == "done quick"
            assert handled == [(b.id, "other"), (a.id, "slow"), (a.id, "quick")]
        finally:
            release.set()
            await application.updater.stop()
            await application.stop()
