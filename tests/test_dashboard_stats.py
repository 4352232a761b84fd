"""The statistics page: per agency and per category, over 30, 90 or 365 days, for every member of
staff, with the figures of complaints.stats as tables and bar charts."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from complaints import stats
from storage import roles
from storage.models import Agency, Report
from storage.types import utcnow
from tests.fixtures.bot import served
from tests.fixtures.dashboard import browser_at, web_settings

DAY = timedelta(days=1)
NASTY = "URENCO <script>alert('x')</script> & co"


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path)


async def history(db, now) -> None:
    """Transport Department: 4 reports in the last 90 days (3 resolved after 2, 5 and 9 days, 2 of
    them on time; 3 ratings, 2 satisfied) and one 100 days ago; URENCO: 2 (resolved after 1 and 2
    days, on time; one rating, acceptable); the Police: none; one report not passed to any agency.
    Roads: Transport's 10, 20 and 5 days ago (and the old one); sanitation: the others."""
    rows = [  # agency, category, created before now, resolved after, due after, rating
        ("a1", "roads", 10 * DAY, 2 * DAY, 5 * DAY, "satisfied"),
        ("a1", "roads", 20 * DAY, 5 * DAY, 3 * DAY, "not_satisfied"),
        ("a1", "sanitation", 30 * DAY, 9 * DAY, 10 * DAY, "satisfied"),
        ("a1", "roads", 5 * DAY, None, 5 * DAY, None),
        ("a1", "roads", 100 * DAY, 1 * DAY, 5 * DAY, "satisfied"),  # before the 90 days
        ("a2", "sanitation", 3 * DAY, 1 * DAY, 5 * DAY, "acceptable"),
        ("a2", "sanitation", 4 * DAY, 2 * DAY, 5 * DAY, None),
        (None, "roads", 2 * DAY, None, 5 * DAY, None),
    ]
    async with db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(Agency(code="a2", name_vi="URENCO Hà Nội", name_en=NASTY))
        session.add(Agency(code="a3", name_vi="Công an phường", name_en="Ward Police"))
        await session.flush()
        for n, (agency, category, ago, resolved, due, rating) in enumerate(rows):
            created = now - ago
            session.add(Report(code=f"PA-S{n:04d}", category_code=category, description="x",
                               state="closed" if resolved else ("in_progress" if agency else "submitted"),
                               agency_code=agency, created_at=created, updated_at=created, due_at=created + due,
                               resolved_at=created + resolved if resolved else None, rating=rating))


def table_rows(page: str, section: str) -> dict[str, list[str]]:
    """{code: [name, received, resolved, on time, median, satisfied]} of one section's table."""
    part = re.search(rf'<section class="card" id="{section}">(.*?)</section>', page, re.S).group(1)
    rows = {}
    for code, row in re.findall(r'<tr data-code="([^"]+)">(.*?)</tr>', part, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows[code] = [" ".join(html.unescape(re.sub(r"<[^>]+>", "", c)).split()) for c in cells]
    return rows


async def test_category_stats_use_the_same_reports_and_figures_as_agency_stats(db):
    now = utcnow()
    await history(db, now)
    async with db.read() as session:
        by_category = {s.code: s for s in await stats.category_stats(session, now=now, days=90)}
        by_agency = await stats.agency_stats(session, now=now, days=90, include_idle=False)
        idle = await stats.category_stats(session, now=now, days=90, include_idle=False)
    roads, sanitation = by_category["roads"], by_category["sanitation"]
    assert (roads.received, roads.resolved, roads.on_time, roads.rated, roads.satisfied) == (3, 2, 1, 2, 1)
    assert (roads.on_time_pct, roads.satisfied_pct, roads.median_hours_to_resolve) == (50.0, 50.0, 84.0)
    assert (sanitation.received, sanitation.on_time_pct, sanitation.median_hours_to_resolve) == (3, 100.0, 48.0)
    assert (roads.name_en, roads.category_code) == ("Traffic and roads", "roads")
    assert by_category["health"].received == 0 and [s.code for s in idle] == ["roads", "sanitation"]
    assert sum(s.received for s in by_agency) == sum(s.received for s in idle) == 6


async def test_every_member_of_staff_sees_the_figures_of_the_period(application, emulator, settings, db):
    now = utcnow()
    await history(db, now)
    mai = emulator.user(first_name="Mai", language_code="en")
    ha = emulator.user(first_name="Hà", language_code="vi")
    async with db.transaction() as session:
        await roles.grant(session, mai.id, "moderator")
        await roles.grant(session, ha.id, "broadcaster")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        for query in ("", "?days=90", "?days=7", "?days=x"):
            status, page = await browser.get("/dashboard/stats" + query)
            assert status == 200, page
            assert re.search(r'<option value="90" selected>Last 90 days</option>', page)
            assert table_rows(page, "agencies") == {
                "a1": ["Transport Department", "4", "3", "66.7%", "5 days", "66.7% (3 ratings)"],
                "a2": [NASTY, "2", "2", "100%", "36 hours", "0% (1 rating)"],
            }
            assert table_rows(page, "categories") == {
                "roads": ["Traffic and roads", "3", "2", "50%", "3.5 days", "50% (2 ratings)"],
                "sanitation": ["Environment and sanitation", "3", "3", "100%", "2 days", "50% (2 ratings)"],
            }
        # The names are text in the tables and in the charts' labels.
        assert "<script>alert" not in page and page.count("URENCO &lt;script&gt;") >= 3
        assert page.count('class="loa-bars"') == 4
        assert "<title>Transport Department: 4</title>" in page and "<title>Transport Department: 66.7%</title>" in page

        status, page = await browser.get("/dashboard/stats?days=365")
        assert table_rows(page, "agencies")["a1"] == ["Transport Department", "5", "4", "75%", "3.5 days",
                                                      "75% (4 ratings)"]
        status, page = await browser.get("/dashboard/stats?days=30")
        assert set(table_rows(page, "agencies")) == {"a1", "a2"}
        assert table_rows(page, "agencies")["a1"][:3] == ["Transport Department", "3", "2"]  # 30 days ago is out

        # In Vietnamese: the Vietnamese names, and numbers written the Vietnamese way.
        async with browser_at(base) as other:
            await other.sign_in(ha)
            status, page = await other.get("/dashboard/stats")
            assert status == 200 and table_rows(page, "agencies")["a1"][:4] == ["Sở Giao thông", "4", "3", "66,7%"]
