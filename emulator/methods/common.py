"""Steps shared by the sending methods: replies, flood limits, bookkeeping after a send."""

from __future__ import annotations

from emulator.errors import bad_request, too_many_requests
from emulator.methods.registry import Context
from emulator.model import Chat, Message


def target_chat(ctx: Context, *, sending: bool = True) -> Chat:
    return ctx.state.resolve_chat(ctx.bot, ctx.params.chat_id(), sending=sending)


def replied_message(ctx: Context, chat: Chat) -> Message | None:
    """The message a send replies to, from reply_parameters or the older reply_to_message_id."""
    params = ctx.params
    reply = params.json("reply_parameters", "reply parameters")
    if isinstance(reply, dict):
        try:
            message_id = int(reply.get("message_id") or 0)
        except (TypeError, ValueError):
            message_id = 0
        allow_missing = bool(reply.get("allow_sending_without_reply"))
        if reply.get("chat_id") not in (None, "", chat.id, str(chat.id)):
            other = ctx.state.resolve_chat(ctx.bot, _chat_id(reply["chat_id"]), sending=False)
            found = other.messages.get(message_id)
            if (found is None or found.deleted) and not allow_missing:
                raise bad_request("message to be replied not found")
            return found if found is not None and not found.deleted else None
    else:
        message_id = params.int("reply_to_message_id")
        allow_missing = params.bool("allow_sending_without_reply")
    if message_id <= 0:
        return None
    found = chat.messages.get(message_id)
    if found is None or found.deleted:
        if allow_missing:
            return None
        raise bad_request("message to be replied not found")
    return found


def _chat_id(value) -> int | str:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return text if text.startswith("@") else int(text) if text.lstrip("-").isdigit() else 0


def take_rate(ctx: Context, chat: Chat, count: int = 1) -> None:
    wait = ctx.limits.retry_after(ctx.bot.token, chat.id, chat.is_private, count,
                                  paid=ctx.params.bool("allow_paid_broadcast"))
    if wait:
        raise too_many_requests(wait)


def new_message(ctx: Context, chat: Chat, reply_to: Message | None, markup: dict | None, **fields) -> Message:
    """Store a message the bot sends, with the options every sending method shares."""
    params = ctx.params
    message = ctx.state.add_message(
        chat, ctx.bot.user, reply_to=reply_to, reply_markup=markup,
        protected=params.bool("protect_content"), **fields,
    )
    if markup is not None:
        if "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None
    return message
