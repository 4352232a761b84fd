"""Helpers for the emulator's own tests: PTB's real Bot talking to an emulator over HTTP."""

from __future__ import annotations

import contextlib

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from emulator import Emulator


def ptb_bot(emu: Emulator, token: str | None = None, **request_options) -> Bot:
    """PTB's Bot configured for the emulator the way the product configures it."""
    return Bot(
        token or emu.token,
        base_url=f"{emu.url}/bot",
        base_file_url=f"{emu.url}/file/bot",
        request=HTTPXRequest(connection_pool_size=8, **request_options),
        get_updates_request=HTTPXRequest(connection_pool_size=2),
    )


@contextlib.asynccontextmanager
async def running(emu: Emulator):
    """Start `emu` for a block; like the fixture, fail on problems the block left behind."""
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()
    assert emu.problems() == []


class FakeClock:
    """An injectable monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
