"""Sending a prompt: as a new message, or in place of the message whose button was tapped."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.ext import CallbackContext

from handlers import edits
from handlers.prompts import Prompt


async def edit(context: CallbackContext, query: CallbackQuery, prompt: Prompt) -> None:
    """Edit the tapped message into `prompt`, unless it already says exactly that."""
    markup = prompt.markup if isinstance(prompt.markup, InlineKeyboardMarkup) else None
    await edits.query_text(context.application, query, prompt.text, reply_markup=markup)


async def send(update: Update, prompt: Prompt) -> Message:
    return await update.effective_chat.send_message(prompt.text, reply_markup=prompt.markup)


async def show(update: Update, context: CallbackContext, prompt: Prompt) -> None:
    """In place when answering a button whose message can hold the prompt, else a new message."""
    if update.callback_query and (prompt.markup is None or isinstance(prompt.markup, InlineKeyboardMarkup)):
        await edit(context, update.callback_query, prompt)
    else:
        await send(update, prompt)
