"""The messages of the resident's settings (language, area, topics, quiet hours) and the
onboarding that walks through them in order. Builders only: handlers decide when to send."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup

from handlers import callbacks
from handlers.cards import Card, area_page
from kernel.i18n import translator
from storage.areas import full_name
from storage.models import Area, Resident, Topic

LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
QUIET_STARTS = (20, 21, 22, 23)
QUIET_ENDS = (5, 6, 7, 8)


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


def language(preselected: str) -> Card:
    # Shown before the resident has chosen, so it speaks both languages.
    buttons = [
        InlineKeyboardButton(name + (" ✓" if code == preselected else ""),
                             callback_data=callbacks.LANGUAGE.build(code))
        for code, name in LANGUAGE_NAMES.items()
    ]
    return Card(
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


def area(resident: Resident) -> Card:
    _ = texts(resident)
    return Card(
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
        rows.append([InlineKeyboardButton(label, callback_data=callbacks.AREA_PICK.build(found.code))])
    return InlineKeyboardMarkup(rows)


def picker(resident: Resident, parent: Area | None, children: list[Area], page: int) -> Card:
    """One page of the area tree under `parent` (the top level when None)."""
    _ = texts(resident)
    shown = area_page(parent, children, page, resident.language, browse=callbacks.AREA_PAGE.build)
    if parent is None:
        text = _("Choose your province or city:")
    else:
        text = _("Choose your ward or commune in {place}:").format(place=area_name(parent, resident.language))
    return Card(text + shown.note, InlineKeyboardMarkup(shown.rows))


def topics(resident: Resident, all_topics: list[Topic], chosen: set[str], *, intro: str = "") -> Card:
    _ = texts(resident)
    rows = [
        [InlineKeyboardButton(("✅ " if t.code in chosen else "⬜ ")
                              + (t.name_en if resident.language == "en" else t.name_vi),
                              callback_data=callbacks.TOPIC.build(t.code))]
        for t in all_topics
    ]
    rows.append([InlineKeyboardButton(_("Done ✓"), callback_data=callbacks.TOPIC.build("!"))])
    text = _("Which alerts do you want to receive? Tap a topic to turn it on or off, then tap “Done”.")
    return Card((intro + "\n\n" + text) if intro else text, InlineKeyboardMarkup(rows))


def quiet(resident: Resident, *, intro: str = "") -> Card:
    _ = texts(resident)
    text = _("Quiet hours: at night, moderate and minor alerts wait until the morning. "
              "Severe and extreme alerts always come at once.")
    keep = (_("Keep {hours}").format(hours=quiet_text(resident)) if resident.quiet_start_minute is not None
            else _("Use 22:00–06:00"))
    keep_data = (callbacks.QUIET.build("keep") if resident.quiet_start_minute is not None
                 else callbacks.QUIET.build("e", 22, 6))
    rows = [
        [InlineKeyboardButton(keep, callback_data=keep_data)],
        [InlineKeyboardButton(_("Other hours"), callback_data=callbacks.QUIET.build("chg")),
         InlineKeyboardButton(_("No quiet hours"), callback_data=callbacks.QUIET.build("off"))],
    ]
    return Card((intro + "\n\n" + text) if intro else text, InlineKeyboardMarkup(rows))


def quiet_start(resident: Resident) -> Card:
    _ = texts(resident)
    buttons = [InlineKeyboardButton(f"{h:02d}:00", callback_data=callbacks.QUIET.build("s", h))
               for h in QUIET_STARTS]
    return Card(_("Quiet hours start at:"), InlineKeyboardMarkup([buttons]))


def quiet_end(resident: Resident, start: int) -> Card:
    _ = texts(resident)
    buttons = [InlineKeyboardButton(f"{h:02d}:00", callback_data=callbacks.QUIET.build("e", start, h))
               for h in QUIET_ENDS]
    return Card(_("Quiet hours from {start} end at:").format(start=f"{start:02d}:00"), InlineKeyboardMarkup([buttons]))


def summary(resident: Resident, area_row: Area | None, all_topics: list[Topic], chosen: set[str], *,
            title: str) -> Card:
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
    menu = InlineKeyboardMarkup([[InlineKeyboardButton(_("📝 Report a problem"),
                                                       callback_data=callbacks.REPORT_NEW.build("new"))]])
    return Card("\n".join(lines), menu)
