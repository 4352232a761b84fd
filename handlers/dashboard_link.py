"""/dashboard: a member of staff asks for a one-time sign-in link to the web dashboard
(storage/logins.py, web/dashboard/). Anyone else is told it is for staff only."""

from __future__ import annotations

import html

from telegram import LinkPreviewOptions, Update
from telegram.ext import CommandHandler, filters

from handlers.broadcasting import staff_language
from handlers.context import LoaContext
from kernel.i18n import translator
from storage import logins, roles

PRIVATE = filters.ChatType.PRIVATE


async def dashboard_command(update: Update, context: LoaContext) -> None:
    user = update.effective_user
    async with context.db.transaction() as session:
        language = await staff_language(session, update, context)
        staff = user.id in context.settings.admin_ids or await roles.has_role(session, user.id)
        if staff:
            key = logins.signing_key(context.settings.telegram_bot_token.get_secret_value())
            token = await logins.create_link(session, key, user.id, name=user.full_name, language=language,
                                             now=context.now())
    _ = translator(language).gettext
    if not staff:
        await update.effective_chat.send_message(_("The dashboard is for moderators, agency staff and "
                                                   "broadcasters. Ask the city's administrator for a role."))
        return
    link = f"{context.settings.dashboard_base}/dashboard/login?t={token}"
    text = _("Your sign-in link to the Loa dashboard. It works once, within {minutes} minutes, and only "
             "for you: do not pass it on.").format(minutes=logins.LINK_MINUTES)
    # No preview: Telegram would fetch the link itself (the link shows a page with a button, so
    # a fetch would not spend it anyway).
    await update.effective_chat.send_message(f'{html.escape(text)}\n\n<a href="{html.escape(link)}">'
                                             f'{html.escape(link)}</a>', parse_mode="HTML",
                                             link_preview_options=LinkPreviewOptions(is_disabled=True))


HANDLERS = [CommandHandler("dashboard", dashboard_command, filters=PRIVATE)]
