"""The users API: simulated residents and staff, and how they wait for the bot."""

import asyncio

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden


async def test_next_message_hands_out_bot_messages_in_order(tg, lan):
    for text in ("một", "hai"):
        await tg.send_message(lan.id, text)
    assert [(await lan.next_message()).text for _ in range(2)] == ["một", "hai"]
    await tg.send_message(lan.id, "ba")
    assert (await lan.next_message()).text == "ba"
    assert [m.text for m in lan.messages] == ["một", "hai", "ba"] and lan.last_message.text == "ba"


async def test_next_message_timeout_explains_what_the_chat_contains(tg, lan):
    await lan.send("xin chào")
    await tg.send_message(lan.id, "Chào bạn", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("OK", callback_data="ok")]]))
    await lan.next_message()
    with pytest.raises(AssertionError) as info:
        await lan.next_message(timeout=0.05)
    text = str(info.value)
    assert "Lan got no new message from the bot within 0.05s" in text
    assert "Lan: 'xin chào'" in text and "bot: 'Chào bạn' buttons=[['OK']]" in text


async def test_next_message_wakes_when_the_bot_sends(tg, lan):
    waiting = asyncio.create_task(lan.next_message(timeout=5))
    await asyncio.sleep(0)
    assert not waiting.done()
    await tg.send_message(lan.id, "đến rồi")
    assert (await waiting).text == "đến rồi"


async def test_wait_for_rechecks_on_edits_and_deletions(tg, lan):
    sent = await tg.send_message(lan.id, "Đang xử lý")
    view = await lan.next_message()
    edited = asyncio.create_task(lan.wait_for(lambda: view.text == "Xong"))
    await asyncio.sleep(0)
    await tg.edit_message_text("Xong", chat_id=lan.id, message_id=sent.message_id)
    assert await edited is True
    gone = asyncio.create_task(lan.wait_for(lambda: view.deleted))
    await tg.delete_message(lan.id, sent.message_id)
    assert await gone is True
    with pytest.raises(AssertionError, match="condition was not met within 0.01s"):
        await lan.wait_for(lambda: False, timeout=0.01)


async def test_tap_inline_button_on_the_newest_message_that_has_it(tg, emulator, lan):
    def buttons(*labels):
        return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=label) for label in labels]])

    first = await tg.send_message(lan.id, "cũ", reply_markup=buttons("Có", "Không"))
    await tg.send_message(lan.id, "mới", reply_markup=buttons("Có"))
    await lan.tap("Có")
    await lan.tap("Không")
    await lan.tap("Có", message=first.message_id)
    queries = [u.callback_query for u in await tg.get_updates()]
    assert [(q.data, q.message.text) for q in queries] == [("Có", "mới"), ("Không", "cũ"), ("Có", "cũ")]
    assert len(emulator.unanswered_callback_queries()) == 3
    for query in queries:
        await query.answer()
    assert emulator.unanswered_callback_queries() == []


async def test_tap_url_button_and_missing_button(tg, lan):
    await tg.send_message(lan.id, "Xem", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("Trang web", url="https://hue.gov.vn")]]))
    tap = await lan.tap("Trang web")
    assert tap.url == "https://hue.gov.vn" and tap.query is None
    with pytest.raises(AssertionError, match="Lan sees no button 'Khác'.*Trang web"):
        await lan.tap("Khác")


async def test_tap_reply_keyboard_sends_text_location_or_contact(tg, lan):
    markup = ReplyKeyboardMarkup([[KeyboardButton("📍 Vị trí", request_location=True),
                                   KeyboardButton("📞 Số điện thoại", request_contact=True)], ["Bỏ qua"]])
    await tg.send_message(lan.id, "Vị trí của bạn?", reply_markup=markup)
    await lan.tap("Bỏ qua")
    await lan.tap("📍 Vị trí", location=(16.46, 107.59))
    lan.location = (21.03, 105.85)
    await lan.tap("📍 Vị trí")
    await lan.tap("📞 Số điện thoại")
    text, here, home, contact = [u.message for u in await tg.get_updates()]
    assert text.text == "Bỏ qua"
    assert (here.location.latitude, here.location.longitude) == (16.46, 107.59)
    assert (home.location.latitude, home.location.longitude) == (21.03, 105.85)
    assert contact.contact.user_id == lan.id and contact.contact.phone_number.startswith("+84")


async def test_share_location_and_user_replies(tg, lan):
    question = await tg.send_message(lan.id, "Ở đâu?")
    await lan.share_location(21.0278, 105.8342)
    await lan.send("ở đây", reply_to=question.message_id)
    located, replied = [u.message for u in await tg.get_updates()]
    assert (located.location.latitude, located.location.longitude) == (21.0278, 105.8342)
    assert replied.reply_to_message.message_id == question.message_id


async def test_a_photo_or_a_location_can_reply_to_a_message(tg, lan):
    question = await tg.send_message(lan.id, "Bên nào?")
    await lan.send_photo(caption="bên trái", reply_to=question.message_id)
    await lan.share_location(21.0278, 105.8342, reply_to=question.message_id)
    photo, located = [u.message for u in await tg.get_updates()]
    assert photo.photo and photo.caption == "bên trái" and photo.reply_to_message.message_id == question.message_id
    assert located.location.latitude == 21.0278 and located.reply_to_message.message_id == question.message_id


async def test_user_edits_reach_the_bot_as_edited_message(tg, lan):
    mine = await lan.send("Đường ngập")
    await lan.edit(mine, "Đường ngập nặng")
    first, second = await tg.get_updates()
    assert first.message.text == "Đường ngập"
    assert second.edited_message.text == "Đường ngập nặng" and second.edited_message.edit_date


async def test_block_unblock_and_deactivate(tg, emulator, lan):
    await lan.block()
    emulator.expect_error(403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await tg.send_message(lan.id, "x")
    await lan.unblock()
    await tg.send_message(lan.id, "lại được")
    await lan.block()
    await lan.send("/start")  # writing to the bot again unblocks it
    updates = await tg.get_updates()
    changes = [(u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
               for u in updates if u.my_chat_member]
    assert changes == [("member", "kicked"), ("kicked", "member"), ("member", "kicked"), ("kicked", "member")]
    assert updates[-1].message.text == "/start"
    await lan.deactivate()
    with pytest.raises(Forbidden, match="user is deactivated"):
        await tg.send_message(lan.id, "x")
    with pytest.raises(AssertionError, match="deleted their account"):
        await lan.send("x")


async def test_group_privacy_mode(tg, emulator):
    mod, other = emulator.user(first_name="Mod"), emulator.user(first_name="Khác")
    group = emulator.group("Kiểm duyệt", members=[mod, other])
    (join_update,) = await tg.get_updates()
    joined = join_update.my_chat_member
    assert (joined.chat.id, joined.new_chat_member.status) == (group.id, "member")
    assert str(group.id).startswith("-100")
    await group.send(mod, "chuyện phiếm")
    await group.send(mod, "/assign PA-7K3Q9")
    await group.send(other, "@loa_test_bot xem giúp")
    sent = await tg.send_message(group.id, "Phản ánh mới")
    await group.send(other, "đã xem", reply_to=sent.message_id)
    await group.send(other, "/help@another_bot")
    texts = [u.message.text for u in await tg.get_updates(offset=join_update.update_id + 1)]
    assert texts == ["/assign PA-7K3Q9", "@loa_test_bot xem giúp", "đã xem"]
    assert (await group.next_message()).text == "Phản ánh mới"


async def test_an_admin_bot_sees_everything_and_may_delete(tg, emulator):
    mod = emulator.user(first_name="Mod")
    group = emulator.group("Công an phường", members=[mod], bot_admin=True, type="group")
    await group.send(mod, "chuyện phiếm")
    update = (await tg.get_updates())[-1]
    assert update.message.text == "chuyện phiếm" and update.message.chat.type == "group"
    assert await tg.delete_message(group.id, update.message.message_id)


async def test_group_taps_and_bot_removal(tg, emulator):
    mod = emulator.user(first_name="Mod")
    group = emulator.group("Kiểm duyệt", members=[mod])
    await tg.send_message(group.id, "PA-1", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("Giao việc", callback_data="assign:1")]]))
    tap = await group.tap(mod, "Giao việc")
    query = (await tg.get_updates())[-1].callback_query
    assert (query.from_user.id, query.message.chat.id, query.data) == (mod.id, group.id, "assign:1")
    await query.answer("Đã giao")
    assert (await tap.answer()).text == "Đã giao"
    chatter = await group.send(mod, "chuyện riêng")
    emulator.expect_error("message can't be deleted")
    with pytest.raises(BadRequest, match="^Message can't be deleted$"):  # not an administrator
        await tg.delete_message(group.id, chatter.message_id)
    group.set_bot_status("kicked")
    emulator.expect_error(403)
    with pytest.raises(Forbidden) as info:
        await tg.send_message(group.id, "x")
    assert info.value.message == "Forbidden: bot was kicked from the supergroup chat"


async def test_observers_see_every_change(tg, emulator, lan):
    events = []
    emulator.on_change(lambda event, chat, message: events.append((event, chat.id)))
    sent = await tg.send_message(lan.id, "a")
    await tg.edit_message_text("b", chat_id=lan.id, message_id=sent.message_id)
    await tg.send_chat_action(lan.id, "typing")
    await tg.delete_message(lan.id, sent.message_id)
    await lan.send("c")
    assert events == [("message", lan.id), ("edit", lan.id), ("action", lan.id), ("delete", lan.id),
                      ("message", lan.id)]


async def test_reply_to_a_user_message_in_the_private_chat(tg, lan):
    asked = await lan.send("Khi nào sửa?")
    await tg.send_message(lan.id, "Tuần sau", reply_parameters=ReplyParameters(asked.message_id))
    assert (await lan.next_message()).reply_to_message_id == asked.message_id
