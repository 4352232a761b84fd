"""The callback data of every button the bot shows: built and parsed here, and nowhere else.

A button's data is `<prefix>:<part>:<part>...` (at most 64 bytes, Telegram's limit). Each kind
of button is one `Kind`: its prefix, the pattern its handler is registered with (so the handler
and the buttons cannot drift apart), `build` and `args`. The wire strings are those of every
earlier version of the bot: buttons already in chats keep working after an upgrade.

    callbacks.AREA_PAGE.build("01", 2)            -> "ap:01:2"
    callbacks.AREA_PAGE.args("ap:01:2")           -> ["01", "2"]
    CallbackQueryHandler(page, pattern=callbacks.AREA_PAGE.pattern)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from complaints import codes

LIMIT = 64  # bytes of callback data Telegram keeps
SEPARATOR = ":"


@dataclass(frozen=True)
class Kind:
    """One kind of button. `body`: the regular expression of what follows `<prefix>:` that its
    handler accepts (None: the prefix alone, `parts` 0); `parts`: how many parts `args` splits
    the data into (the last keeps any further separators), None for as many as there are."""

    prefix: str
    body: str | None
    parts: int | None = 1

    @property
    def pattern(self) -> str:
        """The handler's pattern: the whole data, anchored at the start (and at the end when
        the body is a full pattern)."""
        if self.body is None:
            return rf"^{self.prefix}$"
        return rf"^{self.prefix}{SEPARATOR}{self.body}"

    def build(self, *parts: object) -> str:
        data = SEPARATOR.join([self.prefix, *map(str, parts)])
        if len(data.encode()) > LIMIT:
            raise ValueError(f"callback data over {LIMIT} bytes: {data!r}")
        return data

    def args(self, data: str) -> list[str]:
        """The parts after the prefix (strings: the handler checks and converts them)."""
        if self.body is None:
            return []
        rest = data[len(self.prefix) + 1:]
        return rest.split(SEPARATOR) if self.parts is None else rest.split(SEPARATOR, self.parts - 1)

    def matches(self, data: str) -> bool:
        return re.match(self.pattern, data) is not None


# Onboarding and settings
LANGUAGE = Kind("lang", "")  # lang:<code>
AREA_PAGE = Kind("ap", r"[^:]+:\d{1,18}$", 2)  # ap:<area code or ->:<page>
AREA_PICK = Kind("as", "")  # as:<area code>
TOPIC = Kind("tp", "")  # tp:<topic code>, tp:! for "Done"
QUIET = Kind("q", r"(keep|off|chg|s:\d{1,2}|e:\d{1,2}:\d{1,2})$", None)  # q:keep, q:s:<h>, q:e:<start>:<end>
FORGET = Kind("fg", r"(yes|no)$")  # fg:yes, fg:no

# The report wizard, /myreports and /status
REPORT_NEW = Kind("rp", r"new$")  # rp:new (the summary's menu button)
CATEGORY = Kind("rc", r"[\w-]+$")  # rc:<category code>
PHOTOS = Kind("rph", r"(done|none|clear)$")
LOCATION = Kind("rl", r"(gps|[^:]+:\d{1,18})$", None)  # rl:gps, rl:<area code or ->:<page>
REVIEW_EDIT = Kind("re", r"\w+$")  # re:<step>
SUBMIT = Kind("rs", r"\d{1,18}$")  # rs:<the draft's nonce>
PUBLICITY = Kind("rv", r"(photo|place|ward)$")  # rv:<complaints.public choice> on the review card
REPORT_CANCEL = Kind("rx", None, 0)
MY_REPORTS = Kind("mr", r"\d{1,18}$")  # mr:<page>
STATUS = Kind("st", re.escape(codes.PREFIX) + rf"\w{{{codes.LENGTH}}}$")  # st:<report code>
ADD = Kind("ad", "(" + re.escape(codes.PREFIX) + rf"\w{{{codes.LENGTH}}}|done)$")  # ad:<report code>, ad:done

# The resident's rating of a resolved report
RATING_CHOICES = ("satisfied", "acceptable", "not_satisfied", "reopen", "close", "skip")
RATING = Kind("rt", rf"\d{{1,18}}:({'|'.join(RATING_CHOICES)})$", 2)  # rt:<report id>:<choice>

# The staff's report cards: tr:<report id>:<the last event id they saw, 0 for none>:<op>[:<arg>]
TRIAGE = Kind("tr", r"\d+:\d+:[a-z]{2}(:.+)?$", 4)

# The broadcaster's wizard and /schedules
BROADCAST = Kind("bc", "", None)  # bc:<alert id>:<action>[:<arg>...]
SCHEDULE_STOP = Kind("bs", r"\d{1,18}$")  # bs:<schedule id>

KINDS = (LANGUAGE, AREA_PAGE, AREA_PICK, TOPIC, QUIET, FORGET, REPORT_NEW, CATEGORY, PHOTOS, LOCATION, REVIEW_EDIT,
         SUBMIT, PUBLICITY, REPORT_CANCEL, MY_REPORTS, STATUS, ADD, RATING, TRIAGE, BROADCAST, SCHEDULE_STOP)


def kind_of(data: str) -> Kind | None:
    """The kind whose handler takes `data`, or None (an old or forged button: the stale answer)."""
    return next((kind for kind in KINDS if kind.matches(data)), None)


# Kinds whose parts are more than strings


def triage(report_id: int, event_id: int | None, op: str, arg: str = "") -> str:
    """A button of a staff card; `event_id`: the last event the staff member saw."""
    return TRIAGE.build(report_id, event_id or 0, op, *([arg] if arg else []))


@dataclass(frozen=True)
class TriageTap:
    report_id: int
    event_id: int | None
    op: str
    arg: str


def triage_tap(data: str) -> TriageTap:
    """A staff card's button, as `TRIAGE.pattern` lets it through."""
    report_id, event_id, op, *arg = TRIAGE.args(data)
    return TriageTap(int(report_id), int(event_id) or None, op, arg[0] if arg else "")


def broadcast(alert_id: int, action: str, *args: object) -> str:
    """A button of the wizard about alert `alert_id`."""
    return BROADCAST.build(alert_id, action, *args)


@dataclass(frozen=True)
class BroadcastTap:
    alert_id: int | None  # None: not an alert id the bot could have written
    action: str | None
    args: list[str]


def broadcast_tap(data: str) -> BroadcastTap:
    parts = BROADCAST.args(data)
    if len(parts) < 2 or not parts[0].isdigit() or len(parts[0]) > 18:
        return BroadcastTap(None, None, [])
    return BroadcastTap(int(parts[0]), parts[1], parts[2:])


def area_page(data: str, kind: Kind = AREA_PAGE) -> tuple[str | None, int]:
    """`<prefix>:<area code or ->:<page>`: the parent (None for the top level) and the page."""
    code, page = kind.args(data)
    return None if code == "-" else code, int(page) if page.isdigit() else 0
