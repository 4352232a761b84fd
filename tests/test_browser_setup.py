"""The browser tests' infrastructure: Debian's chromium through Playwright, on a page that aiohttp serves."""

from __future__ import annotations

from aiohttp import web
from playwright.async_api import expect

from tests.fixtures.browser import screenshot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PAGE = """<!doctype html>
<html lang="vi">
<head><meta charset="utf-8"><title>Loa: thử trình duyệt</title></head>
<body>
  <form id="form">
    <p id="status">Chưa bấm</p>
    <button type="submit">Bấm thử</button>
  </form>
  <script>
    document.getElementById("form").addEventListener("submit", function (event) {
      event.preventDefault();
      document.getElementById("status").textContent = "Đã bấm (" + navigator.language + ")";
    });
  </script>
</body>
</html>
"""


async def test_chromium_clicks_and_screenshots(page):
    async def index(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await page.goto(f"http://127.0.0.1:{port}/")
        status = page.locator("#status")
        await expect(status).to_have_text("Chưa bấm")

        await page.get_by_role("button", name="Bấm thử").click()

        await expect(status).to_have_text("Đã bấm (vi-VN)")
        assert page.viewport_size == {"width": 1280, "height": 900}
        path = await screenshot(page, "browser-setup")
    finally:
        await runner.cleanup()

    assert path.name == "browser-setup.png"
    assert path.parent.parts[-2:] == ("test-artifacts", "screenshots")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
