"""An alert as the Telegram message a resident receives: HTML from Jinja2 templates, in the
resident's language, within Telegram's limits.

Templates live in `broadcasts/templates/`; for an alert the first that exists of
`{topic}_{severity}.html.j2`, `{topic}.html.j2` and `alert.html.j2` is used. Autoescaping is on,
so every dynamic value (texts, names, links) reaches Telegram escaped. The translatable labels
are made here, with gettext (so that Babel finds them in Python code), and handed to the
template as `t`.

Telegram counts a message's length after entity parsing, in UTF-16 code units: at most 4,096
for a text message and 1,024 for a photo caption. A text that would not fit is shortened at a
word boundary before it is escaped (never inside a tag or an entity), and the header (severity,
topic) and the footer (link, expiry) always stay.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kernel import formats
from kernel.i18n import translator
from storage.models import Alert, Topic

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
TEMPLATES = Path(__file__).with_name("templates")

def N_(msgid: str) -> str:
    return msgid


SEVERITIES = ("extreme", "severe", "moderate", "minor", "unknown")
MARKERS = {"extreme": "🔴", "severe": "🟠", "moderate": "🟡", "minor": "🔵", "unknown": "⚪"}
# The one set of severity words (docs/GLOSSARY.md): the wizard, the alerts, the dashboard, CAP's.
SEVERITY_LABELS = {"extreme": N_("Extreme"), "severe": N_("Severe"), "moderate": N_("Moderate"),
                   "minor": N_("Minor"), "unknown": N_("Severity unknown")}
SHOUTED = ("extreme", "severe")  # in capitals at the head of an alert
ELLIPSIS = "…"

# Longest shown part of the values that are not the alert's text, so that the header and the
# footer always leave room for some text, even in a caption.
TOPIC_SHOWN = 80
EARLIER_SHOWN = 120
LINK_SHOWN = 80

_TAG = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_SAFE_NAME = re.compile(r"^[a-z0-9_-]+$")
_WEB_LINK = re.compile(r"^https?://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class Rendered:
    text: str  # Telegram HTML (parse_mode=HTML)
    photo: str | None  # Telegram file_id to send with sendPhoto; then `text` is the caption


# ---------------------------------------------------------------------------- measuring


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(html_text: str) -> int:
    """The length Telegram checks against its limits: tags removed, entities decoded, in UTF-16
    code units. Exact for what `render_alert` makes (its only entities are escapes)."""
    return utf16_length(html.unescape(_TAG.sub("", html_text)).strip())


# ---------------------------------------------------------------------------- templates


@cache
def environment() -> Environment:
    """Built once; templates are compiled on first use and kept (no reload checks)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["j2", "html"], default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        undefined=StrictUndefined,
    )


@cache
def template_for(topic_code: str, severity: str):
    """The most specific template for a topic and severity (the choice is cached)."""
    names = []
    if _SAFE_NAME.match(topic_code):
        names += [f"{topic_code}_{severity}.html.j2", f"{topic_code}.html.j2"]
    names.append("alert.html.j2")
    return environment().select_template(names)


@cache
def labels(language: str) -> dict[str, str]:
    """The translated words of an alert message, per language."""
    _ = translator(language).gettext
    return {
        **{severity: _(label).upper() if severity in SHOUTED else _(label)
           for severity, label in SEVERITY_LABELS.items()},
        "correction": _("CORRECTION"),
        "corrects": _("This corrects an earlier alert:"),
        "cancelled": _("ALERT CANCELLED"),
        "cancels": _("This alert is no longer in force:"),
        "more": _("More"),
        "expires": _("Expires"),
        "weather_safety": _("Stay indoors if you can, keep away from rivers, streams, big trees and "
                            "power lines, and follow the instructions of the local authorities."),
    }


# ---------------------------------------------------------------------------- values


def _clean(text: str) -> str:
    """NFC, Unix line ends, no control characters, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).replace("\t", " ")
    text = _TRAILING_SPACE.sub("\n", text + "\n")
    return _BLANK_LINES.sub("\n\n", text).strip()


def pick_text(texts: dict[str, str] | None, language: str) -> str:
    """The resident's language, else Vietnamese, else any text there is ("" when none)."""
    texts = texts or {}
    for code in (language, "vi"):
        value = texts.get(code)
        if value and value.strip():
            return value
    for value in texts.values():
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _is_extender(ch: str) -> bool:
    """A character that belongs to the one before it (combining mark, joiner, variation selector)."""
    return (unicodedata.category(ch) in ("Mn", "Me", "Mc") or ch in "\u200d\ufe0e\ufe0f"
            or "\U0001f3fb" <= ch <= "\U0001f3ff")


def shorten(text: str, budget: int) -> str:
    """`text` in at most `budget` UTF-16 units: whole if it fits, else cut at a word boundary
    (within the last fifth; otherwise between characters) and ended with "…"."""
    if utf16_length(text) <= budget:
        return text
    if budget <= utf16_length(ELLIPSIS):
        return ""
    room = budget - utf16_length(ELLIPSIS)
    cut = len(text.encode("utf-16-le")[: room * 2].decode("utf-16-le", errors="ignore"))
    while cut > 0 and (_is_extender(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1  # do not split a letter from its accents, or an emoji sequence
    if not text[cut].isspace():
        space = max(text.rfind(" ", 0, cut), text.rfind("\n", 0, cut))
        if space > cut * 4 // 5:
            cut = space
    head = text[:cut].rstrip()
    head = head.rstrip(",;:-–—([{\"'“‘")
    return head.rstrip() + ELLIPSIS if head.strip() else ""


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def _topic_name(topic: Topic | None, code: str, language: str) -> str:
    if topic is None:
        return code
    return (topic.name_en if language == "en" else topic.name_vi) or topic.name_vi or code


def _expiry(expires_at: datetime | None, language: str, tz: ZoneInfo) -> str | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    return formats.moment(expires_at, language, tz)


def _link(url: str | None) -> tuple[str | None, str | None, str | None]:
    """(href, shown text) for a web link, or (None, None, plain text) for anything else."""
    url = (url or "").strip()
    if not url:
        return None, None, None
    if _WEB_LINK.match(url):
        return url, shorten(url, LINK_SHOWN), None
    return None, None, shorten(_clean(url), LINK_SHOWN)


def _normalise(output: str) -> str:
    """Whitespace of the rendered template: no trailing spaces, no doubled blank lines."""
    lines = [line.rstrip() for line in output.strip().split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# ---------------------------------------------------------------------------- rendering


def render_alert(alert: Alert, topic: Topic | None, language: str, *, tz: ZoneInfo,
                 replaced: Alert | None = None) -> Rendered:
    """The message for a resident who reads `language`: HTML text (or caption, with a photo)."""
    severity = alert.severity if alert.severity in SEVERITIES else "unknown"
    kind = alert.kind if alert.kind in ("alert", "correction", "cancellation") else "alert"
    t = labels(language)
    href, link_text, plain_link = _link(alert.link)
    earlier = None
    if replaced is not None:
        earlier = shorten(_clean(_first_line(pick_text(replaced.texts, language))), EARLIER_SHOWN)
    context = {
        "t": t,
        "kind": kind,
        "severity": severity,
        "marker": MARKERS[severity],
        "severity_label": t[severity],
        "topic_code": alert.topic_code,
        "topic_name": shorten(_clean(_topic_name(topic, alert.topic_code, language)), TOPIC_SHOWN),
        "earlier_topic_name": (
            shorten(_clean(_topic_name(topic if topic is not None and topic.code == replaced.topic_code else None,
                                       replaced.topic_code, language)), TOPIC_SHOWN)
            if replaced is not None else None
        ),
        "earlier": earlier,
        "href": href,
        "link_text": link_text,
        "plain_link": plain_link,
        "expires": _expiry(alert.expires_at, language, tz) if kind != "cancellation" else None,
    }
    template = template_for(alert.topic_code, severity)
    limit = CAPTION_LIMIT if alert.photo_file_id else TEXT_LIMIT

    body = _clean(pick_text(alert.texts, language))
    text = _normalise(template.render(context, body=body))
    excess = visible_length(text) - limit
    # The text is the only part that gives way; its escapes do not change its visible length,
    # so the room it has is known from one rendering. Loop in case normalising differs.
    while excess > 0 and body:
        body = shorten(body, utf16_length(body) - excess)
        text = _normalise(template.render(context, body=body))
        excess = visible_length(text) - limit
    return Rendered(text=text, photo=alert.photo_file_id or None)
