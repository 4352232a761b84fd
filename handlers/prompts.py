"""The messages of the resident's settings (language, area, topics, quiet hours) and the
onboarding that walks through them in order. Builders only: handlers decide when to send."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from kernel.i18n import translator
from storage.areas import full_name
from storage.models import Area, Resident, Topic

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
ONBOARDING = ("language", "area", "topics", "quiet")
QUIET_STARTS = (20, 21, 22, 23)
QUIET_ENDS = (5, 6, 7, 8)


@dataclass
class Prompt:
    text: str
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None = None


def texts(resident: Resident):
    return translator(resident.language).gettext


def area_name(area: Area | None, language: str) -> str:
    return "—" if area is None else full_name(area, language)


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def quiet_text(resident: Resident) -> str:
    _ = texts(resident)
    if resident.quiet_start_minute is None:
        return _("off")
    return f"{hhmm(resident.quiet_start_minute)}–{hhmm(resident.quiet_end_minute)}"


def language(preselected: str) -> Prompt:
    # Shown before the resident has chosen, so it speaks both languages.
    buttons = [
        InlineKeyboardButton(name + (" ✓" if code == preselected else ""), callback_data=f"lang:{code}")
        for code, name in LANGUAGE_NAMES.items()
    ]
    return Prompt(
        "Xin chào! Đây là Loa, kênh thông tin giữa thành phố và người dân.\n"
        "Hello! This is Loa, the city's channel to its residents.\n\n"
        "Chọn ngôn ngữ / Choose your language:",
        InlineKeyboardMarkup([buttons]),
    )


def area_buttons(resident: Resident) -> ReplyKeyboardMarkup:
    _ = texts(resident)
    return ReplyKeyboardMarkup(
        [[KeyboardButton(_("📍 Share my location"), request_location=True)], [_("📋 Pick from the list")]],
        resize_keyboard=True, one_time_keyboard=True,
    )


def area(resident: Resident) -> Prompt:
    _ = texts(resident)
    return Prompt(
        _("Which ward or commune do you live in? Alerts for it will reach you.\n\n"
           "• Tap “📍 Share my location” (works when you are at home), or\n"
           "• tap “📋 Pick from the list”, or\n"
           "• type the name of your ward, for example: Long Biên"),
        area_buttons(resident),
    )


def pick_list_labels() -> set[str]:
    return {translator(code).gettext("📋 Pick from the list") for code in LANGUAGE_NAMES}


def area_choices(resident: Resident, areas: list[Area], parents: dict[str, Area]) -> InlineKeyboardMarkup:
    """A short list of found areas, each with its province so namesakes can be told apart."""
    rows = []
    for found in areas:
        label = area_name(found, resident.language)
        parent = parents.get(found.parent_code or "")
        if parent is not None:
            label += f", {parent.name_en if resident.language == 'en' else parent.name_vi}"
        rows.append([InlineKeyboardButton(label, callback_data=f"as:{found.code}")])
    return InlineKeyboardMarkup(rows)


def picker(resident: Resident, parent: Area | None, children: list[Area], page: int) -> Prompt:
    """One page of the area tree under `parent` (the top level when None)."""
    _ = texts(resident)
    per_page = 12 if parent is not None else 10
    pages = max(1, -(-len(children) // per_page))
    page = min(max(page, 0), pages - 1)
    shown = children[page * per_page:(page + 1) * per_page]
    name = (lambda a: a.name_en) if resident.language == "en" else (lambda a: a.name_vi)
    rows = [
        [InlineKeyboardButton(name(a), callback_data=f"ap:{a.code}:0") for a in shown[i:i + 2]]
        for i in range(0, len(shown), 2)
    ]
    parent_key = parent.code if parent else "-"
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(_("‹ Previous"), callback_data=f"ap:{parent_key}:{page - 1}"))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(_("Next ›"), callback_data=f"ap:{parent_key}:{page + 1}"))
    if nav:
        rows.append(nav)
    if parent is not None:
        rows.append([InlineKeyboardButton(_("‹ Back"), callback_data=f"ap:{parent.parent_code or '-'}:0")])
    if parent is None:
        text = _("Choose your province or city:")
    else:
        text = _("Choose your ward or commune in {place}:").format(place=area_name(parent, resident.language))
    if pages > 1:
        text += " " + _("(page {page} of {pages})").format(page=page + 1, pages=pages)
    return Prompt(text, InlineKeyboardMarkup(rows))


def topics(resident: Resident, all_topics: list[Topic], chosen: set[str], *, intro: str = "") -> Prompt:
    _ = texts(resident)
    rows = [
        [InlineKeyboardButton(("✅ " if t.code in chosen else "⬜ ") + (t.name_en if resident.language == "en" else t.name_vi),
                              callback_data=f"tp:{t.code}")]
        for t in all_topics
    ]
    rows.append([InlineKeyboardButton(_("Done ✓"), callback_data="tp:!")])
    text = _("Which alerts do you want to receive? Tap a topic to turn it on or off, then tap “Done”.")
    return Prompt((intro + "\n\n" + text) if intro else text, InlineKeyboardMarkup(rows))


def quiet(resident: Resident, *, intro: str = "") -> Prompt:
    _ = texts(resident)
    text = _("Quiet hours: at night, less urgent alerts wait until the morning. "
              "Serious and extreme alerts always come at once.")
    keep = (_("Keep {hours}").format(hours=quiet_text(resident)) if resident.quiet_start_minute is not None
            else _("Use 22:00–06:00"))
    keep_data = "q:keep" if resident.quiet_start_minute is not None else "q:e:22:6"
    rows = [
        [InlineKeyboardButton(keep, callback_data=keep_data)],
        [InlineKeyboardButton(_("Other hours"), callback_data="q:chg"),
         InlineKeyboardButton(_("No quiet hours"), callback_data="q:off")],
    ]
    return Prompt((intro + "\n\n" + text) if intro else text, InlineKeyboardMarkup(rows))


def quiet_start(resident: Resident) -> Prompt:
    _ = texts(resident)
    buttons = [InlineKeyboardButton(f"{h:02d}:00", callback_data=f"q:s:{h}") for h in QUIET_STARTS]
    return Prompt(_("Quiet hours start at:"), InlineKeyboardMarkup([buttons]))


def quiet_end(resident: Resident, start: int) -> Prompt:
    _ = texts(resident)
    buttons = [InlineKeyboardButton(f"{h:02d}:00", callback_data=f"q:e:{start}:{h}") for h in QUIET_ENDS]
    return Prompt(_("Quiet hours from {start} end at:").format(start=f"{start:02d}:00"), InlineKeyboardMarkup([buttons]))


def summary(resident: Resident, area_row: Area | None, all_topics: list[Topic], chosen: set[str], *, title: str) -> Prompt:
    _ = texts(resident)
    names = [t.name_en if resident.language == "en" else t.name_vi for t in all_topics if t.code in chosen]
    alerts = ", ".join(names) if names else _("none (choose some with /subscriptions)")
    if not resident.alerts_enabled:
        alerts = _("stopped (/start to receive them again)")
    lines = [
        title,
        "",
        _("Language: {value}").format(value=LANGUAGE_NAMES.get(resident.language, resident.language)),
        _("Area: {value}").format(value=area_name(area_row, resident.language)),
        _("Alerts: {value}").format(value=alerts),
        _("Quiet hours: {value}").format(value=quiet_text(resident)),
        "",
        _("To change something: /subscriptions, /area, /quiet, /language. "
           "What the bot does: /help."),
    ]
    menu = InlineKeyboardMarkup([[InlineKeyboardButton(_("📝 Report a problem"), callback_data="rp:new")]])
    return Prompt("\n".join(lines), menu)
