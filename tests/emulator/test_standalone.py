"""`python -m emulator`: the emulator served in its own process, for benchmarks and manual runs."""

import asyncio
import signal
import sys

import aiohttp

from emulator import Emulator, Limits
from tests.fixtures.ptb import ptb_bot, running


async def test_python_m_emulator_serves_the_bot_api():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "emulator", "--port", "0", "--token", "777:BENCH-token", "--quiet",
        "--no-rate-limits", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        second = (await asyncio.wait_for(process.stdout.readline(), 5)).decode()
        assert first.startswith("Telegram Bot API emulator on http://127.0.0.1:")
        assert second.strip() == "token 777:BENCH-token"
        url = first.split(" on ")[1].strip()
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/bot777:BENCH-token/getMe") as response:
                assert (await response.json())["result"]["id"] == 777
            # any user id is a resident who started the bot: the load comes from another process
            for chat_id in (5001, 5002, 5001):
                async with session.post(f"{url}/bot777:BENCH-token/sendMessage",
                                        data={"chat_id": str(chat_id), "text": "Cảnh báo"}) as response:
                    body = await response.json()
                    assert body["ok"] is True and body["result"]["chat"]["id"] == chat_id
            assert body["result"]["message_id"] == 2
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_standalone_settings_keep_memory_bounded():
    emu = Emulator(Limits.off(), record_calls=False, auto_users=True, history_limit=5, max_errors=3)
    async with running(emu), ptb_bot(emu) as bot:
        for n in range(20):
            await bot.send_message(9001, str(n))
        chat = emu.state.private[(emu.default_bot.id, 9001)]
        assert [m.text for m in chat.log] == ["15", "16", "17", "18", "19"]
        assert len(chat.messages) == 5 and emu.calls == []
        emu.expect_error("chat not found")
        for _ in range(5):
            try:
                await bot.send_message(-5, "x")
            except Exception:
                pass
        assert len(emu.errors) == 3
