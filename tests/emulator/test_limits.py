"""Flood limits per bot token, on an injected clock: the tests move time instead of sleeping."""

import pytest
from telegram import InputMediaPhoto
from telegram.error import RetryAfter

from emulator import Emulator, Limits
from emulator.images import sample_jpeg
from tests.fixtures.ptb import FakeClock, ptb_bot, running

# PTB warns whenever RetryAfter's retry_after is read; the tests check the message instead.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

async def started_users(emu, count):
    users = [emu.user(first_name=f"Dân {n}") for n in range(count)]
    for user in users:
        await user.send("/start")
    return users


async def test_at_most_30_messages_in_any_sliding_second_across_chats():
    """As a strict server counts: 15 at 0 s and 15 at 0.5 s fill the second; at 1.1 s the first
    15 have left the window and 15 more go, but not a 16th (a token bucket would let 60 through
    in that second: its 30 saved up and 30 more earned)."""
    clock = FakeClock()
    async with running(Emulator(limits=Limits(clock=clock))) as emu, ptb_bot(emu) as bot:
        users = await started_users(emu, 47)
        for user in users[:15]:
            await bot.send_message(user.id, "Cảnh báo bão")
        clock.advance(0.5)
        for user in users[15:30]:
            await bot.send_message(user.id, "Cảnh báo bão")
        emu.expect_error(429)
        with pytest.raises(RetryAfter, match="Retry in 1 seconds"):
            await bot.send_message(users[30].id, "Cảnh báo bão")
        assert emu.errors[-1].description == "Too Many Requests: retry after 1"
        clock.advance(0.499)
        with pytest.raises(RetryAfter):  # the first 15 are still within the last second
            await bot.send_message(users[30].id, "Cảnh báo bão")
        clock.advance(0.101)
        for user in users[30:45]:
            await bot.send_message(user.id, "Cảnh báo bão")
        with pytest.raises(RetryAfter, match="Retry in 1 seconds"):
            await bot.send_message(users[45].id, "Cảnh báo bão")
        clock.advance(0.4)  # 1.5 s: the 15 of 0.5 s leave the window
        await bot.send_message(users[45].id, "Cảnh báo bão")
        assert sum(len(u.messages) for u in users) == 46


def test_the_global_window_counts_every_send_of_the_second():
    """Sends paced at 29.9 a second all pass; at 30.1 a second the 31st within a second is refused."""
    for rate, refused in ((29.9, 0), (30.1, 1)):
        clock = FakeClock()
        limits = Limits(clock=clock)
        answers = []
        for n in range(31):
            answers.append(limits.retry_after("t", 1000 + n, private=True))
            clock.advance(1 / rate)
        assert sum(1 for a in answers if a) == refused


async def test_one_message_a_second_per_private_chat_with_short_bursts():
    clock = FakeClock()
    async with running(Emulator(limits=Limits(clock=clock))) as emu, ptb_bot(emu) as bot:
        (user,) = await started_users(emu, 1)
        for n in range(3):
            await bot.send_message(user.id, f"tin {n}")
        emu.expect_error(429)
        with pytest.raises(RetryAfter, match="Retry in 1 seconds"):
            await bot.send_message(user.id, "tin 3")
        clock.advance(0.5)
        with pytest.raises(RetryAfter, match="Retry in 1 seconds"):
            await bot.send_message(user.id, "tin 3")
        clock.advance(0.5)
        await bot.send_message(user.id, "tin 3")
        assert [m.text for m in user.messages] == ["tin 0", "tin 1", "tin 2", "tin 3"]
        # another chat is not held back by this one
        (other,) = await started_users(emu, 1)
        await bot.send_message(other.id, "khác")


async def test_20_messages_a_minute_per_group():
    clock = FakeClock()
    async with running(Emulator(limits=Limits(clock=clock))) as emu, ptb_bot(emu) as bot:
        group = emu.group("Kiểm duyệt viên", members=[emu.user(first_name="Mod")])
        for n in range(20):
            await bot.send_message(group.id, f"Phản ánh {n}")
        emu.expect_error(429)
        with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
            await bot.send_message(group.id, "Phản ánh 20")
        clock.advance(3)
        await bot.send_message(group.id, "Phản ánh 20")
        assert len(group.messages) == 21


async def test_media_groups_count_as_their_items():
    clock = FakeClock()
    async with running(Emulator(limits=Limits(clock=clock))) as emu, ptb_bot(emu) as bot:
        group = emu.group("Công an phường")
        photos = [InputMediaPhoto(sample_jpeg(60, 60, seed=n)) for n in range(10)]
        await bot.send_media_group(group.id, photos)
        await bot.send_media_group(group.id, photos)
        emu.expect_error(429)
        with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
            await bot.send_message(group.id, "một nữa")
        # a whole album goes out to a private chat, then the chat waits it off
        (user,) = await started_users(emu, 1)
        await bot.send_media_group(user.id, photos[:4])
        with pytest.raises(RetryAfter, match="Retry in 2 seconds"):
            await bot.send_message(user.id, "sau album")
        stored = len(emu.state.files)
        with pytest.raises(RetryAfter):
            await bot.send_photo(user.id, sample_jpeg(60, 60, seed=99))
        assert len(emu.state.files) == stored  # a refused upload is not kept


async def test_paid_broadcast_lifts_the_cross_chat_limit():
    clock = FakeClock()
    limits = Limits(clock=clock)
    async with running(Emulator(limits=limits)) as emu, ptb_bot(emu) as bot:
        users = await started_users(emu, 120)
        for user in users[:100]:
            await bot.send_message(user.id, "Khẩn cấp", allow_paid_broadcast=True)
        assert limits.paid_messages == 70  # the first 30 fit the free allowance
        emu.expect_error(429)
        with pytest.raises(RetryAfter):
            await bot.send_message(users[100].id, "không trả phí")
        await bot.send_message(users[100].id, "Khẩn cấp", allow_paid_broadcast=True)


async def test_limits_off_lifts_rates_but_not_sizes():
    async with running(Emulator(limits=Limits.off())) as emu, ptb_bot(emu) as bot:
        (user,) = await started_users(emu, 1)
        for n in range(40):
            await bot.send_message(user.id, str(n))
        assert len(user.messages) == 40
        emu.expect_error("message is too long")
        from telegram.error import BadRequest
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(user.id, "x" * 4097)


def test_retry_after_is_whole_seconds_until_a_token_is_free():
    clock = FakeClock()
    limits = Limits(clock=clock, group_per_minute=20, group_burst=20)
    assert all(limits.retry_after("t", -1, private=False) == 0 for _ in range(20))
    assert limits.retry_after("t", -1, private=False) == 3
    clock.advance(2.9)
    assert limits.retry_after("t", -1, private=False) == 1
    clock.advance(0.1)
    assert limits.retry_after("t", -1, private=False) == 0
    assert limits.retry_after("other-token", -1, private=False) == 0  # limits are per bot token
