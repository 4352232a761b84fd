"""The callback-data codec (handlers/callbacks.py): every kind of button parses back, every button
the prompt builders draw belongs to a kind whose handler is registered with that kind's pattern,
and no data is over Telegram's 64 bytes. The wire strings are those of earlier versions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from telegram import InlineKeyboardMarkup
from telegram.ext import CallbackQueryHandler

import handlers
from broadcasts.alerts import Kind as AlertKind
from broadcasts.alerts import Progress, Status
from complaints.lifecycle import Action, ActorKind
from handlers import broadcast_prompts, broadcasting, callbacks, prompts, rating, report_prompts, staff_cards, triage
from handlers.cards import Card
from storage.models import Alert, Area, BroadcastSchedule, Category, Report, ReportDraft, ReportEvent, Resident, Topic

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)

# One of each kind, as the bot writes it, and what `args` gives back.
EXAMPLES = [
    (callbacks.LANGUAGE, ("vi",), "lang:vi"),
    (callbacks.AREA_PAGE, ("-", 0), "ap:-:0"),
    (callbacks.AREA_PAGE, ("01", 3), "ap:01:3"),
    (callbacks.AREA_PICK, ("00004",), "as:00004"),
    (callbacks.TOPIC, ("weather",), "tp:weather"),
    (callbacks.TOPIC, ("!",), "tp:!"),
    (callbacks.QUIET, ("keep",), "q:keep"),
    (callbacks.QUIET, ("s", 22), "q:s:22"),
    (callbacks.QUIET, ("e", 22, 6), "q:e:22:6"),
    (callbacks.FORGET, ("yes",), "fg:yes"),
    (callbacks.REPORT_NEW, ("new",), "rp:new"),
    (callbacks.CATEGORY, ("pothole",), "rc:pothole"),
    (callbacks.PHOTOS, ("clear",), "rph:clear"),
    (callbacks.LOCATION, ("gps",), "rl:gps"),
    (callbacks.LOCATION, ("01", 2), "rl:01:2"),
    (callbacks.REVIEW_EDIT, ("description",), "re:description"),
    (callbacks.SUBMIT, (1765076400,), "rs:1765076400"),
    (callbacks.PUBLICITY, ("photo",), "rv:photo"),
    (callbacks.REPORT_CANCEL, (), "rx"),
    (callbacks.MY_REPORTS, (2,), "mr:2"),
    (callbacks.STATUS, ("PA-7K3Q9",), "st:PA-7K3Q9"),
    (callbacks.ADD, ("PA-7K3Q9",), "ad:PA-7K3Q9"),
    (callbacks.ADD, ("done",), "ad:done"),
    (callbacks.RATING, (12, "not_satisfied"), "rt:12:not_satisfied"),
    (callbacks.TRIAGE, (12, 40, "as", "water:co"), "tr:12:40:as:water:co"),
    (callbacks.TRIAGE, (12, 0, "bk"), "tr:12:0:bk"),
    (callbacks.BROADCAST, (7, "ap", "01", 1), "bc:7:ap:01:1"),
    (callbacks.SCHEDULE_STOP, (3,), "bs:3"),
]


@pytest.mark.parametrize("kind, parts, wire", EXAMPLES, ids=[e[2] for e in EXAMPLES])
def test_each_kind_builds_the_old_wire_string_and_parses_back(kind, parts, wire):
    data = kind.build(*parts)
    assert data == wire
    assert callbacks.kind_of(data) is kind
    assert kind.args(data) == [str(p) for p in parts]


def test_every_kind_has_an_example_and_its_own_prefix():
    assert {kind for kind, _parts, _wire in EXAMPLES} == set(callbacks.KINDS)
    assert len({kind.prefix for kind in callbacks.KINDS}) == len(callbacks.KINDS)


def test_typed_parsers():
    assert callbacks.triage_tap(callbacks.triage(12, None, "rr", "2")) == callbacks.TriageTap(12, None, "rr", "2")
    assert callbacks.triage_tap("tr:12:40:as:water:co") == callbacks.TriageTap(12, 40, "as", "water:co")
    assert callbacks.broadcast_tap(callbacks.broadcast(7, "ax", "01")) == callbacks.BroadcastTap(7, "ax", ["01"])
    assert callbacks.broadcast_tap("bc:x:go").alert_id is None
    assert callbacks.broadcast_tap("bc:7").action is None
    assert callbacks.area_page("ap:-:4") == (None, 4)
    assert callbacks.area_page("rl:01:0", callbacks.LOCATION) == ("01", 0)


def test_old_and_forged_data_is_no_kind():
    for data in ("ap:01:x", "rph:all", "rt:1:great", "mr:", "st:7K3Q9", "q:s:", "tr:1:x:as", "rx:1", "zz:1"):
        assert callbacks.kind_of(data) is None, data


def test_too_long_data_is_refused():
    with pytest.raises(ValueError):
        callbacks.BROADCAST.build(1, "ax", "x" * 64)


def test_every_registered_callback_handler_uses_a_kind_pattern():
    patterns = {kind.pattern for kind in callbacks.KINDS}
    registered = [h for module in handlers.MODULES for h in module.HANDLERS if isinstance(h, CallbackQueryHandler)]
    assert registered
    for handler in registered:
        assert handler.pattern.pattern in patterns, handler.pattern.pattern
    assert {h.pattern.pattern for h in registered} == patterns


# ---------------------------------------------------------------- the builders' keyboards


def _area(code: str, parent: str | None, name: str) -> Area:
    return Area(code=code, parent_code=parent, name_vi=name, name_en=name, full_name_vi=f"Phường {name}",
                full_name_en=f"{name} Ward")


PROVINCES = [_area(f"{i:02d}", None, f"Tỉnh {i}") for i in range(1, 35)]
HANOI = PROVINCES[0]
WARDS = [_area(f"{i:05d}", HANOI.code, f"Phường {i}") for i in range(1, 40)]
TOPICS = [Topic(code=code, name_vi=code, name_en=code) for code in ("weather", "traffic", "public_health")]
CATEGORY = Category(code="pothole", name_vi="Ổ gà", name_en="Pothole", description_vi="…", description_en="…")


def _resident(language: str, quiet: bool = True) -> Resident:
    return Resident(id=1, telegram_id=1, language=language, onboarded=True,
                    quiet_start_minute=22 * 60 if quiet else None, quiet_end_minute=6 * 60 if quiet else None)


def _report() -> Report:
    return Report(id=2**40, code="PA-7K3Q9", category_code="pothole", description="A hole", state="submitted",
                  created_at=NOW, due_at=NOW + timedelta(days=3))


def _alert(**values) -> Alert:
    return Alert(id=10**12, topic_code="weather", severity="severe", area_codes=[HANOI.code, WARDS[3].code],
                 texts={"vi": "Mưa", "en": "Rain"}, send_at=NOW, **values)


def _resident_cards(language: str) -> list[Card]:
    out = []
    for quiet in (True, False):
        resident = _resident(language, quiet)
        out += [prompts.language(language), Card("", prompts.area_choices(resident, WARDS[:8], {HANOI.code: HANOI})),
                prompts.topics(resident, TOPICS, {"weather"}), prompts.quiet(resident), prompts.quiet_start(resident),
                prompts.quiet_end(resident, 22), prompts.summary(resident, WARDS[0], TOPICS, {"weather"}, title="t")]
    resident = _resident(language)
    for parent, children in ((None, PROVINCES), (HANOI, WARDS)):
        for page in range(4):
            out.append(prompts.picker(resident, parent, children, page))
            out.append(report_prompts.area_picker(resident, parent, children, page))
    draft = ReportDraft(resident_id=1, step="review", category_code="pothole", description="A hole",
                        photos=[{"file_id": "f", "file_unique_id": "u", "gps": [21.0, 105.8]}], created_at=NOW)
    report = _report()
    out += [report_prompts.categories(resident, [CATEGORY] * 12), report_prompts.photos(resident, draft),
            report_prompts.photos(resident, ReportDraft(resident_id=1, step="photos", photos=[])),
            report_prompts.photo_saved(resident, 2, album=True, step="photos"),
            report_prompts.location(resident, photo_gps=True), report_prompts.review(resident, draft, CATEGORY, None),
            report_prompts.submitted(resident, report, TZ)]
    for number in range(3):
        page = SimpleNamespace(total=12, reports=[report] * 5, page=number, pages=3)
        out.append(report_prompts.my_reports(resident, page, {"pothole": CATEGORY}, TZ))
    text, markup = rating.reopen_question(report.id, report.code, language)
    out.append(Card(text, markup))
    text, markup = rating.comment_offer(report.id, language)
    out.append(Card(text, markup))
    out.append(Card("", InlineKeyboardMarkup.de_json(rating.rating_markup(report, language), None)))
    out += [report_prompts.status(resident, report, CATEGORY, None, 0, [], TZ, thread=[]),
            Card("", report_prompts.done_markup(language))]
    return out


def _broadcaster_cards(language: str) -> list[Card]:
    alert = _alert(status=Status.DRAFT)
    out = [broadcast_prompts.topics(alert, TOPICS, language, intro="i")]
    for parent, children in ((None, PROVINCES), (HANOI, WARDS)):
        for page in range(4):
            out.append(broadcast_prompts.area_picker(alert, [HANOI], parent, children, page, language))
    out += [broadcast_prompts.area_matches(alert, WARDS[:8], {HANOI.code: HANOI}, language),
            broadcast_prompts.severity(alert, language), broadcast_prompts.text_vi(alert, language),
            broadcast_prompts.text_en(alert, language), broadcast_prompts.photo(alert, language),
            broadcast_prompts.preview_controls(alert, TOPICS[0], [HANOI], 0, language),
            broadcast_prompts.edit_menu(alert, language), broadcast_prompts.ask_time(alert, language, TZ, NOW),
            broadcast_prompts.ask_repeat(alert, language, TZ), broadcast_prompts.ask_correction(alert, language),
            broadcast_prompts.confirm_cancellation(alert, 5, language)]
    for status, progress in ((Status.SENDING, Progress(total=9, sent=3, remaining=6)),
                             (Status.DONE, Progress(total=9, sent=9))):
        out.append(broadcast_prompts.progress(_alert(status=status, kind=AlertKind.ALERT), progress, 25.0, language))
    schedule = BroadcastSchedule(id=2**40, alert_id=alert.id, cron="0 7 * * *", next_run_at=NOW)
    out.append(broadcast_prompts.schedules([(schedule, alert)] * 3, {t.code: t for t in TOPICS}, language, TZ))
    return out


def _staff_markups(language: str) -> list[InlineKeyboardMarkup]:
    out = []
    for state in ("submitted", "assigned", "in_progress", "resolved"):
        report = _report()
        report.state, report.agency_code = state, "water" if state != "submitted" else None
        report.resident_id = 1  # "Ask the resident…" too
        last = ReportEvent(id=2**40, report_id=report.id, state=state, at=NOW, action=Action.ASSIGN,
                           actor=ActorKind.MODERATOR)
        view = staff_cards.View(report, CATEGORY, None, None, None, last, None, 0, None, reporter_banned=False)
        for for_agency in (False, True):
            markup = staff_cards.card_markup(view, language, for_agency=for_agency)
            if markup is not None:
                out.append(markup)
    return out


def _data(markup) -> list[str]:
    if not isinstance(markup, InlineKeyboardMarkup):
        return []
    return [button.callback_data for row in markup.inline_keyboard for button in row if button.callback_data]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_button_the_builders_draw_parses_to_a_known_kind(language):
    markups = []
    for card in _resident_cards(language) + _broadcaster_cards(language):
        markups += [card.markup] + [extra.markup for extra in card.extra]
    markups += _staff_markups(language)
    seen = set()
    for data in (d for markup in markups for d in _data(markup)):
        assert len(data.encode()) <= callbacks.LIMIT, data
        kind = callbacks.kind_of(data)
        assert kind is not None, data
        assert re.match(kind.pattern, data)
        seen.add(kind)
        if kind is callbacks.BROADCAST:  # and the wizard has a handler for its action
            assert callbacks.broadcast_tap(data).action in broadcasting.ACTIONS, data
        if kind is callbacks.TRIAGE:
            op = callbacks.triage_tap(data).op
            assert op in triage.ACTIONS or op in triage.OTHER_OPS, data
    # The builders draw every kind but the ones written by handlers themselves (/forget's question).
    assert seen == set(callbacks.KINDS) - {callbacks.FORGET}, set(callbacks.KINDS) - seen
