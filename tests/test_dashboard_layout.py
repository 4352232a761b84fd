"""The dashboard's layout in headless Chromium on the sandbox's demo data, at a desktop's size and
at a phone's (390x844), in both languages: no page wider than the screen, agency names on at
most two lines, chart labels inside their charts, numbers and dates written one way per language.
Screenshots of every page at both sizes go to test-artifacts/screenshots/dashboard-layout-*."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.fixtures.browser import screenshot, signed_in_dashboard

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# The page's width beyond the screen's (0 when nothing overflows), and what sticks out.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-wrap'))
    .slice(0, 5).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').trim().slice(0, 40));
  return [document.scrollingElement.scrollWidth, wide];
}"""
# The lines the text of each cell of a column takes.
LINES = """(selector) => [...document.querySelectorAll(selector)].map(cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const lineHeight = parseFloat(getComputedStyle(cell).lineHeight);
  return [cell.textContent.trim(), Math.round(range.getBoundingClientRect().height / lineHeight)];
})"""
# Each bar label of the charts whose drawn box leaves its SVG's picture.
CUT_LABELS = """() => [...document.querySelectorAll('svg.loa-bars text')].filter(text => {
  const box = text.getBBox();
  const view = text.ownerSVGElement.viewBox.baseVal;
  return box.x < -2 || box.x + box.width > view.width + 2;  // a glyph may overhang its origin a little
}).map(text => text.textContent)"""


async def fits(page, label: str) -> None:
    width = page.viewport_size["width"]
    scroll_width, wide = await page.evaluate(OVERFLOW)
    assert scroll_width <= width, f"{label}: {scroll_width} px wide on a {width} px screen: {wide}"


async def test_every_page_fits_a_phone_and_reads_one_way_per_language(sandbox, page):
    dashboard = await signed_in_dashboard(sandbox, page)
    base = sandbox.url.rstrip("/") + "/dashboard"
    await dashboard.goto(base + "/queue?state=all")
    code = await dashboard.locator("table.queue tbody tr").first.get_attribute("data-code")
    pages = {"queue": "/queue?state=all", "report": f"/reports/{code}", "stats": "/stats",
             "broadcasts": "/broadcasts"}
    for language in ("vi", "en"):
        await dashboard.goto(base + "/stats")
        switch = dashboard.locator(f"form[action='/dashboard/language'] button[value='{language}']")
        if await switch.is_enabled():  # the page's language is greyed out
            await switch.click()
        await expect(dashboard.locator("html")).to_have_attribute("lang", language)
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await dashboard.set_viewport_size(size)
            for name, path in pages.items():
                await dashboard.goto(base + path)
                await expect(dashboard.locator("h1")).to_be_visible()
                label = f"{name}, {language}, {size_name}"
                if size is PHONE:
                    await fits(dashboard, label)
                assert await dashboard.evaluate(CUT_LABELS) == [], label
                await screenshot(dashboard, f"dashboard-layout-{name}-{language}-{size_name}")
            # Agency names take at most two lines of the queue at either size.
            await dashboard.goto(base + pages["queue"])
            agencies = await dashboard.evaluate(LINES, "table.queue td.agency")
            assert agencies and all(lines <= 2 for _text, lines in agencies), agencies
            if size is DESKTOP:  # and the whole table fits a laptop's screen
                table, room = await dashboard.evaluate(
                    "() => { const w = document.querySelector('.table-wrap'); return [w.scrollWidth, w.clientWidth]; }")
                assert table <= room, (table, room)

        # Numbers and dates one way: 85,7% and 14:30 07/12/2026 in Vietnamese, 85.7% and
        # 7 Dec 2026, 14:30 in English, in the tables and the charts alike.
        await dashboard.set_viewport_size(DESKTOP)
        await dashboard.goto(base + "/stats?days=365")
        text = await dashboard.locator("main").inner_text()
        charts = " ".join(await dashboard.locator("svg.loa-bars text").all_text_contents())
        decimal = re.compile(r"\d([.,])\d+%")
        separators = {found.group(1) for found in decimal.finditer(text + " " + charts)}
        assert separators <= ({","} if language == "vi" else {"."}), (language, separators)
        await dashboard.goto(base + pages["queue"])
        dates = await dashboard.locator("table.queue td.when").all_text_contents()
        shape = (r"\d\d:\d\d \d\d/\d\d/\d{4}" if language == "vi" else r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d")
        dates = [d.strip() for d in dates if d.strip() != "—"]  # a deadline may be followed by "overdue"
        assert dates and all(re.match(shape + r"(\s|$)", d) for d in dates), (language, dates)
