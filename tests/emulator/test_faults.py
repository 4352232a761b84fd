"""Injected faults as PTB sees them; a faulted request changes nothing."""

import asyncio

import pytest
from telegram.error import NetworkError, RetryAfter, TimedOut

from emulator import Emulator, Faults, Limits
from tests.fixtures.ptb import ptb_bot, running

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_a_seeded_fraction_of_sends_fail_with_429_or_500():
    faults = Faults(rate_429=0.2, rate_500=0.2, seed=7)
    async with running(Emulator(limits=Limits.off(), faults=faults)) as emu, ptb_bot(emu) as bot:
        user = emu.user(first_name="Lan")
        await user.send("/start")
        outcomes = []
        for n in range(60):
            try:
                await bot.send_message(user.id, f"tin {n}")
                outcomes.append("ok")
            except RetryAfter as error:
                assert error.message == "Flood control exceeded. Retry in 1 seconds"
                outcomes.append("429")
            except NetworkError as error:
                assert error.message == "Internal Server Error"
                outcomes.append("500")
        assert outcomes.count("429") == faults.injected["429"] > 0
        assert outcomes.count("500") == faults.injected["500"] > 0
        assert len(user.messages) == outcomes.count("ok")  # failed requests stored nothing
        assert emu.errors == []  # injected faults are not the bot's errors
        assert len(await bot.get_updates()) == 1  # getUpdates is never faulted by default

    # the same seed gives the same sequence
    again = Faults(rate_429=0.2, rate_500=0.2, seed=7)
    assert [again.pick("sendmessage") or "ok" for _ in range(60)] == outcomes


async def test_a_hanging_request_makes_the_client_time_out_without_effect():
    faults = Faults(rate_timeout=1.0, timeout_hang=30)
    async with running(Emulator(limits=Limits.off(), faults=faults)) as emu, \
            ptb_bot(emu, read_timeout=0.2) as bot:
        user = emu.user(first_name="Lan")
        await user.send("/start")
        with pytest.raises(TimedOut):
            await bot.send_message(user.id, "treo")
        assert user.messages == [] and faults.injected["timeout"] == 1
        faults.rate_timeout = 0  # faults change while running
        await bot.send_message(user.id, "được rồi")
        assert [m.text for m in user.messages] == ["được rồi"]


async def test_only_the_configured_methods_are_faulted():
    faults = Faults(rate_500=1.0, methods={"editMessageText"})
    async with running(Emulator(faults=faults)) as emu, ptb_bot(emu) as bot:
        user = emu.user(first_name="Lan")
        await user.send("/start")
        sent = await bot.send_message(user.id, "a")
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.edit_message_text("b", chat_id=user.id, message_id=sent.message_id)
        assert user.last_message.text == "a"


async def test_latency_is_added_to_every_request():
    faults = Faults(latency=0.05)
    async with running(Emulator(faults=faults)) as emu, ptb_bot(emu) as bot:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bot.get_me()
        assert loop.time() - started >= 0.05
