"""A report's thread in a real headless Chromium, on a desktop's screen and on a phone's: a
moderator asks the resident from the report page, the resident (in the emulator) gets the
question and answers by replying with a photo and words written as HTML, which stay inert (the
open page says a new message came); an internal note joins the thread marked as such. The page is kept as a screenshot,
test-artifacts/screenshots/thread-desktop.png and thread-phone.png."""

from __future__ import annotations

import pytest

from tests.fixtures.bot import served
from tests.fixtures.browser import screenshot
from tests.fixtures.city import grant
from tests.fixtures.dashboard import sign_in_link, web_settings
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import onboarded
from tests.fixtures.triage import file_report

# Written by the resident: if the page ran it, window.__xss would be set.
XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2"> Bên trái đường, trước số 25.'


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path)


async def test_the_thread_on_the_report_page(application, emulator, settings, db, city, screen):
    page = screen
    mai = emulator.user("Mai", language_code="vi")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db):
        lan = await onboarded(emulator, "vi")
        await file_report(lan, language="vi", photos=0)
        [report] = await report_rows(db)

        await page.goto(await sign_in_link(mai))
        await page.click("form[action='/dashboard/login'] button")
        await page.wait_for_url("**/dashboard/queue**")
        await page.goto(f"{settings.dashboard_base}/dashboard/reports/{report.code}")
        assert await page.locator("#thread li.message").count() == 0

        await page.fill("#t-ask", "Ổ gà ở bên trái hay bên phải đường?")
        await page.click("form:has(#t-ask) button")
        await page.wait_for_selector("#thread li.message")
        assert "?done=ask" in page.url
        asked = page.locator("#thread li.message").first
        assert "Mai" in await asked.inner_text() and "bên phải đường?" in await asked.inner_text()
        question = await lan.next_message()
        assert report.code in question.text and "bên phải đường?" in question.text

        # The resident answers by replying in Telegram, with a photo and words written as HTML:
        # the open page says so by itself, and shows it once reloaded.
        await lan.send_photo(caption=XSS, reply_to=question)
        assert report.code in (await lan.next_message()).text
        hint = page.locator("#thread .live-hint")
        await hint.wait_for(state="visible")
        assert "1 tin nhắn mới" in await hint.inner_text()
        await page.reload()
        await page.wait_for_selector("#thread li.message >> nth=1")
        await page.fill("#t-note", "Đã hẹn đội thi công thứ Hai.")
        await page.click("form:has(#t-note) button")
        await page.wait_for_selector("#thread li.message.internal")
        items = page.locator("#thread li.message")
        assert await items.count() == 3
        added = items.nth(1)
        assert "<script>window.__xss = 1</script>" in await added.locator(".description").inner_text()
        assert "Lan" not in await added.inner_text()
        image = added.locator("img")
        await image.scroll_into_view_if_needed()
        await page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                                     arg=await image.element_handle())
        assert await page.evaluate("() => window.__xss") is None
        # Nothing sticks out of a phone's screen.
        assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        await screenshot(page, f"thread-{screen.name}")
