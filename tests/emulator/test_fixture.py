"""The `emulator` fixture fails a test that leaves Bot API errors or unanswered callback queries."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from emulator import Emulator
from tests.fixtures.emulator import emulator_problems
from tests.fixtures.ptb import ptb_bot

ROOT = Path(__file__).resolve().parents[2]


async def test_problems_list_unexpected_errors_and_unanswered_queries():
    emu = Emulator()
    await emu.start()
    try:
        async with ptb_bot(emu) as bot:
            assert emulator_problems(emu) is None
            try:
                await bot.send_message(42, "hi")
            except BadRequest:
                pass
            user = emu.user(first_name="Lan")
            await user.send("/start")
            await bot.send_message(user.id, "?", reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Có", callback_data="yes")]]))
            await user.tap("Có")
    finally:
        await emu.stop()
    message = emulator_problems(emu)
    assert "Bot API error the test did not expect: sendMessage chat=42: 400 Bad Request: chat not found" in message
    assert "data 'yes', from Lan) was never answered" in message
    emu.expect_error("chat not found")
    for bot in emu.state.bots.values():
        for query in bot.callback_queries.values():
            query.answered = True
    assert emulator_problems(emu) is None


def test_the_fixture_fails_the_test_at_teardown(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n"
                                         "asyncio_default_fixture_loop_scope = function\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.fixtures.emulator"]\n')
    (tmp_path / "test_probe.py").write_text(textwrap.dedent("""
        from telegram import Bot
        from telegram.error import BadRequest

        async def send_to_nobody(emulator, expect):
            if expect:
                emulator.expect_error("chat not found")
            bot = Bot(emulator.token, base_url=f"{emulator.url}/bot")
            async with bot:
                try:
                    await bot.send_message(42, "hi")
                except BadRequest:
                    pass

        async def test_unexpected(emulator):
            await send_to_nobody(emulator, expect=False)

        async def test_expected(emulator):
            await send_to_nobody(emulator, expect=True)

        async def test_failing_itself(emulator):
            await send_to_nobody(emulator, expect=False)
            assert False, "the test's own failure"
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"),
         str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 failed, 2 passed, 1 error" in output, output  # test_unexpected: passed, then error
    assert "ERROR at teardown of test_unexpected" in output
    assert "Bot API error the test did not expect: sendMessage chat=42: 400 Bad Request: chat not found" in output
    assert "teardown of test_failing_itself" not in output
