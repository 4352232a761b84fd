"""Getting updates: long polling and webhooks."""

import asyncio

import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Conflict

from emulator.webhook import SECRET_HEADER
from tests.fixtures.ptb import receiver


async def test_updates_are_confirmed_by_offset(tg, emulator, lan):
    for text in ("một", "hai", "ba"):
        await lan.send(text)
    updates = await tg.get_updates()
    assert [u.message.text for u in updates] == ["một", "hai", "ba"]
    assert [u.update_id for u in updates] == sorted(u.update_id for u in updates)
    assert [u.message.text for u in await tg.get_updates(limit=1)] == ["một"]  # nothing confirmed yet
    assert [u.message.text for u in await tg.get_updates(offset=updates[1].update_id)] == ["hai", "ba"]
    assert await tg.get_updates(offset=updates[-1].update_id + 1) == ()
    assert (await tg.get_webhook_info()).pending_update_count == 0


async def test_negative_offset_keeps_the_last_updates(tg, lan):
    for text in ("a", "b", "c"):
        await lan.send(text)
    assert [u.message.text for u in await tg.get_updates(offset=-1)] == ["c"]
    assert [u.message.text for u in await tg.get_updates()] == ["c"]


async def test_a_pending_long_poll_returns_as_soon_as_an_update_arrives(tg, emulator, lan):
    poll = asyncio.create_task(tg.get_updates(timeout=30))
    await emulator.polling()
    await lan.send("có ai không?")
    updates = await asyncio.wait_for(poll, 5)  # within 5 s: woken by the update, not the 30 s timeout
    assert [u.message.text for u in updates] == ["có ai không?"]
    assert len(emulator.calls_to("getUpdates")) == 1  # one held request, no busy polling


async def test_an_empty_long_poll_ends_at_its_timeout(tg, emulator):
    assert await tg.get_updates(timeout=1) == ()
    assert len(emulator.calls_to("getUpdates")) == 1


async def test_allowed_updates_filter_what_is_queued(tg, emulator, lan):
    await tg.send_message(lan.id, "Chọn", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("A", callback_data="a")]]))
    assert await tg.get_updates(allowed_updates=["callback_query"]) == ()
    await lan.send("ignored")
    tap = await lan.tap("A")
    updates = await tg.get_updates()
    assert [u.callback_query.data for u in updates] == ["a"]
    await tg.answer_callback_query(updates[0].callback_query.id)
    assert await tap.answer() == (None, False, None)


async def test_a_second_poller_terminates_the_first(tg, emulator):
    first = asyncio.create_task(tg.get_updates(timeout=30))
    await emulator.polling()
    expected = emulator.expect_error("terminated by other getUpdates request")
    second = asyncio.create_task(tg.get_updates(timeout=30))
    with pytest.raises(Conflict) as info:
        await first
    assert info.value.message == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
    await emulator.user(first_name="Hà").send("/start")
    assert [u.message.text for u in await second] == ["/start"]
    assert len(expected.matched) == 1


async def test_webhook_delivery_with_secret_then_conflict_for_get_updates(tg, emulator, lan):
    received = asyncio.Queue()

    async def hook(request):
        await received.put((request.headers.get(SECRET_HEADER), await request.json()))
        return web.Response()

    async with receiver(hook) as url:
        assert await tg.set_webhook(url, secret_token="loa_S3cret-token", drop_pending_updates=True)
        await lan.send("/start")
        secret, update = await asyncio.wait_for(received.get(), 5)
        assert secret == "loa_S3cret-token"
        assert update["message"]["text"] == "/start" and update["message"]["from"]["id"] == lan.id
        info = await tg.get_webhook_info()
        assert (info.url, info.pending_update_count, info.last_error_date) == (url, 0, None)
        emulator.expect_error(409)
        with pytest.raises(Conflict) as error:
            await tg.get_updates()
        assert error.value.message == (
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
            "webhook first")
        assert await tg.delete_webhook()
    assert (await tg.get_webhook_info()).url == ""


async def test_failed_delivery_is_retried_and_reported(tg, emulator, lan):
    seen: list[int] = []
    delivered = asyncio.Event()

    async def hook(request):
        seen.append((await request.json())["update_id"])
        if len(seen) == 1:
            return web.Response(status=500)
        delivered.set()
        return web.Response()

    async with receiver(hook) as url:
        await tg.set_webhook(url)
        await lan.send("thử lại")
        await asyncio.wait_for(delivered.wait(), 5)
        info = await tg.get_webhook_info()
    assert len(seen) == 2 and seen[0] == seen[1]  # the same update, delivered again
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    assert info.last_error_date is not None and info.pending_update_count == 0


async def test_webhook_delivers_in_order_one_at_a_time(tg, emulator, lan):
    in_flight, most, seen = 0, 0, []
    done = asyncio.Event()

    async def hook(request):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)  # let any concurrent delivery show itself
        seen.append((await request.json())["message"]["text"])
        in_flight -= 1
        if len(seen) == 5:
            done.set()
        return web.Response()

    async with receiver(hook) as url:
        await tg.set_webhook(url)
        for n in range(5):
            await lan.send(str(n))
        await asyncio.wait_for(done.wait(), 5)
    assert seen == ["0", "1", "2", "3", "4"] and most == 1


async def test_webhook_answer_may_call_a_method(tg, emulator, lan):
    async def hook(request):
        update = await request.json()
        return web.json_response({"method": "sendMessage", "chat_id": update["message"]["chat"]["id"],
                                  "text": "pong"})

    async with receiver(hook) as url:
        await tg.set_webhook(url)
        await lan.send("ping")
        assert (await lan.next_message()).text == "pong"


async def test_set_webhook_validation_and_drop_pending(tg, emulator, lan):
    from telegram.error import BadRequest

    emulator.expect_error(400)
    with pytest.raises(BadRequest, match="^Invalid webhook url specified$"):
        await tg.set_webhook("not a url")
    with pytest.raises(BadRequest, match="^Secret token contains unallowed characters$"):
        await tg.set_webhook("https://example.com/hook", secret_token="bad secret!")
    await lan.send("queued")
    assert await tg.delete_webhook(drop_pending_updates=True)
    assert await tg.get_updates() == ()
