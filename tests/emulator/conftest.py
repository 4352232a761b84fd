"""Fixtures for the emulator's own tests: PTB's real Bot on the emulator (`tg`) and a resident who has
started the bot (`lan`). Their helpers are in tests/fixtures/ptb.py."""

from __future__ import annotations

import pytest

from tests.fixtures.ptb import ptb_bot


@pytest.fixture
async def tg(emulator):
    async with ptb_bot(emulator) as bot:
        yield bot


@pytest.fixture
async def lan(emulator):
    """A resident who has started the bot (her /start is already consumed from the updates)."""
    user = emulator.user(first_name="Lan", language_code="vi", username="lan_hn")
    await user.send("/start")
    emulator.default_bot.updates.clear()
    return user
