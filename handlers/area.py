"""Choosing the resident's area: by shared location, by tapping down the tree, or by typing a name."""

from __future__ import annotations

from telegram import ReplyKeyboardRemove, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from handlers import callbacks, edits, prompts
from handlers.awaiting import Awaiting
from handlers.cards import Card, area_level, edit, reply
from handlers.context import LoaContext
from handlers.onboarding import area_prompt, for_resident, next_step, stale_button
from kernel.i18n import translator
from storage import areas, residents
from storage.models import Resident

PRIVATE = filters.ChatType.PRIVATE


async def area_locator(context: LoaContext) -> areas.AreaLocator:
    locator = context.bot_data.get("area_locator")
    if locator is None:
        async with context.db.read() as session:
            locator = await areas.AreaLocator.load(session)
        context.bot_data["area_locator"] = locator
    return locator


async def _set_area(update: Update, context: LoaContext, code: str) -> bool:
    """Make `code` the resident's area and show what comes next; False if nothing was changed."""
    async with context.db.transaction() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id, for_update=True)
        area = await areas.get(session, code)
        if resident is None or area is None:
            return False
        # The same area tapped again once it was taken (the list's second tap): already done.
        again = (update.callback_query is not None and resident.awaiting != Awaiting.AREA
                 and resident.area_code == area.code)
        resident.area_code = area.code
        _ = translator(resident.language).gettext
        done = _("✅ Your area: {area}").format(area=prompts.area_name(area, resident.language))
        following = None
        if resident.onboarded:
            resident.awaiting = None
        elif not again:
            following = await next_step(session, resident, Awaiting.AREA)
    if again and await context.resume(update):
        return True
    if update.callback_query:
        # The list has served: its buttons go, the answer follows as a new message that also
        # takes away the location keyboard.
        await update.callback_query.answer()
        await edits.query_markup(context.application, update.callback_query, None)
    if again:
        return True
    await reply(update, Card(done, ReplyKeyboardRemove()))
    if following is not None:
        await reply(update, following)
    return True


async def area_command(update: Update, context: LoaContext) -> None:
    async def build(session, resident: Resident) -> Card:
        resident.awaiting = Awaiting.AREA
        return await area_prompt(session, resident)

    await for_resident(update, context, build)


async def picker_page(update: Update, context: LoaContext) -> None:
    """`ap:<code or ->:<page>`: the children of an area, or that area itself when it has none."""
    query = update.callback_query
    code, page = callbacks.area_page(query.data)
    async with context.db.read() as session:
        resident = await residents.by_telegram_id(session, update.effective_user.id)
        level = await area_level(session, code)
    if resident is None or level is None:
        await stale_button(update, context)
        return
    parent, children = level
    if parent is not None and not children:
        if not await _set_area(update, context, parent.code):
            await stale_button(update, context)
        return
    await query.answer()
    await edit(context.application, query, prompts.picker(resident, parent, children, page))


async def pick(update: Update, context: LoaContext) -> None:
    """`as:<code>`: an area chosen from a list of search results."""
    if not await _set_area(update, context, callbacks.AREA_PICK.args(update.callback_query.data)[0]):
        await stale_button(update, context)


async def on_message(update: Update, context: LoaContext, resident: Resident) -> bool:
    """A message while the area is awaited: a shared location, or a typed name."""
    if update.effective_message.location:
        await shared_location(update, context, resident)
    else:
        await typed_name(update, context, resident)
    return True


async def shared_location(update: Update, context: LoaContext, resident: Resident) -> None:
    location = update.effective_message.location
    code = (await area_locator(context)).locate(location.latitude, location.longitude)
    if code is not None and await _set_area(update, context, code):
        return
    _ = translator(resident.language).gettext
    async with context.db.read() as session:
        top = await areas.children(session, None)
    await reply(update, Card(
        _("This location is outside the areas Loa knows. Please pick your area from the list, "
          "or type the name of your ward.")))
    await reply(update, prompts.picker(resident, None, top, 0))


async def typed_name(update: Update, context: LoaContext, resident: Resident) -> None:
    text = update.effective_message.text.strip()
    _ = translator(resident.language).gettext
    if len(text) > 80:
        await reply(update, Card(
            _("That is too long for a place name. Type just the name of your ward, for example: Long Biên")))
        return
    async with context.db.read() as session:
        if text in prompts.pick_list_labels():
            await reply(update, prompts.picker(resident, None, await areas.children(session, None), 0))
            return
        found = await areas.search(session, text, limit=8)
        parents = {}
        for area in found:
            if area.parent_code and area.parent_code not in parents:
                parents[area.parent_code] = await areas.get(session, area.parent_code)
    exact = [a for a in found if areas.normalize(text) in (areas.normalize(a.name_vi), areas.normalize(a.full_name_vi))]
    if not found:
        await reply(update, Card(
            _("I found no area called “{name}”. Check the spelling, type another name, "
              "or tap “📋 Pick from the list”.").format(name=text)))
    elif len(found) == 1 or len(exact) == 1:
        await _set_area(update, context, (exact or found)[0].code)
    else:
        await reply(update, Card(_("Several areas match. Which one is yours?"),
                                 prompts.area_choices(resident, found, parents)))


HANDLERS = [
    CommandHandler("area", area_command, filters=PRIVATE),
    CallbackQueryHandler(picker_page, pattern=callbacks.AREA_PAGE.pattern),
    CallbackQueryHandler(pick, pattern=callbacks.AREA_PICK.pattern),
]
