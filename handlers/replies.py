"""Sending a prompt: as a new message, or in place of the message whose button was tapped."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update

from handlers.prompts import Prompt


async def edit(query: CallbackQuery, prompt: Prompt) -> None:
    """Edit the tapped message into `prompt`, unless it already says exactly that
    (Telegram refuses an edit that changes nothing)."""
    message = query.message
    markup = prompt.markup if isinstance(prompt.markup, InlineKeyboardMarkup) else None
    current = message.reply_markup if isinstance(message, Message) else None
    if isinstance(message, Message) and message.text == prompt.text and current == markup:
        return
    await query.edit_message_text(prompt.text, reply_markup=markup)


async def send(update: Update, prompt: Prompt) -> Message:
    return await update.effective_chat.send_message(prompt.text, reply_markup=prompt.markup)


async def show(update: Update, prompt: Prompt) -> None:
    """In place when answering a button whose message can hold the prompt, else a new message."""
    if update.callback_query and (prompt.markup is None or isinstance(prompt.markup, InlineKeyboardMarkup)):
        await edit(update.callback_query, prompt)
    else:
        await send(update, prompt)
