"""/stats: agency performance over the last 90 days, public to anyone in a private chat."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from handlers import stats as stats_handler
from kernel.i18n import translator
from storage.models import Agency, Report, Resident

NOW = datetime(2026, 12, 31, tzinfo=timezone.utc)
DAY = timedelta(days=1)


async def history(db) -> None:
    """Transport Department: 4 reports in the period (3 resolved after 2, 4.5 and 9 days, 2 of
    them on time; 3 ratings, 2 satisfied) and one older; URENCO: 2 (resolved after 1 and 2 days,
    on time; one rating, acceptable); the Police: none."""
    rows = [  # agency, created before NOW, resolved after, due after, rating
        ("a1", 10 * DAY, 2 * DAY, 5 * DAY, "satisfied"),
        ("a1", 20 * DAY, 4.5 * DAY, 3 * DAY, "not_satisfied"),
        ("a1", 30 * DAY, 9 * DAY, 10 * DAY, "satisfied"),
        ("a1", 5 * DAY, None, 5 * DAY, None),
        ("a1", 100 * DAY, 1 * DAY, 5 * DAY, "satisfied"),  # before the 90 days
        ("a2", 3 * DAY, 1 * DAY, 5 * DAY, "acceptable"),
        ("a2", 4 * DAY, 2 * DAY, 5 * DAY, None),
    ]
    async with db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(Agency(code="a2", name_vi="URENCO Hà Nội", name_en="URENCO Hanoi"))
        session.add(Agency(code="a3", name_vi="Công an phường", name_en="Ward Police"))
        await session.flush()
        for n, (agency, ago, resolved, due, rating) in enumerate(rows):
            created = NOW - ago
            session.add(Report(code=f"PA-S{n:04d}", category_code="roads", description="x",
                               state="closed" if resolved else "in_progress", agency_code=agency,
                               created_at=created, updated_at=created, due_at=created + due,
                               resolved_at=created + resolved if resolved else None, rating=rating))


async def test_stats_in_english_for_a_resident(bot, emulator, db):
    bot.bot_data["clock"] = lambda: NOW
    await history(db)
    kim = emulator.user(first_name="Kim", language_code="vi")
    async with db.transaction() as session:
        session.add(Resident(telegram_id=kim.id, language="en"))  # the stored language wins
    await kim.send("/stats")
    answer = await kim.next_message()
    assert answer.text == (
        "📊 How the agencies handled residents' reports in the last 90 days (2 Oct 2026 – 31 Dec 2026):\n"
        "\n"
        "• Transport Department: 4 received, 3 resolved, 66.7% on time, median time to resolve 4.5 days, "
        "66.7% satisfied\n"
        "• URENCO Hanoi: 2 received, 2 resolved, 100% on time, median time to resolve 36 hours, 0% satisfied\n"
        "\n"
        "On time: resolved by the deadline. Satisfied: the share of the residents' ratings that were “satisfied”.")
    assert "Ward Police" not in answer.text
    assert "<b>Transport Department</b>" in answer.html


async def test_stats_in_vietnamese_for_someone_who_never_started(bot, emulator, db):
    bot.bot_data["clock"] = lambda: NOW
    await history(db)
    lan = emulator.user(first_name="Lan", language_code="vi")
    await lan.send("/stats")
    answer = await lan.next_message()
    _ = translator("vi")
    lines = answer.text.split("\n")
    assert lines[0] == _.gettext("📊 How the agencies handled residents' reports in the last {days} days "
                                 "({since} – {until}):").format(days=90, since="02/10/2026", until="31/12/2026")
    parts = lambda *p: ", ".join(p)  # noqa: E731
    assert lines[2] == "• Sở Giao thông: " + parts(
        _.gettext("{received} received, {resolved} resolved").format(received=4, resolved=3),
        _.gettext("{percent} on time").format(percent="66,7%"),
        _.gettext("median time to resolve {time}").format(time=_.ngettext("{count} day", "{count} days", 2)
                                                          .format(count="4,5")),
        _.gettext("{percent} satisfied").format(percent="66,7%"))
    assert lines[3] == "• URENCO Hà Nội: " + parts(
        _.gettext("{received} received, {resolved} resolved").format(received=2, resolved=2),
        _.gettext("{percent} on time").format(percent="100%"),
        _.gettext("median time to resolve {time}").format(time=_.ngettext("{count} hour", "{count} hours", 36)
                                                          .format(count="36")),
        _.gettext("{percent} satisfied").format(percent="0%"))
    assert len(lines) == 6 and "Công an" not in answer.text


async def test_no_reports_at_all_is_said_plainly(bot, emulator, db):
    bot.bot_data["clock"] = lambda: NOW
    kim = emulator.user(first_name="Kim", language_code="en")
    await kim.send("/stats")
    assert (await kim.next_message()).text == ("No reports were filed in the last 90 days, so there are no figures "
                                               "yet. Send /report to report a problem.")


def test_durations_and_a_long_list_stay_readable():
    assert stats_handler.duration(0.5, "en") == "less than an hour"
    assert stats_handler.duration(1, "en") == "1 hour"
    assert stats_handler.duration(47.6, "en") == "48 hours"
    assert stats_handler.duration(48, "en") == "2 days"
    assert stats_handler.duration(24 * 1234.5, "en") == "1,234.5 days"
    from complaints.stats import AgencyStats

    rows = [AgencyStats(f"a{n}", "x" * 160, "y" * 160, received=100 - n, resolved=1, on_time=1, rated=1, satisfied=1,
                        median_hours_to_resolve=5) for n in range(40)]
    text = stats_handler.stats_text(rows, "en", NOW, timezone.utc)
    assert len(text) <= 4096 and len(text.split("\n")) <= 21
    shown = text.count("• <b>")
    assert shown < 15 and f"…and {40 - shown} more agencies." in text  # long names: fewer lines
    for row in rows:
        row.name_en = "Ward " + row.agency_code
    text = stats_handler.stats_text(rows, "en", NOW, timezone.utc)
    assert text.count("• <b>") == 15 and "…and 25 more agencies." in text and len(text.split("\n")) == 20
