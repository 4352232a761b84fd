"""/help, /cancel, and a helpful answer to anything the bot did not ask for; messages for the
area step and the report wizard are passed on to them."""

from __future__ import annotations

from telegram import ReplyKeyboardRemove, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers.context import LoaContext
from kernel.i18n import translator
from complaints import drafts
from handlers import area, broadcasting, rating, reporting
from handlers.onboarding import language_of, stale_button
from handlers.prompts import Prompt
from handlers.replies import send
from storage import residents

PRIVATE = filters.ChatType.PRIVATE


def help_text(language: str) -> str:
    _ = translator(language).gettext
    return _(
        "Loa connects you with the city.\n\n"
        "• Alerts: the city sends warnings about weather, traffic, health, food safety, "
        "security and power or water cuts in your area.\n"
        "• Reports: tell the city about a problem (a pothole, garbage, a broken street light...) "
        "with photos and the place, and follow what is done about it.\n\n"
        "Commands:\n"
        "/report – report a problem\n"
        "/myreports – the problems you reported\n"
        "/status CODE – one report's details and history\n"
        "/stats – how the agencies handle reports\n"
        "/subscriptions – choose which alerts you receive\n"
        "/area – change your ward or commune\n"
        "/quiet – quiet hours at night\n"
        "/language – Tiếng Việt or English\n"
        "/stop – receive no more alerts\n"
        "/forget – delete your data\n"
        "/help – this message"
    )


async def _resident(update: Update, context: LoaContext):
    async with context.db.lookup() as session:
        return await residents.by_telegram_id(session, update.effective_user.id)


async def help_command(update: Update, context: LoaContext) -> None:
    await send(update, Prompt(help_text(language_of(update, context, await _resident(update, context)))))


async def cancel(update: Update, context: LoaContext) -> None:
    if await broadcasting.cancel(update, context):
        return
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        photos = await drafts.discard(session, resident.id) if resident is not None else None
        had_draft = photos is not None
        if resident is not None and (resident.onboarded or resident.awaiting == "report"):
            resident.awaiting = None
    await reporting.remove_photos(context, photos)
    _ = translator(language_of(update, context, resident)).gettext
    if had_draft:
        await send(update, Prompt(_("The report was cancelled; nothing was sent."), ReplyKeyboardRemove()))
        return
    await send(update, Prompt(_("Cancelled. Nothing was changed.")))


def _reminder(resident, _) -> str:
    """What the resident was in the middle of, so they can carry on."""
    if resident is None:
        return _("Send /start to begin.")
    if resident.awaiting == "area":
        return _("I am waiting for your area: share your location, tap “📋 Pick from the list”, "
                 "or type the name of your ward.")
    if resident.awaiting == "language":
        return _("Please choose your language with the buttons above, or send /start.")
    if resident.awaiting == "report":
        return _("You are writing a report: answer the last question, or send /cancel to abandon it.")
    if resident.awaiting == "comment":
        return _("Type a comment on how your report was handled, or tap Skip.")
    if resident.awaiting in ("topics", "quiet"):
        return _("Please use the buttons above to continue, or send /start.")
    return _("Send /help to see what I can do.")


async def unexpected(update: Update, context: LoaContext) -> None:
    """Anything that is not a known command: typed area names and shared locations go to the
    area step when it waits for them; everything else gets a short reminder of where they are."""
    resident = await _resident(update, context)
    message = update.effective_message
    if (resident is None or resident.awaiting not in ("report", "area", "comment")) \
            and not (message.text or "").startswith("/"):
        if await broadcasting.on_message(update, context):
            return
    if resident is not None and resident.awaiting == "report" and not (message.text or "").startswith("/"):
        if await reporting.on_message(update, context, resident):
            return
        resident.awaiting = None
    if resident is not None and resident.awaiting == "comment" and message.text and not message.text.startswith("/"):
        if await rating.on_comment(update, context, resident):
            return
        resident.awaiting = None
    if resident is not None and resident.awaiting == "area":
        if message.location:
            await area.shared_location(update, context, resident)
            return
        if message.text and not message.text.startswith("/"):
            await area.typed_name(update, context, resident)
            return
    _ = translator(language_of(update, context, resident)).gettext
    if message.text and message.text.startswith("/"):
        opening = _("I don't know that command.")
    elif message.text:
        opening = _("I didn't understand that.")
    else:
        opening = _("I can't use this kind of message here.")
    await send(update, Prompt(opening + " " + _reminder(resident, _)))


HANDLERS = [
    CommandHandler("help", help_command, filters=PRIVATE),
    CommandHandler("cancel", cancel, filters=PRIVATE),
]

# Registered after every other handler.
LAST = [
    MessageHandler(PRIVATE & ~filters.StatusUpdate.ALL, unexpected),
    CallbackQueryHandler(stale_button),
]
