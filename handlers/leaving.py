"""Leaving: /stop (no more alerts), /forget (delete personal data), and blocking the bot."""

from __future__ import annotations

from telegram import ChatMember, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, ChatMemberHandler, CommandHandler, filters

from complaints import drafts, media
from handlers import callbacks
from handlers.cards import Card, edit, reply
from handlers.context import LoaContext
from handlers.onboarding import language_of, stale_button
from kernel.i18n import translator
from storage import residents

PRIVATE = filters.ChatType.PRIVATE


async def stop(update: Update, context: LoaContext) -> None:
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        if resident is not None:
            resident.alerts_enabled = False
            resident.awaiting = None
    _ = translator(language_of(update, context, resident)).gettext
    await reply(update, Card(_("Done: you will receive no more alerts. Reports you sent, and their "
                               "updates, still reach you. To receive alerts again, send /start.")))


async def forget(update: Update, context: LoaContext) -> None:
    resident = await residents.find(context.db, update.effective_user.id)
    _ = translator(language_of(update, context, resident)).gettext
    if resident is None:
        await reply(update, Card(_("Loa keeps no personal data about you.")))
        return
    buttons = InlineKeyboardMarkup([[
        InlineKeyboardButton(_("Yes, delete my data"), callback_data=callbacks.FORGET.build("yes")),
        InlineKeyboardButton(_("No, keep it"), callback_data=callbacks.FORGET.build("no")),
    ]])
    await reply(update, Card(_("Delete your data? Your name, username, language, area, alert topics "
                               "and quiet hours will be deleted, and you will receive no more alerts. "
                               "Reports you sent stay with the city, without your name."), buttons))


async def confirm_forget(update: Update, context: LoaContext) -> None:
    query = update.callback_query
    user = update.effective_user
    photos: list[str] = []
    confirmed = callbacks.FORGET.args(query.data) == ["yes"]
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, user.id)
        language = resident.language if resident else None
        if confirmed and resident is not None:
            draft = await drafts.get(session, resident.id)
            photos = drafts.photo_hashes(draft.photos) if draft is not None else []
        deleted = confirmed and await residents.forget(session, user.id)
    if deleted and photos:
        # The photos of the report they were writing go with it (not those of reports they sent).
        async with context.db.read() as session:
            await media.remove_unused(session, media.MediaStore(context.settings.media_dir), photos)
    if language is None:
        await stale_button(update, context)
        return
    _ = translator(language).gettext
    await query.answer()
    if deleted:
        await edit(context.application, query, Card(_("Your data has been deleted. Thank you for using Loa. "
                                                      "If you send /start, you begin again as a new user.")))
    else:
        await edit(context.application, query, Card(_("Nothing was deleted. Your settings are as they were.")))


async def membership(update: Update, context: LoaContext) -> None:
    """Telegram tells the bot when a resident blocks it (kicked) or unblocks it (member)."""
    change = update.my_chat_member
    if change.chat.type != "private":
        return
    blocked = change.new_chat_member.status == ChatMember.BANNED
    async with context.db.transaction() as session:
        await residents.mark_blocked(session, change.from_user.id, blocked)


HANDLERS = [
    CommandHandler("stop", stop, filters=PRIVATE),
    CommandHandler("forget", forget, filters=PRIVATE),
    CallbackQueryHandler(confirm_forget, pattern=callbacks.FORGET.pattern),
    ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER),
]
