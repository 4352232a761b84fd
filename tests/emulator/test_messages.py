"""Sending, editing and deleting messages through PTB's real Bot, with Telegram's answers."""

import json

import pytest
from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken

from tests.fixtures.ptb import ptb_bot


def keyboard(*labels):
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=f"cb:{label}")] for label in labels])


async def test_get_me_describes_the_bot(tg, emulator):
    me = await tg.get_me()
    assert (me.id, me.username, me.is_bot) == (emulator.bot_user.id, "loa_test_bot", True)
    assert me.can_read_all_group_messages is False


async def test_unknown_token_is_unauthorized_and_unknown_method_not_found(tg, emulator):
    stranger = ptb_bot(emulator, token="999:nope")
    emulator.expect_error("Unauthorized")
    with pytest.raises(InvalidToken, match="^Unauthorized$"):
        await stranger.get_me()
    await stranger.shutdown()
    emulator.expect_error(404)
    with pytest.raises(EndPointNotFound, match="noSuchMethod"):
        await tg.do_api_request("noSuchMethod")
    assert [(e.method, e.code, e.description) for e in emulator.errors] == [
        ("getMe", 401, "Unauthorized"), ("noSuchMethod", 404, "Not Found")]


async def test_method_names_are_case_insensitive_and_json_bodies_work(tg, emulator, lan):
    session = tg.request._client
    url = f"{emulator.url}/bot{emulator.token}"
    answer = (await session.get(f"{url}/GETME")).json()
    assert answer["ok"] is True and answer["result"]["username"] == "loa_test_bot"
    answer = (await session.post(f"{url}/sendmessage", json={"chat_id": lan.id, "text": "json",
                                                              "reply_markup": {"remove_keyboard": True}})).json()
    assert answer["result"]["text"] == "json"
    answer = (await session.get(f"{url}/sendMessage", params={"chat_id": lan.id, "text": "query"})).json()
    assert answer["result"]["text"] == "query"


async def test_send_message_returns_the_message_telegram_would(tg, emulator, lan):
    sent = await tg.send_message(lan.id, "<b>Cảnh báo</b> ngập: xem https://hue.gov.vn", parse_mode=ParseMode.HTML,
                                 reply_markup=keyboard("Đã rõ"), protect_content=True, disable_notification=True,
                                 link_preview_options=LinkPreviewOptions(is_disabled=True))
    assert sent.text == "Cảnh báo ngập: xem https://hue.gov.vn"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 8), ("url", 19, 18)]
    assert sent.from_user.id == emulator.bot_user.id and sent.chat.id == lan.id and sent.chat.type == "private"
    assert sent.has_protected_content is True and sent.link_preview_options.is_disabled is True
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "cb:Đã rõ"
    seen = await lan.next_message()
    assert seen.message_id == sent.message_id
    assert seen.html == "<b>Cảnh báo</b> ngập: xem https://hue.gov.vn"
    assert seen.buttons == [["Đã rõ"]] and seen.button("Đã rõ")["callback_data"] == "cb:Đã rõ"
    call = emulator.calls_to("sendMessage")[0]
    assert json.loads(call.params["reply_markup"]) == {"inline_keyboard": [[{"callback_data": "cb:Đã rõ",
                                                                           "text": "Đã rõ"}]]}


async def test_without_parse_mode_text_is_literal(tg, lan):
    sent = await tg.send_message(lan.id, "<b>1 < 2</b> &amp;")
    assert sent.text == "<b>1 < 2</b> &amp;" and sent.entities == ()


async def test_markdown_v2_parse_mode(tg, lan):
    sent = await tg.send_message(lan.id, "*Mã* `PA\\-7K3Q9`", parse_mode=ParseMode.MARKDOWN_V2)
    assert sent.text == "Mã PA-7K3Q9"
    assert [e.type for e in sent.entities] == ["bold", "code"]


@pytest.mark.parametrize(
    ("text", "parse_mode", "message", "description"),
    [
        ("", None, "Message text is empty", "Bad Request: message text is empty"),
        ("<b> </b>", "HTML", "Message must be non-empty", "Bad Request: message must be non-empty"),
        ("x" * 4097, None, "Message is too long", "Bad Request: message is too long"),
        ("<div>hi</div>", "HTML", "Can't parse entities: unsupported start tag \"div\" at byte offset 0",
         'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 0'),
        ("1 < 2", "HTML", "Can't parse entities: unsupported start tag \"\" at byte offset 2",
         'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'),
        ("<b>x", "HTML", "Can't parse entities: can't find end tag corresponding to start tag \"b\"",
         'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"'),
        ("x", "Textile", "Unsupported parse_mode", "Bad Request: unsupported parse_mode"),
    ],
)
async def test_send_message_rejects_bad_text(tg, emulator, lan, text, parse_mode, message, description):
    emulator.expect_error(400)
    with pytest.raises(BadRequest) as info:
        await tg.send_message(lan.id, text, parse_mode=parse_mode)
    assert info.value.message == message
    assert emulator.errors[-1].description == description
    assert lan.messages == []


async def test_length_limit_applies_after_entity_parsing(tg, emulator, lan):
    fits = "<b>" + "đ" * 4096 + "</b>"
    sent = await tg.send_message(lan.id, fits, parse_mode="HTML")
    assert len(sent.text) == 4096
    emulator.expect_error("message is too long")
    with pytest.raises(BadRequest, match="Message is too long"):
        await tg.send_message(lan.id, "&lt;" + "x" * 4096, parse_mode="HTML")
    # emoji count twice: the limit is in UTF-16 code units like the entity offsets
    with pytest.raises(BadRequest, match="Message is too long"):
        await tg.send_message(lan.id, "😀" * 2049)


async def test_chat_errors(tg, emulator, lan):
    stranger = emulator.user(first_name="Minh")
    emulator.expect_error(400)
    emulator.expect_error(403)
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await tg.send_message(123, "hi")
    with pytest.raises(BadRequest, match="^Chat not found$"):
        await tg.send_message(-1001234, "hi")
    with pytest.raises(Forbidden) as info:
        await tg.send_message(stranger.id, "hi")
    assert info.value.message == "Forbidden: bot can't initiate conversation with a user"
    await lan.block()
    with pytest.raises(Forbidden) as info:
        await tg.send_message(lan.id, "hi")
    assert info.value.message == "Forbidden: bot was blocked by the user"
    await lan.deactivate()
    with pytest.raises(Forbidden) as info:
        await tg.send_message(lan.id, "hi")
    assert info.value.message == "Forbidden: user is deactivated"
    assert [e.code for e in emulator.errors] == [400, 400, 403, 403, 403]


async def test_reply_keyboards_force_reply_and_removal(tg, lan):
    markup = ReplyKeyboardMarkup([[KeyboardButton("Gửi vị trí", request_location=True)], ["Huỷ"]],
                                 resize_keyboard=True, one_time_keyboard=True)
    sent = await tg.send_message(lan.id, "Bạn ở đâu?", reply_markup=markup)
    assert sent.reply_markup is None  # Telegram echoes inline keyboards only
    assert lan.reply_keyboard == [["Gửi vị trí"], ["Huỷ"]]
    assert (await lan.next_message()).reply_keyboard == [["Gửi vị trí"], ["Huỷ"]]
    await tg.send_message(lan.id, "Mô tả?", reply_markup=ForceReply(input_field_placeholder="..."))
    assert lan.reply_keyboard == [["Gửi vị trí"], ["Huỷ"]]
    await tg.send_message(lan.id, "Xong", reply_markup=ReplyKeyboardRemove())
    assert lan.reply_keyboard is None


@pytest.mark.parametrize(
    ("markup", "message"),
    [
        ({"inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]}, "Button_data_invalid"),
        ({"inline_keyboard": [[{"text": "x", "callback_data": "đ" * 33}]]}, "Button_data_invalid"),
        ({"inline_keyboard": [[{"text": "x", "callback_data": ""}]]},
         "Can't parse inline keyboard button: text buttons are unallowed in the inline keyboard"),
        ({"inline_keyboard": [[{"text": "x"}]]},
         "Can't parse inline keyboard button: text buttons are unallowed in the inline keyboard"),
        ({"inline_keyboard": [[{"callback_data": "x"}]]},
         "Can't parse inline keyboard button: can't find field \"text\""),
        ({"inline_keyboard": {"text": "x"}},
         'Field "inline_keyboard" of the inlinekeyboardmarkup must be an array'),
        ({"inline_keyboard": [[{"text": str(i), "callback_data": str(i)}] for i in range(101)]},
         "Reply markup is too long"),
        ("not json", "Can't parse reply keyboard markup json object"),
    ],
)
async def test_bad_reply_markup(tg, emulator, lan, markup, message):
    emulator.expect_error(400)
    raw = markup if isinstance(markup, str) else json.dumps(markup)
    with pytest.raises(BadRequest) as info:
        await tg.do_api_request("sendmessage", api_kwargs={"chat_id": lan.id, "text": "x", "reply_markup": raw})
    assert info.value.message == message


async def test_callback_data_of_64_bytes_is_accepted(tg, lan):
    data = "đ" * 32
    sent = await tg.send_message(lan.id, "x", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("ok", callback_data=data)]]))
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == data


async def test_replies(tg, emulator, lan):
    asked = await lan.send("Đường Lê Lợi ngập")
    reply = await tg.send_message(lan.id, "Đã nhận", reply_parameters=ReplyParameters(asked.message_id))
    assert reply.reply_to_message.text == "Đường Lê Lợi ngập"
    assert (await lan.next_message()).reply_to_message_id == asked.message_id
    emulator.expect_error("message to be replied not found")
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await tg.send_message(lan.id, "x", reply_parameters=ReplyParameters(999))
    lenient = await tg.send_message(lan.id, "x", reply_parameters=ReplyParameters(999,
                                                                                   allow_sending_without_reply=True))
    assert lenient.reply_to_message is None


async def test_edit_message_text_and_markup(tg, emulator, lan):
    sent = await tg.send_message(lan.id, "Đang xử lý", reply_markup=keyboard("Huỷ"))
    view = await lan.next_message()
    edited = await tg.edit_message_text("<i>Đã xử lý</i>", chat_id=lan.id, message_id=sent.message_id,
                                        parse_mode="HTML", reply_markup=keyboard("Đánh giá"))
    assert edited.text == "Đã xử lý" and edited.edit_date is not None
    assert (view.text, view.html, view.buttons, view.edit_count) == ("Đã xử lý", "<i>Đã xử lý</i>", [["Đánh giá"]], 1)
    emulator.expect_error("message is not modified")
    with pytest.raises(BadRequest) as info:
        await tg.edit_message_text("<i>Đã xử lý</i>", chat_id=lan.id, message_id=sent.message_id,
                                   parse_mode="HTML", reply_markup=keyboard("Đánh giá"))
    assert info.value.message == (
        "Message is not modified: specified new message content and reply markup are exactly the same as a "
        "current content and reply markup of the message")
    # the same text without reply_markup removes the keyboard: that is a change
    await tg.edit_message_text("<i>Đã xử lý</i>", chat_id=lan.id, message_id=sent.message_id, parse_mode="HTML")
    assert view.buttons == [] and view.edit_count == 2
    await tg.edit_message_reply_markup(chat_id=lan.id, message_id=sent.message_id, reply_markup=keyboard("1", "2"))
    assert view.buttons == [["1"], ["2"]]
    with pytest.raises(BadRequest, match="Message is not modified"):
        await tg.edit_message_reply_markup(chat_id=lan.id, message_id=sent.message_id,
                                           reply_markup=keyboard("1", "2"))
    assert len(emulator.errors) == 2


async def test_edit_errors(tg, emulator, lan):
    photo_message = await tg.send_photo(lan.id, (await lan.send_photo()).photo)
    text_message = await tg.send_message(lan.id, "x")
    user_message = await lan.send("của tôi")
    emulator.expect_error(400)
    with pytest.raises(BadRequest, match="^Message to edit not found$"):
        await tg.edit_message_text("y", chat_id=lan.id, message_id=999)
    with pytest.raises(BadRequest, match="^There is no text in the message to edit$"):
        await tg.edit_message_text("y", chat_id=lan.id, message_id=photo_message.message_id)
    with pytest.raises(BadRequest, match="^There is no caption in the message to edit$"):
        await tg.edit_message_caption(chat_id=lan.id, message_id=text_message.message_id, caption="c")
    with pytest.raises(BadRequest, match="^Message can't be edited$"):
        await tg.edit_message_text("y", chat_id=lan.id, message_id=user_message.message_id)
    with pytest.raises(BadRequest, match="^Message text is empty$"):
        await tg.edit_message_text("", chat_id=lan.id, message_id=text_message.message_id)


async def test_edit_caption(tg, emulator, lan):
    photo = (await lan.send_photo()).photo
    sent = await tg.send_photo(lan.id, photo, caption="Ảnh 1")
    view = await lan.next_message()
    edited = await tg.edit_message_caption(chat_id=lan.id, message_id=sent.message_id, caption="<b>Ảnh</b> 2",
                                           parse_mode="HTML")
    assert edited.caption == "Ảnh 2" and [e.type for e in edited.caption_entities] == ["bold"]
    assert (view.caption, view.html) == ("Ảnh 2", "<b>Ảnh</b> 2")
    emulator.expect_error("message caption is too long")
    with pytest.raises(BadRequest, match="^Message caption is too long$"):
        await tg.edit_message_caption(chat_id=lan.id, message_id=sent.message_id, caption="c" * 1025)


async def test_delete_message(tg, emulator, lan):
    sent = await tg.send_message(lan.id, "tạm thời")
    view = await lan.next_message()
    own = await lan.send("xoá tôi")
    assert await tg.delete_message(lan.id, sent.message_id) is True
    assert await tg.delete_message(lan.id, own.message_id) is True  # bots may delete incoming private messages
    assert view.deleted and own.deleted and lan.messages == []
    emulator.expect_error("message to delete not found")
    with pytest.raises(BadRequest, match="^Message to delete not found$"):
        await tg.delete_message(lan.id, sent.message_id)
    with pytest.raises(BadRequest, match="^Message to delete not found$"):
        await tg.delete_message(lan.id, 12345)


async def test_delete_messages_and_chat_lookups(tg, emulator, lan):
    first = await tg.send_message(lan.id, "1")
    second = await tg.send_message(lan.id, "2")
    assert await tg.delete_messages(lan.id, [first.message_id, second.message_id, 999]) is True
    assert lan.messages == []
    chat = await tg.get_chat(lan.id)
    assert (chat.id, chat.type, chat.first_name, chat.username) == (lan.id, "private", "Lan", "lan_hn")
    member = await tg.get_chat_member(lan.id, lan.id)
    assert (member.status, member.user.language_code) == ("member", "vi")
    group = emulator.group("Tổ dân phố", members=[lan], bot_admin=True)
    assert (await tg.get_chat(group.id)).title == "Tổ dân phố"
    assert (await tg.get_chat_member(group.id, emulator.bot_user.id)).status == "administrator"
    assert (await tg.get_chat_member(group.id, emulator.user(first_name="Ngoài").id)).status == "left"


async def test_answer_callback_query_once(tg, emulator, lan):
    await tg.send_message(lan.id, "Chọn ngôn ngữ", reply_markup=keyboard("Tiếng Việt", "English"))
    tap = await lan.tap("English")
    update = (await tg.get_updates())[0]
    query = update.callback_query
    assert (query.data, query.from_user.id, query.message.text) == ("cb:English", lan.id, "Chọn ngôn ngữ")
    assert await tg.answer_callback_query(query.id, text="Đã chọn", show_alert=True) is True
    assert await tap.answer() == ("Đã chọn", True, None)
    emulator.expect_error("query is too old")
    with pytest.raises(BadRequest) as info:
        await tg.answer_callback_query(query.id)
    assert info.value.message == "Query is too old and response timeout expired or query id is invalid"
    with pytest.raises(BadRequest, match="Query is too old"):
        await tg.answer_callback_query("12345")


async def test_send_location_and_chat_action(tg, emulator, lan):
    sent = await tg.send_location(lan.id, 16.4637, 107.5909)
    assert (sent.location.latitude, sent.location.longitude) == (16.4637, 107.5909)
    assert (await lan.next_message()).location == {"latitude": 16.4637, "longitude": 107.5909}
    assert await tg.send_chat_action(lan.id, "typing") is True
    assert lan.chat.last_action[0] == "typing"
    emulator.expect_error(400)
    with pytest.raises(BadRequest, match="^Wrong parameter action in request$"):
        await tg.send_chat_action(lan.id, "dancing")
    with pytest.raises(BadRequest, match="^Wrong location specified$"):
        await tg.send_location(lan.id, 91, 0)


async def test_my_commands_by_scope_and_language(tg, emulator, lan):
    from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat

    await tg.set_my_commands([BotCommand("start", "Bắt đầu"), BotCommand("report", "Phản ánh")])
    await tg.set_my_commands([BotCommand("start", "Start")], language_code="en")
    await tg.set_my_commands([BotCommand("help", "Trợ giúp")], scope=BotCommandScopeAllPrivateChats())
    assert [c.command for c in await tg.get_my_commands()] == ["start", "report"]
    assert [c.description for c in await tg.get_my_commands(language_code="en")] == ["Start"]
    assert await tg.get_my_commands(language_code="de") == ()
    assert [c["command"] for c in lan.commands()] == ["help"]
    assert await tg.delete_my_commands(scope=BotCommandScopeAllPrivateChats()) is True
    assert [c["command"] for c in lan.commands()] == ["start", "report"]
    await tg.set_my_commands([BotCommand("mod", "Kiểm duyệt")], scope=BotCommandScopeChat(lan.id))
    assert [c["command"] for c in lan.commands()] == ["mod"]
    emulator.expect_error(400)
    with pytest.raises(BadRequest, match="^Bot_command_invalid$"):
        await tg.set_my_commands([BotCommand("Báo cáo", "x")])
    with pytest.raises(BadRequest, match="^Bot_command_description_invalid$"):
        await tg.set_my_commands([BotCommand("ok", "")])


async def test_bot_profile_texts_and_menu_button(tg, lan):
    from telegram import MenuButtonCommands, MenuButtonWebApp, WebAppInfo

    assert await tg.set_my_description("Kênh của thành phố", language_code="vi")
    await tg.set_my_short_description("Cảnh báo và phản ánh")
    assert (await tg.get_my_description(language_code="vi")).description == "Kênh của thành phố"
    assert (await tg.get_my_description()).description == ""
    assert (await tg.get_my_short_description(language_code="vi")).short_description == "Cảnh báo và phản ánh"
    assert (await tg.get_my_name()).name == "Loa Test Bot"
    assert await tg.get_chat_menu_button() == MenuButtonCommands()
    app = MenuButtonWebApp("Bản đồ", WebAppInfo("https://hue.gov.vn/map"))
    await tg.set_chat_menu_button(lan.id, app)
    assert await tg.get_chat_menu_button(lan.id) == app

