"""An alert becomes the exact Telegram message a resident receives: language, severity at a
glance, escaping, Telegram's length limits (counted after entity parsing), templates per topic
and severity, corrections and cancellations, local time. No database: plain objects."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from broadcasts.render import (
    CAPTION_LIMIT,
    MARKERS,
    TEXT_LIMIT,
    Rendered,
    environment,
    render_alert,
    shorten,
    template_for,
    visible_length,
)
from emulator.entities import utf16_len
from emulator.errors import ApiError
from emulator.formatting import format_text

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
WEATHER = dict(code="weather", name_vi="Thời tiết và thiên tai", name_en="Weather and disasters")
TRAFFIC = dict(code="traffic", name_vi="Giao thông", name_en="Traffic")
EXPIRES = datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc)  # 18:00 in Hồ Chí Minh City


def topic(**fields):
    from storage.models import Topic

    return Topic(**{**WEATHER, **fields})


def alert(**fields):
    from storage.models import Alert

    defaults = dict(topic_code="weather", severity="moderate",
                    texts={"vi": "Mưa lớn đêm nay ở Hà Nội.", "en": "Heavy rain tonight in Hà Nội."})
    return Alert(**{**defaults, **fields})


def telegram(rendered: Rendered) -> tuple[str, list[dict]]:
    """What Telegram makes of the message: its visible text and entities; fails on bad HTML or
    on a message over the limit, as the Bot API would."""
    try:
        text, entities = format_text(rendered.text, "HTML", None)
    except ApiError as error:  # pragma: no cover - the message says why
        pytest.fail(f"Telegram would refuse this HTML: {error}\n{rendered.text}")
    limit = CAPTION_LIMIT if rendered.photo else TEXT_LIMIT
    assert 0 < utf16_len(text) <= limit
    assert visible_length(rendered.text) == utf16_len(text)
    return text, entities


def lines(rendered: Rendered) -> list[str]:
    return telegram(rendered)[0].split("\n")


# ---------------------------------------------------------------------------- languages


def test_vietnamese_resident_reads_vietnamese():
    message = render_alert(alert(severity="extreme"), topic(), "vi", tz=HCM)
    first, *rest = lines(message)
    assert first == "🔴 ĐẶC BIỆT NGHIÊM TRỌNG · Thời tiết và thiên tai"
    assert "Mưa lớn đêm nay ở Hà Nội." in rest
    assert "Heavy rain" not in message.text


def test_english_resident_reads_english():
    message = render_alert(alert(severity="extreme"), topic(), "en", tz=HCM)
    first, *rest = lines(message)
    assert first == "🔴 EXTREME · Weather and disasters"
    assert "Heavy rain tonight in Hà Nội." in rest
    assert "Mưa lớn" not in message.text


def test_without_the_residents_language_the_vietnamese_text_is_used_with_english_labels():
    message = render_alert(alert(texts={"vi": "Mưa lớn.", "fr": "Forte pluie."}, link="https://a.vn/x",
                                 expires_at=EXPIRES), topic(), "en", tz=HCM)
    text = telegram(message)[0]
    assert "Mưa lớn." in text and "Forte pluie" not in text
    assert "Moderate · Weather and disasters" in text
    assert "More: https://a.vn/x" in text and "Expires: " in text


def test_without_vietnamese_any_text_is_used():
    message = render_alert(alert(texts={"fr": "Forte pluie.", "en": "   "}), topic(), "en", tz=HCM)
    assert "Forte pluie." in telegram(message)[0]


def test_an_unknown_resident_language_gets_vietnamese_labels():
    message = render_alert(alert(severity="severe"), topic(), "de", tz=HCM)
    assert lines(message)[0] == "🟠 NGHIÊM TRỌNG · Thời tiết và thiên tai"


# ---------------------------------------------------------------------------- severity


@pytest.mark.parametrize("severity, vi, en", [
    ("extreme", "🔴 ĐẶC BIỆT NGHIÊM TRỌNG", "🔴 EXTREME"),
    ("severe", "🟠 NGHIÊM TRỌNG", "🟠 SEVERE"),
    ("moderate", "🟡 Trung bình", "🟡 Moderate"),
    ("minor", "🔵 Nhẹ", "🔵 Minor"),
    ("unknown", "⚪ Chưa rõ mức độ", "⚪ Severity unknown"),
])
def test_every_severity_opens_the_message_with_its_marker_and_word(severity, vi, en):
    for language, expected in (("vi", vi), ("en", en)):
        message = render_alert(alert(topic_code="traffic", severity=severity), topic(**TRAFFIC), language, tz=HCM)
        first = lines(message)[0]
        assert first.startswith(expected + " · ")
        # the severity word is bold, so it stands out
        assert message.text.startswith(f"{MARKERS[severity]} <b>")


def test_a_severity_the_renderer_does_not_know_is_shown_as_unknown():
    message = render_alert(alert(severity="catastrophic"), topic(), "en", tz=HCM)
    assert lines(message)[0].startswith("⚪ Severity unknown")


# ---------------------------------------------------------------------------- escaping


def test_every_dynamic_value_is_escaped_and_the_html_parses():
    nasty = 'Tin <script>alert(1)</script> & "quotes" <b>not bold</b> &amp;'
    link = 'https://example.com/?q=<script>&x="1"'
    message = render_alert(
        alert(texts={"en": nasty}, link=link, topic_code="traffic"),
        topic(code="traffic", name_vi="x", name_en='Roads <i> & "more"'), "en", tz=HCM,
    )
    assert "<script>" not in message.text and "<b>not bold</b>" not in message.text
    assert "&lt;script&gt;" in message.text and "&amp;amp;" in message.text
    text, entities = telegram(message)
    assert nasty in text  # the resident sees exactly what was written
    assert 'Roads <i> & "more"' in text
    links = [e for e in entities if e["type"] == "text_link"]
    assert [e["url"] for e in links] == [link]
    assert not any(e["type"] == "bold" and text[e["offset"]:e["offset"] + e["length"]] == "not bold"
                   for e in entities)


def test_a_link_that_is_not_a_web_address_is_shown_as_text_not_as_a_link():
    message = render_alert(alert(link='javascript:alert("x")'), topic(), "en", tz=HCM)
    text, entities = telegram(message)
    assert 'javascript:alert("x")' in text
    assert "href" not in message.text and not [e for e in entities if e["type"] == "text_link"]


# ---------------------------------------------------------------------------- length


def _words(count: int) -> str:
    words = ["mưa", "lớn", "kéo", "dài", "ngập", "úng", "đường", "Nguyễn", "Văn", "Cừ"]
    return " ".join(words[i % len(words)] for i in range(count))


LONG = _words(2400)  # about 10,000 characters


@pytest.mark.parametrize("photo, limit", [(None, TEXT_LIMIT), ("AgACAgIAAxk-photo", CAPTION_LIMIT)])
def test_a_long_text_is_shortened_at_a_word_with_header_and_footer_intact(photo, limit):
    assert len(LONG) >= 10_000
    message = render_alert(
        alert(severity="severe", texts={"vi": LONG}, link="https://thoitiet.gov.vn/bao?id=1&lang=vi",
              expires_at=EXPIRES, photo_file_id=photo),
        topic(), "vi", tz=HCM,
    )
    assert message.photo == photo
    text, entities = telegram(message)
    assert limit - 40 <= utf16_len(text) <= limit  # shortened, not emptied
    parts = text.split("\n")
    assert parts[0] == "🟠 NGHIÊM TRỌNG · Thời tiết và thiên tai"
    assert parts[-2] == "🔗 Xem thêm: https://thoitiet.gov.vn/bao?id=1&lang=vi"
    assert parts[-1] == "⏳ Hiệu lực đến: 18:00 25/11/2026"
    assert [e["url"] for e in entities if e["type"] == "text_link"] == ["https://thoitiet.gov.vn/bao?id=1&lang=vi"]
    body = next(p for p in parts if p.startswith("mưa lớn"))
    assert body.endswith("…")
    kept = body[:-1]
    assert LONG.startswith(kept) and LONG[len(kept)] == " "  # cut between words


def test_escapes_do_not_count_against_the_limit_and_are_never_cut():
    text = " ".join(["<b>&amp;\"x\"</b>"] * 1000)  # each character escapes to several
    message = render_alert(alert(texts={"en": text}), topic(), "en", tz=HCM)
    assert len(message.text) > TEXT_LIMIT  # the HTML is longer than Telegram's limit...
    visible, _ = telegram(message)  # ...yet it parses and fits
    assert utf16_len(visible) > TEXT_LIMIT - 40
    assert visible.split("\n")[-1].endswith("</b>…")


def test_the_limit_counts_utf16_code_units():
    text = " ".join(["😀"] * 5000)  # each emoji is two UTF-16 units
    message = render_alert(alert(texts={"en": text}), topic(), "en", tz=HCM)
    visible, _ = telegram(message)
    assert TEXT_LIMIT - 10 <= utf16_len(visible) <= TEXT_LIMIT
    assert "\ufffd" not in visible  # no emoji cut in half


def test_a_text_that_fits_is_not_touched():
    exact = "x" * 4000
    message = render_alert(alert(texts={"en": exact}), topic(), "en", tz=HCM)
    assert exact in telegram(message)[0] and "…" not in message.text


def test_long_names_and_links_still_leave_room_in_a_caption():
    message = render_alert(
        alert(kind="correction", texts={"en": LONG}, link="https://a.vn/" + "p" * 500, expires_at=EXPIRES,
              photo_file_id="photo"),
        topic(name_en="T" * 200), "en", tz=HCM, replaced=alert(texts={"en": "Z" * 3000}),
    )
    text, entities = telegram(message)
    assert "mưa" in text  # some of the text is left
    assert [e["url"] for e in entities if e["type"] == "text_link"] == ["https://a.vn/" + "p" * 500]


def test_shorten_keeps_accents_with_their_letters():
    decomposed = "Hà Nội"  # would be 'a' + combining grave if cut between them
    assert shorten("a\u0300bcdef", 2) == ""  # nothing whole fits
    assert shorten(decomposed, 10) == decomposed
    assert shorten("one two three", 9) == "one two…"


# ---------------------------------------------------------------------------- templates


@pytest.mark.parametrize("severity", ["severe", "extreme"])
def test_the_weather_template_adds_a_safety_line_to_serious_weather(severity):
    assert template_for("weather", severity).name == f"weather_{severity}.html.j2"
    message = render_alert(alert(severity=severity), topic(), "en", tz=HCM)
    assert any(line.startswith("⚠️ Stay indoors") for line in lines(message))
    vi = render_alert(alert(severity=severity), topic(), "vi", tz=HCM)
    assert any(line.startswith("⚠️ Hạn chế ra ngoài") for line in lines(vi))


@pytest.mark.parametrize("topic_code, severity", [("weather", "moderate"), ("traffic", "severe"),
                                                  ("../../etc", "severe")])
def test_other_topics_and_severities_use_the_generic_template(topic_code, severity):
    assert template_for(topic_code, severity).name == "alert.html.j2"
    message = render_alert(alert(topic_code=topic_code, severity=severity), topic(**TRAFFIC), "en", tz=HCM)
    assert "⚠️" not in message.text


def test_the_environment_is_built_once_and_autoescapes():
    assert environment() is environment()
    assert environment().autoescape is True or environment().autoescape("alert.html.j2")
    assert template_for("weather", "severe") is template_for("weather", "severe")


# ---------------------------------------------------------------------------- corrections, cancellations


def test_a_correction_says_so_first_and_shows_the_new_text():
    original = alert(severity="severe", texts={"en": "Flood on Hùng Vương street\nAvoid the area."})
    correction = alert(severity="severe", kind="correction", texts={"en": "Flood on Lê Lợi street, not Hùng Vương."})
    for language, header in (("en", "✏️ CORRECTION"), ("vi", "✏️ ĐÍNH CHÍNH")):
        shown = lines(render_alert(correction, topic(), language, tz=HCM, replaced=original))
        assert shown[0] == header
        assert shown[1].startswith("🟠 ")
    shown = lines(render_alert(correction, topic(), "en", tz=HCM, replaced=original))
    assert shown[2] == "This corrects an earlier alert: Flood on Hùng Vương street"
    assert "Flood on Lê Lợi street, not Hùng Vương." in shown
    assert "Avoid the area." not in shown


def test_a_cancellation_names_the_earlier_alert_and_shows_its_own_text():
    original = alert(severity="extreme",
                     texts={"vi": "Bão số 3 đổ bộ\nSơ tán ngay.", "en": "Typhoon landfall\nEvacuate now."},
                     expires_at=EXPIRES)
    cancel = alert(severity="extreme", kind="cancellation", texts={"en": "The typhoon changed course."},
                   expires_at=EXPIRES)
    shown = lines(render_alert(cancel, topic(), "en", tz=HCM, replaced=original))
    assert shown[:3] == ["✅ ALERT CANCELLED", "This alert is no longer in force:",
                         "Weather and disasters: Typhoon landfall"]
    assert "The typhoon changed course." in shown
    assert "Evacuate now." not in shown
    assert not any("EXTREME" in line or "Expires" in line or "Stay indoors" in line for line in shown)
    vi = lines(render_alert(cancel, topic(), "vi", tz=HCM, replaced=original))
    assert vi[:3] == ["✅ HỦY CẢNH BÁO", "Cảnh báo này không còn hiệu lực:", "Thời tiết và thiên tai: Bão số 3 đổ bộ"]
    assert "The typhoon changed course." in vi  # the only text it has


def test_a_cancellation_without_text_is_just_the_notice():
    original = alert(texts={"en": "Water cut in Ba Đình"})
    message = render_alert(alert(kind="cancellation", texts={}), topic(), "en", tz=HCM, replaced=original)
    assert lines(message) == ["✅ ALERT CANCELLED", "This alert is no longer in force:",
                              "Weather and disasters: Water cut in Ba Đình"]


# ---------------------------------------------------------------------------- time, layout


def test_the_expiry_is_shown_in_the_citys_time_zone():
    message = render_alert(alert(expires_at=EXPIRES), topic(), "en", tz=HCM)
    assert lines(message)[-1] == "⏳ Expires: 25 Nov 2026, 18:00"
    utc = render_alert(alert(expires_at=EXPIRES), topic(), "vi", tz=ZoneInfo("UTC"))
    assert lines(utc)[-1] == "⏳ Hiệu lực đến: 11:00 25/11/2026"
    new_year = datetime(2026, 12, 31, 17, 30, tzinfo=timezone.utc)
    midnight = render_alert(alert(expires_at=new_year), topic(), "vi", tz=HCM)
    assert lines(midnight)[-1] == "⏳ Hiệu lực đến: 00:30 01/01/2027"


def test_the_layout_has_no_stray_blank_lines_or_spaces():
    body = "Line one   \r\n\r\n\r\n\r\nLine two\t\n\n\n"
    for fields in ({}, {"link": "https://a.vn", "expires_at": EXPIRES}):
        message = render_alert(alert(severity="extreme", texts={"en": body}, **fields), topic(**TRAFFIC,),
                               "en", tz=HCM)
        assert message.text == message.text.strip()
        assert "\n\n\n" not in message.text
        assert not re.search(r"[ \t]\n", message.text)
        assert "Line one\n\nLine two" in message.text
    bare = render_alert(alert(texts={"en": "Just this."}), topic(), "en", tz=HCM)
    assert bare.text == "🟡 <b>Moderate</b> · Weather and disasters\n\nJust this."
    assert bare.photo is None


def test_rendered_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        render_alert(alert(), topic(), "en", tz=HCM).text = "x"


def test_a_cancellation_of_an_unknown_alert_still_names_its_topic():
    message = render_alert(alert(kind="cancellation", texts={"vi": "Đã hủy."}), topic(), "vi", tz=HCM)
    assert lines(message) == ["✅ HỦY CẢNH BÁO · Thời tiết và thiên tai", "", "Đã hủy."]
