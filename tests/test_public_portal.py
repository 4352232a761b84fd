"""The public portal's pages over HTTP (web/portal.py, web/public_home.py, web/public_agencies.py,
web/public_alerts.py): both languages and the switch kept in a cookie, the alert archive (only
what broadcasts/publish.py publishes, filters, paging, corrections linked both ways), the
agencies' figures equal to complaints.stats' own, caching, the switch off, hostile text escaped,
the bot's link on `loa run`'s own server, and the pages in Chromium on a desktop and a phone;
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from complaints import stats
from kernel import formats
from storage.models import Agency, Report
from storage.types import utcnow
from tests.fixtures.bot import served, settings_for
from tests.fixtures.browser import screenshot
from tests.fixtures.public import (
    SENDER,
    cancelled,
    corrected,
    delivered,
    never_sent,
    portal,  # noqa: F401  (a fixture)
    portal_for,
    sent_alert,
)
from web import portal as portal_module

DAY = timedelta(days=1)
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"
PAGES = ("/public/", "/public/agencies", "/public/alerts")


@pytest.fixture
def settings(emulator, db, tmp_path):
    """`loa run`'s settings on a free port (the served bot's tests)."""
    return settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_HOST="127.0.0.1", HTTP_PORT="0",
                        LOA_CAP_SENDER=SENDER)


async def reports(db, now) -> None:
    """Transport (a1): 4 reports in the last 30 days (3 resolved after 2, 5 and 9 days, 2 of them
    on time; 3 ratings, 2 satisfied) and one 100 days ago; a2 (a hostile name): 2 resolved on
    time, one rated acceptable; a3: none; one report not passed to any agency."""
    rows = [  # agency, created before now, resolved after, due after, rating
        ("a1", 10 * DAY, 2 * DAY, 5 * DAY, "satisfied"),
        ("a1", 20 * DAY, 5 * DAY, 3 * DAY, "not_satisfied"),
        ("a1", 25 * DAY, 9 * DAY, 10 * DAY, "satisfied"),
        ("a1", 5 * DAY, None, 5 * DAY, None),
        ("a1", 100 * DAY, 1 * DAY, 5 * DAY, "satisfied"),
        ("a2", 3 * DAY, 1 * DAY, 5 * DAY, "acceptable"),
        ("a2", 4 * DAY, 2 * DAY, 5 * DAY, None),
        (None, 2 * DAY, None, 5 * DAY, None),
    ]
    async with db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(Agency(code="a2", name_vi=HOSTILE, name_en=HOSTILE))
        session.add(Agency(code="a3", name_vi="Công an phường", name_en="Ward Police"))
        await session.flush()
        for n, (agency, ago, resolved, due, rating) in enumerate(rows):
            created = now - ago
            session.add(Report(code=f"PA-P{n:04d}", category_code="roads", description="x",
                               state="closed" if resolved else ("in_progress" if agency else "submitted"),
                               agency_code=agency, created_at=created, updated_at=created, due_at=created + due,
                               resolved_at=created + resolved if resolved else None, rating=rating))


def listed_alerts(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<li class="[a-z]+" data-alert="(\d+)">', page)]


def table(page: str) -> dict[str, list[str]]:
    """{agency code: [name, received, resolved, on time, median, satisfied]} of the agencies' table."""
    rows = {}
    for code, row in re.findall(r'<tr data-code="([^"]+)">(.*?)</tr>', page, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows[code] = [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]
    return rows


def percent(value: float | None) -> str:
    return "—" if value is None else formats.number(value, "en") + "%"


def figure(page: str, name: str) -> str:
    return re.search(rf'data-figure="{name}"><span class="value">([^<]*)</span>', page).group(1)


async def test_every_page_in_both_languages_and_the_switch(portal):
    alert_id = await sent_alert(portal.db)
    for path in (*PAGES, f"/public/alerts/{alert_id}"):
        status, vi = await portal.page(path, "vi")
        assert status == 200, (path, vi)
        assert '<html lang="vi">' in vi and "Trang chủ" in vi and 'href="/public/alerts.atom"' in vi, path
        status, en = await portal.page(path, "en")
        assert status == 200 and '<html lang="en">' in en and ">Home</a>" in en and "Trang chủ" not in en, path

    # No cookie: Vietnamese, unless the browser ranks English higher.
    assert '<html lang="vi">' in (await portal.page("/public/"))[1]
    assert '<html lang="en">' in (await portal.page("/public/", **{"Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"}))[1]
    assert '<html lang="vi">' in (await portal.page("/public/", **{"Accept-Language": "vi-VN,en;q=0.8"}))[1]
    assert '<html lang="vi">' in (await portal.page("/public/", **{"Accept-Language": "fr-FR"}))[1]

    # The switch: a link in the header, kept in a cookie, back to the same page.
    status, page = await portal.page("/public/agencies?days=90")
    [link] = re.findall(r'<a href="(/public/language/en\?[^"]+)"', page)
    response = await portal.client.get(html.unescape(link), allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/public/agencies?days=90"
    assert response.cookies[portal_module.COOKIE].value == "en"
    response = await portal.client.get("/public/agencies?days=90")  # the client keeps the cookie
    assert '<html lang="en">' in await response.text()
    # Never sent elsewhere, and an unknown language is not a page.
    response = await portal.client.get("/public/language/vi?back=https://evil.example/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/public/"
    response = await portal.client.get("/public/language/vi?back=//evil.example/public/", allow_redirects=False)
    assert response.headers["Location"] == "/public/"
    assert (await portal.client.get("/public/language/fr")).status == 404


async def test_the_archive_shows_only_published_alerts_filtered_and_paged(portal):
    db = portal.db
    hidden = await never_sent(db)
    weather = [await sent_alert(db, texts={"vi": f"Mưa số {n}", "en": f"Rain {n}"}) for n in range(22)]
    traffic = await sent_alert(db, topic_code="traffic", severity="moderate", texts={"vi": "Cấm đường"})

    status, first = await portal.page("/public/alerts", "vi")
    assert status == 200
    newest_first = [traffic, *reversed(weather)]
    assert listed_alerts(first) == newest_first[:20]
    assert 'rel="next" href="/public/alerts?page=2"' in first and 'rel="prev"' not in first
    _, second = await portal.page("/public/alerts?page=2", "vi")
    assert listed_alerts(second) == newest_first[20:]
    assert 'rel="next"' not in second and 'rel="prev" href="/public/alerts"' in second
    _, beyond = await portal.page("/public/alerts?page=99", "vi")
    assert listed_alerts(beyond) == []

    _, only_traffic = await portal.page("/public/alerts?topic=traffic", "en")
    assert listed_alerts(only_traffic) == [traffic]
    _, moderate = await portal.page("/public/alerts?severity=moderate", "en")
    assert listed_alerts(moderate) == [traffic]
    _, severe = await portal.page("/public/alerts?severity=severe&topic=weather&page=2", "en")
    assert listed_alerts(severe) == list(reversed(weather))[20:]
    assert 'rel="prev" href="/public/alerts?topic=weather&amp;severity=severe"' in severe
    _, nonsense = await portal.page("/public/alerts?severity=<x>&topic=nope&page=-3", "en")
    assert listed_alerts(nonsense) == newest_first[:20]  # unknown filters are ignored

    for alert_id in hidden:
        assert alert_id not in listed_alerts(first) + listed_alerts(second)
        assert (await portal.page(f"/public/alerts/{alert_id}", "en"))[0] == 404
    status, missing = await portal.page("/public/alerts/999999", "en")
    assert status == 404 and "There is nothing here." in missing and '<html lang="en">' in missing
    _, home = await portal.page("/public/", "vi")
    assert listed_alerts(home) == newest_first[:5]
    assert figure(home, "alerts") == "23"  # the held, draft and stopped ones are not counted


async def test_an_alert_page_with_its_corrections_and_cancellation(portal):
    db = portal.db
    original = await sent_alert(db, link="https://kttv.gov.vn/bao", expires_at=utcnow() + 2 * DAY,
                                texts={"vi": "Bão số 3\nSơ tán ven biển", "en": "Typhoon Three\nEvacuate the coast"})
    await delivered(db, original)
    fix = await corrected(db, original, {"vi": "Bão số 3 (sửa)", "en": "Typhoon Three (corrected)"})
    await delivered(db, fix)
    stop = await cancelled(db, fix)

    status, page = await portal.page(f"/public/alerts/{original}", "en")
    assert status == 200
    assert "<h1>Typhoon Three</h1>" in page
    assert page.index('<section lang="en"') < page.index('<section lang="vi"')  # the visitor's language first
    assert "Sơ tán ven biển" in page and "Evacuate the coast" in page
    assert "<dd>Hoan Kiem Ward</dd>" in page and "<dd>Severe</dd>" in page and "Expires" in page
    assert 'href="https://kttv.gov.vn/bao"' in page
    cap_link = f'href="/public/alerts/{original}.cap"'
    assert f'<link rel="alternate" type="application/cap+xml" title="CAP 1.2" {cap_link}>' in page
    assert 'rel="alternate" type="application/atom+xml"' in page
    assert listed_alerts(page) == [fix]  # its correction, linked

    _, fixed = await portal.page(f"/public/alerts/{fix}", "vi")
    assert "Đính chính" in fixed and f'href="/public/alerts/{original}" rel="prev"' in fixed
    assert listed_alerts(fixed) == [stop] and "Bão số 3 (sửa)" in fixed
    assert "Cảnh báo này đã bị hủy." in fixed
    _, stopped = await portal.page(f"/public/alerts/{stop}", "en")
    assert "This cancels an earlier alert:" in stopped and f'href="/public/alerts/{fix}" rel="prev"' in stopped
    assert "Typhoon Three (corrected)" in stopped  # a cancellation without text of its own shows what it cancels
    _, archive = await portal.page("/public/alerts", "en")
    assert listed_alerts(archive) == [stop, fix, original]
    assert archive.count('class="badge cancel">Cancellation</span>') == 1


async def test_the_figures_are_complaints_stats_own(portal):
    db = portal.db
    now = utcnow()
    await reports(db, now)
    async with db.read() as session:
        by_period = {days: await stats.agency_stats(session, now=now, days=days) for days in (30, 90, 365)}
        total = await stats.overall_stats(session, now=now, days=30)
    assert (total.received, total.resolved, total.on_time, total.rated, total.satisfied) == (6, 5, 4, 4, 2)

    for days, rows in by_period.items():
        _, page = await portal.page(f"/public/agencies?days={days}", "en")
        shown = table(page)
        assert list(shown) == [row.code for row in rows]
        for row in rows:
            name, received, resolved, on_time, _median, satisfied = shown[row.code]
            assert name == row.name("en")
            assert (received, resolved) == (str(row.received), str(row.resolved))
            assert on_time == percent(row.on_time_pct)
            assert satisfied.split(" ")[0] == percent(row.satisfied_pct)
    _, month = await portal.page("/public/agencies", "en")
    assert table(month)["a1"][1:4] == ["4", "3", "66.7%"] and table(month)["a1"][4] == "5 days"
    assert '<span aria-current="true">Last 30 days</span>' in month
    _, year = await portal.page("/public/agencies?days=365", "vi")
    assert table(year)["a1"][1:4] == ["5", "4", "75%"]
    assert month.count('class="loa-bars"') == 3

    _, home = await portal.page("/public/", "en")
    assert (figure(home, "received"), figure(home, "resolved")) == ("6", "5")
    assert figure(home, "on_time") == percent(total.on_time_pct) == "80%"
    assert figure(home, "satisfied") == percent(total.satisfied_pct) == "50%"
    # The hostile agency name, escaped in the table and in the charts.
    assert HOSTILE not in month and "&lt;script&gt;" in month


async def test_pages_are_cacheable_and_answer_304(portal):
    alert_id = await sent_alert(portal.db)
    for path in (*PAGES, f"/public/alerts/{alert_id}"):
        status, headers, body = await portal.get(path)
        assert status == 200 and body
        assert headers["Cache-Control"] == "public, max-age=60" and headers["ETag"].startswith('"')
        assert headers["Vary"] == "Host, Cookie, Accept-Language"
        assert "script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in \
            headers["Content-Security-Policy"]
        status, again, body = await portal.get(path, **{"If-None-Match": headers["ETag"]})
        assert (status, body, again["ETag"]) == (304, b"", headers["ETag"])
        # The other language is another version.
        status, english, _ = await portal.get(path, **{"If-None-Match": headers["ETag"], "Accept-Language": "en"})
        assert status == 200 and english["ETag"] != headers["ETag"]
    _, before, _ = await portal.get("/public/alerts")
    await sent_alert(portal.db, texts={"vi": "Tin mới"})
    status, after, _ = await portal.get("/public/alerts", **{"If-None-Match": before["ETag"]})
    assert status == 200 and after["ETag"] != before["ETag"]


async def test_the_switch_off_answers_404(areas_loaded):
    async with portal_for(areas_loaded, LOA_PUBLIC_PORTAL="false") as closed:
        for path in (*PAGES, "/public/alerts/1", "/public/language/en", "/public/static/public.css"):
            assert (await closed.get(path))[0] == 404, path


async def test_hostile_alert_text_is_escaped(portal):
    alert_id = await sent_alert(portal.db, texts={"vi": HOSTILE, "en": HOSTILE}, link="javascript:alert(1)")
    for path in ("/public/", "/public/alerts", f"/public/alerts/{alert_id}"):
        for language in ("vi", "en"):
            _, page = await portal.page(path, language)
            assert HOSTILE not in page and "<script>" not in page, path
            assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page, path
            assert "javascript:" not in page


async def test_loa_run_links_the_home_page_to_the_bot(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, http):
        username = application.bot.username
        async with http.get(f"{base}/public/", cookies={portal_module.COOKIE: "en"}) as response:
            assert response.status == 200
            page = await response.text()
    assert username
    assert f'href="https://t.me/{username}"' in page and f"Open @{username} in Telegram" in page


async def test_the_portal_in_chromium(portal, screen):
    """Desktop and phone: the pages open from the header's links (no script runs: the policy
    forbids them), nothing scrolls sideways at a phone's width, and the language switch works."""
    db = portal.db
    now = utcnow()
    await reports(db, now)
    original = await sent_alert(db, texts={"vi": "Mưa lớn ở Hoàn Kiếm, ngập sâu 30 cm ở phố Hàng Bài và Tràng Tiền",
                                           "en": "Heavy rain in Hoan Kiem"})
    await delivered(db, original)
    await corrected(db, original, {"vi": "Mưa lớn, đã giảm", "en": "Heavy rain, easing"})
    page = screen
    if screen.name == "phone":
        await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(portal.url("/public/"))
    await expect(page.locator("h1")).to_have_text("Loa: phản ánh và cảnh báo của thành phố")
    shots = [("home", "/public/")]
    for label, heading, path in (("Cơ quan", "Các cơ quan xử lý phản ánh thế nào", "/public/agencies"),
                                 ("Cảnh báo", "Cảnh báo đã gửi", "/public/alerts")):
        await page.get_by_role("navigation", name="Cổng thông tin").get_by_role("link", name=label).click()
        await expect(page.locator("h1")).to_have_text(heading)
        assert page.url == portal.url(path)
        shots.append((label, path))
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= (await page.evaluate("window.innerWidth")), (path, wide)
        await screenshot(page, f"public-{screen.name}-{path.strip('/').replace('/', '-')}")
    await page.get_by_role("link", name="Mưa lớn, đã giảm").click()
    await expect(page.locator("h1")).to_contain_text("Mưa lớn, đã giảm")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, f"public-{screen.name}-alert")
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("h1")).to_contain_text("Heavy rain, easing")
    await page.get_by_role("navigation", name="Portal").get_by_role("link", name="Home").click()
    await expect(page.locator("h1")).to_have_text("Loa: reports and alerts for the city")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, f"public-{screen.name}-home-en")


async def test_the_sandbox_links_to_the_portal(sandbox, chat_client):
    async with chat_client.http.get(sandbox.url, params={"lang": "en"}) as response:
        page = await response.text()
    assert '<a href="/public/" target="_blank" rel="noopener">Public portal</a>' in page
    async with chat_client.http.get(sandbox.url + "public/", cookies={portal_module.COOKIE: "en"}) as response:
        assert response.status == 200
        home = await response.text()
    assert 'href="https://t.me/loa_sandbox_bot"' in home  # the sandbox's bot, in its emulator
    assert listed_alerts(home)  # the demo's weather alert


async def test_the_figures_are_computed_again_in_the_background(portal, monkeypatch):
    """Kept figures are answered at once; once they are old (here: at once), a request starts
    computing them again and the pages show the new ones when they are ready."""
    db = portal.db
    now = utcnow()
    await reports(db, now)
    _, home = await portal.page("/public/", "en")
    assert figure(home, "received") == "6"
    async with db.transaction() as session:
        session.add(Report(code="PA-PNEW", category_code="roads", description="x", state="assigned",
                           agency_code="a3", created_at=now, updated_at=now, due_at=now + DAY))
    _, kept = await portal.page("/public/", "en")
    assert figure(kept, "received") == "6"  # not old yet: the kept figures
    monkeypatch.setattr(portal_module, "MEMO_SECONDS", 0.0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while figure(home := (await portal.page("/public/", "en"))[1], "received") == "6" and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert figure(home, "received") == "7"
    _, agencies = await portal.page("/public/agencies", "en")
    assert table(agencies)["a3"][1] == "1"
