"""Methods that change or remove sent messages."""

from __future__ import annotations

import time

from emulator.errors import NOT_MODIFIED, bad_request
from emulator.formatting import caption, message_text
from emulator.markup import inline_only, reply_markup
from emulator.methods.common import target_chat
from emulator.methods.registry import Context, method
from emulator.model import Chat, Message


def _message_to_edit(ctx: Context) -> Message:
    params = ctx.params
    if "chat_id" not in params and params.int("message_id") <= 0:
        if "inline_message_id" in params:
            raise bad_request("MESSAGE_ID_INVALID")
        raise bad_request("message identifier is not specified")
    chat = target_chat(ctx, sending=False)
    message = chat.messages.get(params.int("message_id"))
    if message is None or message.deleted:
        raise bad_request("message to edit not found")
    if message.sender.id != ctx.bot.id:
        raise bad_request("message can't be edited")
    return message


def _commit_edit(ctx: Context, message: Message, changed: bool, markup: dict | None, **fields) -> dict:
    if not changed and markup == _inline_markup(message):
        raise bad_request(NOT_MODIFIED)
    for name, value in fields.items():
        setattr(message, name, value)
    message.reply_markup = markup
    message.edit_date = int(time.time())
    message.edit_count += 1
    ctx.state.notify("edit", message.chat, message)
    return message.to_dict()


def _inline_markup(message: Message) -> dict | None:
    markup = message.reply_markup
    return markup if markup is not None and "inline_keyboard" in markup else None


@method("editMessageText")
def edit_message_text(ctx: Context) -> dict:
    text = message_text(ctx.params, ctx.state.user_dicts())
    markup = inline_only(reply_markup(ctx.params))
    message = _message_to_edit(ctx)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    changed = message.text != text.text or (message.entities or []) != text.entities
    return _commit_edit(ctx, message, changed, markup, text=text.text, entities=text.entities, raw=text.raw,
                        parse_mode=ctx.params.str("parse_mode") or None)


@method("editMessageCaption")
def edit_message_caption(ctx: Context) -> dict:
    markup = inline_only(reply_markup(ctx.params))
    text = caption(ctx.params, ctx.state.user_dicts())
    message = _message_to_edit(ctx)
    if message.text is not None or message.location is not None:
        raise bad_request("there is no caption in the message to edit")
    new_text = text.text if text else None
    new_entities = text.entities if text else None
    changed = message.caption != new_text or (message.caption_entities or []) != (new_entities or [])
    return _commit_edit(ctx, message, changed, markup, caption=new_text, caption_entities=new_entities,
                        raw_caption=text.raw if text else None)


@method("editMessageReplyMarkup")
def edit_message_reply_markup(ctx: Context) -> dict:
    markup = inline_only(reply_markup(ctx.params))
    message = _message_to_edit(ctx)
    return _commit_edit(ctx, message, False, markup)


def _delete(ctx: Context, chat: Chat, message_id: int) -> bool:
    message = chat.messages.get(message_id)
    if message is None or message.deleted:
        return False
    if message.sender.id != ctx.bot.id and not chat.is_private and chat.bots.get(ctx.bot.id) != "administrator":
        raise bad_request("message can't be deleted")
    message.deleted = True
    ctx.state.notify("delete", chat, message)
    return True


@method("deleteMessage")
def delete_message(ctx: Context) -> bool:
    params = ctx.params
    if "chat_id" not in params:
        raise bad_request("chat identifier is not specified")
    if params.int("message_id") <= 0:
        raise bad_request("message identifier is not specified")
    chat = target_chat(ctx, sending=False)
    if not _delete(ctx, chat, params.int("message_id")):
        raise bad_request("message to delete not found")
    return True


@method("deleteMessages")
def delete_messages(ctx: Context) -> bool:
    ids = ctx.params.json("message_ids", "message identifiers")
    if not isinstance(ids, list) or not ids:
        raise bad_request("message identifiers are not specified")
    if len(ids) > 100:
        raise bad_request("too many message identifiers specified")
    chat = target_chat(ctx, sending=False)
    deleted = False
    for message_id in ids:
        try:
            deleted = _delete(ctx, chat, int(message_id)) or deleted
        except (TypeError, ValueError):
            continue
    if not deleted:
        raise bad_request("message to delete not found")
    return True
