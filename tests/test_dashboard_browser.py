"""The dashboard in a real headless Chromium: staff sign in with the link the bot sent them in
the emulator, a moderator triages a report to an agency, the agency's staff resolve it, and the
resident hears of both in Telegram; a report written as HTML stays inert; a forged form and a
page outside one's role are refused. Every page visited is kept as a screenshot in
test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from tests.fixtures.bot import served
from tests.fixtures.browser import screenshot
from tests.fixtures.city import add_report, grant
from tests.fixtures.dashboard import sign_in_link, web_settings
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import onboarded
from tests.fixtures.triage import file_report

# Written by a resident: if the page ran it, window.__xss would be set.
XSS = ('<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2"> '
       'Ổ gà rất sâu trước số nhà 25, xe máy ngã hai lần trong tuần.')


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path)


async def sign_in(page, user, landing: str) -> None:
    link = await sign_in_link(user)
    await page.goto(link)
    await page.click("form[action='/dashboard/login'] button")
    await page.wait_for_url(f"**{landing}**")


async def not_run(page) -> None:
    assert await page.evaluate("() => window.__xss") is None


async def test_a_report_triaged_and_resolved_in_the_browser_reaches_the_resident(
        application, emulator, settings, db, city, browser, page):  # noqa: F811
    mai, hung = emulator.user("Mai", language_code="vi"), emulator.user("Hùng", language_code="vi")
    await grant(db, mai, "moderator")
    await grant(db, mai, "broadcaster")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    async with served(application, emulator, settings, db):
        lan = await onboarded(emulator, "vi")
        confirmation = await file_report(lan, language="vi", description=XSS)
        code = next(word for word in confirmation.text.split() if word.startswith("PA-"))

        # The moderator: the sign-in page, then the triage queue with the new report.
        link = await sign_in_link(mai)
        await page.goto(link)
        await screenshot(page, "01-sign-in")
        await page.click("form[action='/dashboard/login'] button")
        await page.wait_for_url("**/dashboard/queue**")
        row = page.locator(f"tr[data-code='{code}']")
        assert await row.count() == 1
        assert "<script>window.__xss" in await row.inner_text()
        await not_run(page)
        await screenshot(page, "02-triage-queue")

        # The report page: the description as text, the map, the history; assign to transport.
        await row.locator("a").first.click()
        await page.wait_for_url(f"**/dashboard/reports/{code}")
        assert "<script>window.__xss = 1</script>" in await page.locator("p.description").first.inner_text()
        assert await page.locator("svg.loa-map").count() == 1
        await not_run(page)
        await screenshot(page, "03-report")
        await page.select_option("#a-agency", "hn-so-gtvt")
        await page.click("form:has(#a-agency) button")
        await page.wait_for_selector(".flash")
        await screenshot(page, "04-report-assigned")
        assigned = await lan.next_message()
        assert code in assigned.text and "Sở Giao thông vận tải Hà Nội" in assigned.text

        # The same person as a broadcaster, and everyone's statistics.
        await page.goto(settings.dashboard_base + "/dashboard/broadcasts/new")
        count = page.locator("[data-count-out]")
        await page.select_option("#province", "01")  # submits the form: Hà Nội's wards appear
        await page.wait_for_selector("input[name=areas][value='01']")
        await page.check("input[name=areas][value='01']")
        await page.select_option("#topic", "weather")
        await page.wait_for_function("() => /\\d/.test(document.querySelector('[data-count-out]').textContent)")
        assert "1" in await count.inner_text()  # Lan, in Long Biên, follows the default topic
        await screenshot(page, "05-broadcast-compose")
        await page.goto(settings.dashboard_base + "/dashboard/broadcasts")
        await screenshot(page, "06-broadcasts")
        await page.goto(settings.dashboard_base + "/dashboard/stats")
        assert await page.locator("svg.loa-bars").count() >= 1
        await screenshot(page, "07-statistics")

        # A form whose CSRF token is not the session's is refused, and changes nothing.
        await page.goto(settings.dashboard_base + "/dashboard/queue")
        await page.evaluate("() => document.querySelector(\"form[action='/dashboard/logout'] "
                            "input[name=csrf]\").value = 'forged'")
        await page.click("form[action='/dashboard/logout'] button")
        assert await page.locator("p.error").count() == 1
        await screenshot(page, "08-csrf-refused")
        await page.goto(settings.dashboard_base + "/dashboard/queue")
        assert page.url.endswith("/dashboard/queue")  # still signed in

        # The agency's staff, in a browser of their own: their queue, the report, resolve it.
        context = await browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 900})
        agency = await context.new_page()
        await sign_in(agency, hung, "/dashboard/agency")
        assert await agency.locator(f"tr[data-code='{code}']").count() == 1
        await not_run(agency)
        await screenshot(agency, "09-agency-queue")
        await agency.click(f"tr[data-code='{code}'] a")
        await agency.wait_for_url(f"**/dashboard/reports/{code}")
        assert await agency.locator(".reporter").count() == 0  # agencies never see who reported
        await agency.fill("#a-note", "Đã vá ổ gà và cắm biển cảnh báo.")
        await agency.click("form:has(#a-note) button")
        await agency.wait_for_selector(".flash")
        await screenshot(agency, "10-report-resolved")
        resolved = await lan.next_message()
        assert code in resolved.text and "Đã vá ổ gà" in resolved.text
        assert resolved.buttons, "the resolution asks the resident for a rating"

        # Outside their role: the triage queue and the broadcasts are refused.
        for path in ("/dashboard/queue", "/dashboard/broadcasts"):
            response = await agency.goto(settings.dashboard_base + path)
            assert response.status == 403
        await screenshot(agency, "11-role-refused")

        # Signing out ends the session: the dashboard then asks to sign in again.
        await agency.click("form[action='/dashboard/logout'] button")
        await agency.wait_for_url("**/dashboard/signed-out")
        await screenshot(agency, "12-signed-out")
        await agency.goto(settings.dashboard_base + "/dashboard/agency")
        assert agency.url.endswith("/dashboard/signed-out")
        await context.close()


async def test_a_report_without_a_ward_is_assigned_from_the_agencies_of_its_category(
        application, emulator, settings, db, city, browser, page):  # noqa: F811
    mai = emulator.user("Mai", language_code="vi")
    await grant(db, mai, "moderator")
    code = await add_report(db, category="sanitation", area=None, point=None, address="15 Hàng Bài")
    async with served(application, emulator, settings, db):
        await sign_in(page, mai, "/dashboard/queue")
        await page.goto(settings.dashboard_base + f"/dashboard/reports/{code}")
        groups = await page.locator("#a-agency optgroup").evaluate_all("groups => groups.map(g => g.label)")
        assert groups == ["Phụ trách lĩnh vực này", "Cơ quan khác"]
        first = await page.locator("#a-agency optgroup").first.locator("option").evaluate_all(
            "options => options.map(o => o.value)")
        assert first[:2] == ["hn-urenco", "hn-so-tnmt"] and "hn-so-gtvt" not in first
        await screenshot(page, "report-without-a-ward")
        await page.select_option("#a-agency", "hn-so-tnmt")
        await page.click("form:has(#a-agency) button")
        await page.wait_for_selector(".flash")
    [report] = await report_rows(db, code=code)
    assert (report.state, report.agency_code) == ("assigned", "hn-so-tnmt")
