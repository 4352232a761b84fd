"""The handlers' UI kit: `Card`, the one kind of message the bot composes, with its one `send`
and one `edit` (through handlers/edits.py, so an edit that changes nothing is not sent and
"message is not modified" counts as done); and `area_page`, the paginated area picker of the
settings, the report wizard and the broadcaster's wizard.

The prompt builders (prompts.py, report_prompts.py, broadcast_prompts.py) make Cards; the
handlers decide when to send them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import Application, CallbackContext

from handlers import edits
from kernel.i18n import translator
from storage import areas
from storage.models import Area

PROVINCES_PER_PAGE = 10
WARDS_PER_PAGE = 12


@dataclass
class Card:
    """One message: a text, or a photo with the text as its caption; Telegram HTML when `html`
    (then without a link preview unless `link_preview`); `extra`: cards sent right after it."""

    text: str
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None
    photo: str | None = None
    html: bool = False
    extra: list[Card] = field(default_factory=list)
    link_preview: bool = True

    @property
    def parse_mode(self) -> str | None:
        return ParseMode.HTML if self.html else None


async def send(bot, chat_id: int, card: Card) -> Message:
    """Send `card` (then its extras) to `chat_id`; the message of the card itself."""
    if card.photo:
        message = await bot.send_photo(chat_id, card.photo, caption=card.text, parse_mode=card.parse_mode,
                                       reply_markup=card.markup)
    else:
        message = await bot.send_message(
            chat_id, card.text, parse_mode=card.parse_mode, reply_markup=card.markup,
            disable_web_page_preview=True if card.html and not card.link_preview else None)
    for extra in card.extra:
        await send(bot, chat_id, extra)
    return message


async def reply(update: Update, *items: Card) -> Message | None:
    """Send the cards, in order, to the chat of `update`; the message of the last."""
    message = None
    for card in items:
        message = await send(update.get_bot(), update.effective_chat.id, card)
    return message


async def edit(application: Application, query: CallbackQuery, card: Card) -> None:
    """Edit the tapped message into `card` (its text, or its caption when the card is a photo; a
    keyboard only if inline), unless it already shows exactly that."""
    markup = card.markup if isinstance(card.markup, InlineKeyboardMarkup) else None
    if card.photo:
        message = query.message
        await edits.caption(application, message.chat.id, message.message_id, card.text, parse_mode=card.parse_mode,
                            reply_markup=markup, message=message if isinstance(message, Message) else None)
        return
    await edits.query_text(application, query, card.text, parse_mode=card.parse_mode, reply_markup=markup)


async def show(update: Update, context: CallbackContext, card: Card) -> None:
    """In place when answering a button whose message can hold the card, else a new message."""
    if update.callback_query and (card.markup is None or isinstance(card.markup, InlineKeyboardMarkup)):
        await edit(context.application, update.callback_query, card)
    else:
        await reply(update, card)


# ---------------------------------------------------------------- the area picker


@dataclass(frozen=True)
class AreaPage:
    """One page of the picker: its keyboard rows, and " (page x of y)" when there are pages."""

    rows: list[list[InlineKeyboardButton]]
    note: str


def area_page(parent: Area | None, children: list[Area], page: int, language: str, *,
              browse: Callable[[str, int], str], choose: Callable[[str], str] | None = None,
              chosen: Iterable[str] = (), back_to_top: bool = False) -> AreaPage:
    """One page of the areas under `parent` (the provinces when None), two buttons a row, then
    ‹ Previous / Next ›, then (under a province) the way back.

    `browse(code, page)`: the data of a button that opens page `page` of `code`'s areas ("-":
    the provinces); a child's button opens its own areas, unless `choose(code)` is given, whose
    data the wards' buttons then carry. `chosen`: areas marked ✅. `back_to_top`: the way back
    leads to the provinces ("‹ All provinces") rather than one level up ("‹ Back")."""
    _ = translator(language).gettext
    per_page = WARDS_PER_PAGE if parent is not None else PROVINCES_PER_PAGE
    pages = max(1, -(-len(children) // per_page))
    page = min(max(page, 0), pages - 1)
    shown = children[page * per_page:(page + 1) * per_page]
    marked = set(chosen)

    def label(area: Area) -> str:
        return ("✅ " if area.code in marked else "") + (area.name_en if language == "en" else area.name_vi)

    def data(area: Area) -> str:
        return choose(area.code) if parent is not None and choose is not None else browse(area.code, 0)

    buttons = [InlineKeyboardButton(label(a), callback_data=data(a)) for a in shown]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    key = parent.code if parent is not None else "-"
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(_("‹ Previous"), callback_data=browse(key, page - 1)))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(_("Next ›"), callback_data=browse(key, page + 1)))
    if nav:
        rows.append(nav)
    if parent is not None:
        if back_to_top:
            rows.append([InlineKeyboardButton(_("‹ All provinces"), callback_data=browse("-", 0))])
        else:
            rows.append([InlineKeyboardButton(_("‹ Back"), callback_data=browse(parent.parent_code or "-", 0))])
    note = " " + _("(page {page} of {pages})").format(page=page + 1, pages=pages) if pages > 1 else ""
    return AreaPage(rows, note)


def page_of(parent: Area | None, children: list[Area], code: str) -> int:
    """The page of `area_page` that shows area `code` (0 when it is not among `children`)."""
    codes = [a.code for a in children]
    if code not in codes:
        return 0
    return codes.index(code) // (WARDS_PER_PAGE if parent is not None else PROVINCES_PER_PAGE)


async def area_level(session, code: str | None) -> tuple[Area | None, list[Area]] | None:
    """The area `code` (None: the top level) and its children; None when there is no such area."""
    parent = await areas.get(session, code) if code is not None else None
    if code is not None and parent is None:
        return None
    return parent, await areas.children(session, code)
