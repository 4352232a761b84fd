"""The messages of the broadcaster's wizard (/broadcast), its progress messages and /schedules.
Builders only. Plain text, except the preview, which is the alert exactly as residents get it
(Telegram HTML from broadcasts.render, every typed value escaped there)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from broadcasts import drafts
from broadcasts.alerts import Kind, Progress, Status
from broadcasts.progress import figures, number
from broadcasts.render import MARKERS, SEVERITY_LABELS
from handlers import callbacks
from handlers.cards import Card, area_page
from kernel import formats
from kernel.i18n import translator
from storage.areas import full_name
from storage.models import Alert, Area, BroadcastSchedule, Topic


def texts(language: str):
    return translator(language).gettext


def button(label: str, alert_id: int, *parts) -> InlineKeyboardButton:
    """A button of the wizard about alert `alert_id` (callbacks.BROADCAST)."""
    return InlineKeyboardButton(label, callback_data=callbacks.broadcast(alert_id, *parts))


def local_time(moment: datetime, language: str, tz: ZoneInfo) -> str:
    return formats.moment(moment, language, tz)


def topic_name(topic: Topic | None, language: str) -> str:
    if topic is None:
        return "—"
    return topic.name_en if language == "en" else topic.name_vi


def severity_name(severity: str, language: str) -> str:
    _ = texts(language)
    return f"{MARKERS.get(severity, '⚪')} {_(SEVERITY_LABELS[severity]) if severity in SEVERITY_LABELS else severity}"


def refused(language: str) -> str:
    _ = texts(language)
    return _("Sorry, sending alerts is only for the city's broadcasters. "
             "If you should have this role, ask an administrator to grant it.")


def stale(language: str) -> str:
    _ = texts(language)
    return _("This button is no longer active. Send /broadcast to start or continue an alert.")


# ---------------------------------------------------------------- wizard steps


def topics(alert: Alert, all_topics: list[Topic], language: str, *, intro: str = "") -> Card:
    _ = texts(language)
    rows = [[button(topic_name(t, language), alert.id, "t", t.code)] for t in all_topics]
    rows.append([button(_("✖ Cancel"), alert.id, "x")])
    text = _("New alert. Step 1: which topic is it about? Only residents who follow the topic receive it.")
    return Card((intro + "\n\n" + text) if intro else text, InlineKeyboardMarkup(rows))


def chosen_areas(areas: list[Area], language: str) -> str:
    _ = texts(language)
    if not areas:
        return _("none yet")
    return "; ".join(full_name(a, language) for a in areas)


def area_picker(alert: Alert, chosen: list[Area], parent: Area | None, children: list[Area], page: int,
                language: str, *, frequent: list[Area] = (), intro: str = "") -> Card:
    """The areas step: the chosen areas, the areas alerts went to most often (⭐), then one page of
    provinces (or of the wards of `parent`)."""
    _ = texts(language)
    name = (lambda a: a.name_en) if language == "en" else (lambda a: a.name_vi)
    picked = set(alert.area_codes or [])
    shown = area_page(parent, children, page, language,
                      browse=lambda code, at: callbacks.broadcast(alert.id, "ap", code, at),
                      choose=lambda code: callbacks.broadcast(alert.id, "ax", code), chosen=picked, back_to_top=True)
    stars = [button(("✅ " if a.code in picked else "⭐ ") + name(a), alert.id, "ax", a.code) for a in frequent]
    rows = [stars[i:i + 2] for i in range(0, len(stars), 2)]
    if parent is not None:
        mark = "✅ " if parent.code in picked else "➕ "
        rows.append([button(mark + _("All of {place}").format(place=name(parent)), alert.id, "ax", parent.code)])
    rows += shown.rows
    rows.append([button(_("Done ✓"), alert.id, "ad"), button(_("✖ Cancel"), alert.id, "x")])
    lines = [_("Step 2: which areas? An alert to a province reaches every ward in it. "
               "Tap to add or remove an area, or type a name; then tap “Done”."),
             "", _("Chosen: {areas}").format(areas=chosen_areas(chosen, language)) if chosen
             else _("No area chosen yet."), ""]
    if frequent:
        lines[-1:-1] = [_("⭐ The areas alerts were sent to most often.")]
    if parent is None:
        lines.append(_("Provinces and cities:"))
    else:
        lines.append(_("Wards and communes of {place}:").format(place=full_name(parent, language)))
    lines[-1] += shown.note
    text = "\n".join(lines)
    return Card((intro + "\n\n" + text) if intro else text, InlineKeyboardMarkup(rows))


def area_matches(alert: Alert, found: list[Area], parents: dict[str, Area], language: str) -> Card:
    _ = texts(language)
    rows = []
    for area in found:
        label = full_name(area, language)
        parent = parents.get(area.parent_code or "")
        if parent is not None:
            label += ", " + (parent.name_en if language == "en" else parent.name_vi)
        rows.append([button(label, alert.id, "ax", area.code)])
    return Card(_("Several areas match. Which one do you mean?"), InlineKeyboardMarkup(rows))


def severity(alert: Alert, language: str) -> Card:
    _ = texts(language)
    rows = [[button(severity_name(s, language), alert.id, "sv", s)] for s in drafts.SEVERITIES]
    rows.append([button(_("✖ Cancel"), alert.id, "x")])
    return Card(_("Step 3: how serious is it? Moderate and minor alerts wait for the end of each "
                  "resident's quiet hours; severe and extreme ones are sent at once."), InlineKeyboardMarkup(rows))


def text_vi(alert: Alert, language: str) -> Card:
    _ = texts(language)
    limit = drafts.text_limit(alert)
    return Card(_("Step 4: send the text of the alert in Vietnamese (at most {limit} characters). "
                  "Say what is happening, where, until when, and what residents should do.").format(
        limit=number(limit, language)), InlineKeyboardMarkup([[button(_("✖ Cancel"), alert.id, "x")]]))


def text_en(alert: Alert, language: str) -> Card:
    _ = texts(language)
    return Card(_("Step 5: send the same text in English for residents who read English, or tap “Skip”: "
                  "they will get the Vietnamese text."),
                InlineKeyboardMarkup([[button(_("Skip ›"), alert.id, "sk")], [button(_("✖ Cancel"), alert.id, "x")]]))


def photo(alert: Alert, language: str) -> Card:
    _ = texts(language)
    return Card(_("Step 6: send a photo to go with the alert (a map, a picture of the place), or tap “No photo”."),
                InlineKeyboardMarkup([[button(_("No photo ›"), alert.id, "sk")],
                                      [button(_("✖ Cancel"), alert.id, "x")]]))


def preview_controls(alert: Alert, topic: Topic | None, areas: list[Area], count: int, language: str) -> Card:
    _ = texts(language)
    lines = [
        _("This is the alert as residents will see it."),
        "",
        _("Topic: {topic}").format(topic=topic_name(topic, language)),
        _("Areas: {areas}").format(areas=chosen_areas(areas, language)),
        _("Severity: {severity}").format(severity=severity_name(alert.severity, language)),
        _("English text: {answer}").format(answer=_("yes") if (alert.texts or {}).get("en") else _("no")),
        _("Photo: {answer}").format(answer=_("yes") if alert.photo_file_id else _("no")),
        "",
        _("Recipients now: {count}").format(count=number(count, language)),
    ]
    if count == 0:
        lines.append(_("No resident follows this topic in these areas yet: nobody would receive it."))
    rows = [
        [button(_("📣 Send now"), alert.id, "go"), button(_("🕒 Send at a time"), alert.id, "at")],
        [button(_("✏️ Edit"), alert.id, "ed"), button(_("✖ Cancel"), alert.id, "x")],
    ]
    return Card("\n".join(lines), InlineKeyboardMarkup(rows))


def edit_menu(alert: Alert, language: str) -> Card:
    _ = texts(language)
    names = {"topic": _("Topic"), "areas": _("Areas"), "severity": _("Severity"), "text_vi": _("Vietnamese text"),
             "text_en": _("English text"), "photo": _("Photo")}
    buttons = [button(names[step], alert.id, "e", step) for step in drafts.STEPS]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([button(_("‹ Back to the preview"), alert.id, "pv")])
    return Card(_("What do you want to change?"), InlineKeyboardMarkup(rows))


def ask_time(alert: Alert, language: str, tz: ZoneInfo, now: datetime) -> Card:
    _ = texts(language)
    return Card(_("When should it be sent? Type a time in the city's time zone (now {now}): "
                  "“HH:MM” for today (or tomorrow if that time has passed), or “YYYY-MM-DD HH:MM”.").format(
        now=local_time(now, language, tz)),
        InlineKeyboardMarkup([[button(_("‹ Back to the preview"), alert.id, "pv")]]))


def ask_repeat(alert: Alert, language: str, tz: ZoneInfo) -> Card:
    _ = texts(language)
    at = alert.send_at.astimezone(tz)
    weekday = format_datetime(at, "EEEE", tzinfo=tz, locale="en" if language == "en" else "vi")
    rows = [
        [button(_("Only once"), alert.id, "rp", "once")],
        [button(_("Every day at {time}").format(time=at.strftime("%H:%M")), alert.id, "rp", "daily")],
        [button(_("Every week on {day}").format(day=weekday), alert.id, "rp", "weekly")],
        [button(_("‹ Back to the preview"), alert.id, "pv")],
    ]
    return Card(_("It will be sent at {time}. Repeat it?").format(time=local_time(alert.send_at, language, tz)),
                InlineKeyboardMarkup(rows))


def repeat_name(cron: str | None, language: str) -> str:
    _ = texts(language)
    if cron is None:
        return _("once")
    fields = cron.split()
    if fields[2:] == ["*", "*", "*"]:
        return _("every day")
    if fields[2:4] == ["*", "*"] and fields[4] in drafts.CRON_DAYS:
        day = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"),
               _("Sunday"))[drafts.CRON_DAYS.index(fields[4])]
        return _("every week on {day}").format(day=day)
    return cron


def scheduled(schedule: BroadcastSchedule, language: str, tz: ZoneInfo) -> Card:
    _ = texts(language)
    return Card(_("Scheduled: the alert will be sent at {time} ({repeat}). "
                  "/schedules lists your scheduled alerts and stops them.").format(
        time=local_time(schedule.next_run_at, language, tz), repeat=repeat_name(schedule.cron, language)))


def ask_correction(alert: Alert, language: str) -> Card:
    _ = texts(language)
    return Card(_("Send the corrected text in Vietnamese. Residents who received alert #{id} get it as a "
                  "correction; those still waiting for it get the corrected text instead.").format(id=alert.id),
                InlineKeyboardMarkup([[button(_("‹ Do not correct"), alert.id, "nf")]]))


def confirm_cancellation(alert: Alert, sent: int, language: str) -> Card:
    _ = texts(language)
    return Card(_("Cancel alert #{id}? The {count} residents who received it will be told it is no longer "
                  "in force, and its messages not yet sent are dropped.").format(
        id=alert.id, count=number(sent, language)),
        InlineKeyboardMarkup([[button(_("Yes, cancel the alert"), alert.id, "ky")],
                              [button(_("No, keep it"), alert.id, "kn")]]))


# ---------------------------------------------------------------- progress


def progress(alert: Alert, p: Progress, rate: float, language: str) -> Card:
    """The progress message: edited while the alert is sent, then the final report."""
    _ = texts(language)
    f = figures(p, alert.status, rate, language)
    kind = {Kind.CORRECTION: _("Correction #{id}"), Kind.CANCELLATION: _("Cancellation #{id}")}.get(
        alert.kind, _("Alert #{id}")).format(id=alert.id)
    if f.finished:
        title = _("⛔ {alert}: sending stopped.") if f.stopped else _("✅ {alert}: sending finished.")
        title = title.format(alert=kind)
    else:
        title = _("📣 {alert}: sending…").format(alert=kind)
    lines = [
        title,
        _("Recipients: {count}").format(count=f.total),
        _("Sent: {count}").format(count=f.sent),
        _("Failed: {count}").format(count=f.failed),
        _("Blocked the bot: {count}").format(count=f.blocked),
    ]
    if f.finished:
        if p.cancelled:
            lines.append(_("Not sent (stopped): {count}").format(count=f.cancelled))
        if p.expired:
            lines.append(_("Not sent (expired): {count}").format(count=f.expired))
        if p.waiting_quiet_hours or p.remaining:
            lines.append(_("Still to send: {count}").format(count=number(p.waiting_quiet_hours + p.remaining,
                                                                         language)))
    else:
        lines.append(_("Waiting for quiet hours to end: {count}").format(count=f.waiting))
        lines.append(_("Remaining: {count}").format(count=f.remaining))
        hours, minutes, seconds = f.eta
        if p.remaining:
            if hours:
                eta = _("about {hours} h {minutes} min").format(hours=hours, minutes=minutes)
            elif minutes:
                eta = _("about {minutes} min {seconds} s").format(minutes=minutes, seconds=seconds)
            else:
                eta = _("about {seconds} s").format(seconds=max(seconds, 1))
            lines.append(_("Time left: {eta}").format(eta=eta))
    rows = []
    if not f.finished:
        rows.append([button(_("⛔ Cancel sending"), alert.id, "st")])
    elif alert.kind != Kind.CANCELLATION and alert.status == Status.DONE and p.total:
        rows.append([button(_("✏️ Correct"), alert.id, "fx"), button(_("🚫 Cancel alert"), alert.id, "kl")])
    return Card("\n".join(lines), InlineKeyboardMarkup(rows) if rows else None)


# ---------------------------------------------------------------- /schedules


def schedules(items: list[tuple[BroadcastSchedule, Alert]], topics_by_code: dict[str, Topic], language: str,
              tz: ZoneInfo) -> Card:
    _ = texts(language)
    if not items:
        return Card(_("You have no scheduled alerts. In /broadcast, choose “Send at a time” to schedule one."))
    lines = [_("Your scheduled alerts:")]
    rows = []
    for schedule, alert in items:
        first = ((alert.texts or {}).get("vi") or "").strip().split("\n", 1)[0]
        if len(first) > 60:
            first = first[:59] + "…"
        lines += ["", _("#{id} · next: {time} · {repeat}").format(
            id=schedule.id, time=local_time(schedule.next_run_at, language, tz),
            repeat=repeat_name(schedule.cron, language)),
            f"{topic_name(topics_by_code.get(alert.topic_code), language)} · "
            f"{severity_name(alert.severity, language)}: {first}"]
        rows.append([InlineKeyboardButton(_("⏹ Stop #{id}").format(id=schedule.id),
                                          callback_data=callbacks.SCHEDULE_STOP.build(schedule.id))])
    return Card("\n".join(lines), InlineKeyboardMarkup(rows))
