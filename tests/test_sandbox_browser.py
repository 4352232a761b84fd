"""The sandbox in headless Chromium, as a person evaluating Loa uses it: a newcomer's report from
/start to a rated resolution, done by clicking, typing and picking places on the map, playing the
resident, the moderators and the agency in turn. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import io
import json
import re

from PIL import Image
from playwright.async_api import expect
from sqlmodel import select

from emulator.images import sample_jpeg
from kernel.i18n import translator
from sandbox import cast
from storage.models import Report, ReportEvent, Resident
from tests.fixtures.browser import screenshot, signed_in_dashboard

BA_DINH = (21.0368, 105.8342)  # Ba Đình square
PROBLEM = (21.0410, 105.8430)  # near Quán Thánh, in Ba Đình too
DESCRIPTION = "Rác thải <b>chất đống</b> ở đầu ngõ 20 phố Quán Thánh từ ba ngày nay, bốc mùi & ruồi nhặng."
NOTE = "Đã thu gom rác & phun khử mùi <i>sáng nay</i>."

# The screen position of a latitude and longitude on the page's map (data-* of sandbox/map.py).
_ON_SCREEN = """([lat, lon]) => {
  const svg = document.querySelector('#map svg');
  const d = svg.dataset;
  const point = svg.createSVGPoint();
  point.x = (lon - Number(d.lon0)) * Number(d.scaleX);
  point.y = (Number(d.lat0) - lat) * Number(d.scaleY);
  const screen = point.matrixTransform(svg.getScreenCTM());
  return [screen.x, screen.y];
}"""


def _css(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


async def tap(page, text: str) -> None:
    """Press the newest inline button labelled `text`."""
    await page.locator(f"#messages button.button[data-text={_css(text)}]").last.click()


async def bot_says(page, text: str):
    """Wait until the bot's newest message contains `text`; returns it."""
    newest = page.locator("#messages .msg.in").last
    await expect(newest).to_contain_text(text)
    return newest


async def type_and_send(page, text: str) -> None:
    await page.fill("#text", text)
    await page.click("#composer button[type=submit]")


async def pick_on_map(page, where: tuple[float, float], ward: str) -> None:
    """Zoom in around `where`, click it, check the ward named, send."""
    await expect(page.locator("#map svg path.ward").first).to_be_attached()
    for _ in range(3):
        x, y = await page.evaluate(_ON_SCREEN, list(where))
        await page.mouse.move(x, y)
        await page.mouse.wheel(0, -300)
        await page.wait_for_timeout(50)
    x, y = await page.evaluate(_ON_SCREEN, list(where))
    await page.mouse.click(x, y)
    await expect(page.locator("#map-choice")).to_contain_text(ward)
    await page.click("#map-send")
    await expect(page.locator("#map-panel")).to_be_hidden()


async def sit(page, seat: str) -> None:
    """Play another seat: click it in the list."""
    await page.click(f".seats a.seat[data-seat='{seat}']")
    await expect(page.locator("body")).to_have_attribute("data-seat", seat)


async def test_a_newcomers_report_from_start_to_a_rated_resolution(sandbox, page, tmp_path):
    await page.goto(sandbox.url)
    await expect(page.locator(".chat-head h1")).to_have_text("Hoa Trần")
    await screenshot(page, "sandbox-01-newcomer")

    # The first-time steps: /start from the command menu, the language, the ward on the map,
    # the alert topics and quiet hours as they are.
    await page.click("#open-commands")
    await page.click("button.command[data-command='/start']")
    await bot_says(page, "Chọn ngôn ngữ")
    await tap(page, "Tiếng Việt ✓")
    await page.click("#keyboard button.key[data-location]")
    await screenshot(page, "sandbox-02-map")
    await pick_on_map(page, BA_DINH, "Phường Ba Đình")
    await bot_says(page, "Bạn muốn nhận những cảnh báo nào?")
    await tap(page, "Xong ✓")
    await tap(page, "Giữ 22:00–06:00")
    await bot_says(page, "Khu vực: Phường Ba Đình")

    # The report: category, a description with characters that must stay text, a photo from
    # the computer, the place on the map, the review card, Submit.
    await tap(page, "📝 Phản ánh một vấn đề")
    await tap(page, "Môi trường, vệ sinh")
    await bot_says(page, "từ khi nào")
    await type_and_send(page, DESCRIPTION)
    await bot_says(page, "Thêm ảnh về vấn đề")
    photo = tmp_path / "rac.jpg"
    photo.write_bytes(sample_jpeg(seed=3))
    await page.set_input_files("#photo-file", str(photo))
    await expect(page.locator("#attachment-bar")).to_contain_text("rac.jpg")
    await page.click("#composer button[type=submit]")
    await bot_says(page, "Đã lưu ảnh (1/5)")
    await tap(page, "Xong ✓")
    await bot_says(page, "Vấn đề ở đâu?")
    await page.click("#keyboard button.key[data-location]")
    await pick_on_map(page, PROBLEM, "Phường Ba Đình")
    card = await bot_says(page, "✅ Gửi")
    await expect(card.locator("img.photo")).to_be_visible()
    await expect(card).to_contain_text("<b>chất đống</b>")  # the resident's text, shown as typed
    await screenshot(page, "sandbox-03-review")
    await tap(page, "✅ Gửi")
    confirmation = await bot_says(page, "PA-")
    code = re.search(r"PA-[0-9A-Z]{5}", await confirmation.inner_text()).group(0)
    await screenshot(page, "sandbox-04-filed")

    # The moderators' group: the card of the new report, assigned to the agency it routes to.
    await sit(page, "moderators")
    moderators_card = page.locator("#messages .msg.in", has_text=code).last
    await expect(moderators_card).to_contain_text("Hoa")
    assign = moderators_card.locator("button.button", has_text="🏢 Giao: ")
    await expect(assign).to_contain_text("URENCO")
    await screenshot(page, "sandbox-05-moderators")
    await assign.click()
    await expect(page.locator("#toast")).to_contain_text(f"Xong: {code} giờ là")
    await expect(moderators_card).to_contain_text("Đã chuyển xử lý")

    # The agency's group: take it up, then resolve it by replying to the bot's question.
    await sit(page, "urenco")
    work = page.locator("#messages .msg.in", has_text=code).last
    await expect(work).not_to_contain_text("Hoa")  # agencies do not see who reported
    await work.locator("button.button", has_text="▶️ Đang xử lý").click()
    await expect(work.locator("button.button", has_text="▶️ Đang xử lý")).to_have_count(0)
    await work.locator("button.button", has_text="✅ Đã xử lý xong…").click()
    await bot_says(page, "Trả lời tin nhắn này")
    await expect(page.locator("#reply-bar")).to_be_visible()  # the question asks for a reply
    await type_and_send(page, NOTE)
    await expect(page.locator("#messages")).to_contain_text(f"Xong: {code} giờ là “Đã xử lý”")
    await screenshot(page, "sandbox-06-agency")

    # Back to the resident: the news came while she was away; she rates it.
    await expect(page.locator(".seats a.seat[data-seat='hoa'] .badge")).to_be_visible()
    await sit(page, "hoa")
    await bot_says(page, NOTE)
    await tap(page, "😊 Hài lòng")
    await bot_says(page, "Bạn muốn góp ý thêm?")
    await type_and_send(page, "Cảm ơn các anh chị!")
    await bot_says(page, "Cảm ơn")
    await screenshot(page, "sandbox-07-rated")

    async with sandbox.db.read() as session:
        report = (await session.execute(select(Report).where(Report.code == code))).scalar_one()
        reporter = await session.get(Resident, report.resident_id)
        actions = (await session.execute(select(ReportEvent.action).where(ReportEvent.report_id == report.id)
                                         .order_by(ReportEvent.id))).scalars().all()
    assert (report.state, report.rating, report.agency_code) == ("closed", "satisfied", "hn-urenco")
    assert report.rating_comment == "Cảm ơn các anh chị!"
    assert report.description == DESCRIPTION and report.area_code == "00004"
    assert list(actions) == ["submit", "assign", "start", "resolve", "rate"], actions
    assert reporter.telegram_id == cast.HOA.telegram_id


async def test_staff_open_the_dashboard_from_the_sandbox_chat(sandbox, page):
    """/dashboard in a staff member's chat gives the sign-in link; it opens the dashboard."""
    dashboard = await signed_in_dashboard(sandbox, page, "hung")
    assert "/dashboard/queue" in dashboard.url
    await screenshot(dashboard, "sandbox-08-dashboard")


# ---------------------------------------------------------------- on a phone, photos with captions, files

# True once the page itself does not scroll, the message box is on the screen and the chat shows
# its newest message: what a messaging app on a phone looks like.
_NEWEST_IN_SIGHT = """() => {
  const box = (element) => element.getBoundingClientRect();
  const shown = [...document.querySelectorAll('#messages .msg')];
  if (!shown.length) return false;
  const list = box(document.getElementById('messages'));
  const newest = box(shown[shown.length - 1]);
  const composer = box(document.getElementById('composer'));
  return document.scrollingElement.scrollHeight <= window.innerHeight
    && composer.top >= 0 && composer.bottom <= window.innerHeight
    && newest.bottom > list.top && newest.bottom <= list.bottom + 1;
}"""

# The buttons of the chat, its keyboard and its message box that something else covers at their
# centre (the toast, say); those scrolled out of the chat's view do not count.
_COVERED_BUTTONS = """() => {
  const list = document.getElementById('messages').getBoundingClientRect();
  const covered = [];
  for (const button of document.querySelectorAll('#messages button, #keyboard button, #composer button')) {
    const r = button.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (!r.width || y < 0 || y > window.innerHeight) continue;
    if (button.closest('#messages') && (y < list.top || y > list.bottom)) continue;
    const found = document.elementFromPoint(x, y);
    if (!found || !button.contains(found)) covered.push(button.textContent.trim());
  }
  return covered;
}"""

_ICON_WIDTH = """() => new Promise((loaded, failed) => {
  const icon = new Image();
  icon.onload = () => loaded(icon.naturalWidth);
  icon.onerror = () => failed(new Error('the browser could not show /favicon.ico'));
  icon.src = '/favicon.ico';
})"""


async def newest_in_sight(page) -> None:
    await page.wait_for_function(_NEWEST_IN_SIGHT)


async def attach(page, item: str, path=None) -> None:
    """📎, then the menu's `item` (#attach-photo, #attach-file, #sample-photo); a file's chooser gets `path`."""
    await page.click("#open-attach")
    if path is None:
        await page.click(item)
        return
    async with page.expect_file_chooser() as chooser:
        await page.click(item)
    await (await chooser.value).set_files(str(path))


async def test_on_a_phone_the_chat_fills_the_screen_and_stays_at_the_newest_message(sandbox, phone):
    page = phone
    await page.goto(sandbox.url + "?seat=moderators")
    await expect(page.locator("#seat-list")).to_be_hidden()
    await expect(page.locator("#seats-toggle .badge")).to_have_text(re.compile(r"^[1-9][0-9]*$"))  # news elsewhere
    await newest_in_sight(page)
    await screenshot(page, "sandbox-phone-01-moderators")

    # A button's answer shows as a toast that covers no button, and the chat stays at its end.
    assign = page.locator("button.button", has_text="🏢 Giao: ")
    code = re.search(r"PA-[0-9A-Z]{5}", await page.locator("#messages .msg.in", has=assign).last.inner_text()).group(0)
    # The card pinned by its code: the demo's cards may still be arriving from the outbox, and
    # `.last` would then be another card by the time of the click.
    card = page.locator("#messages .msg.in", has=assign).filter(has_text=code).last
    await card.locator("button.button", has_text="🏢 Giao: ").click()
    await expect(page.locator("#toast")).to_contain_text(f"Xong: {code} giờ là")
    await newest_in_sight(page)
    assert await page.evaluate(_COVERED_BUTTONS) == []
    await screenshot(page, "sandbox-phone-02-toast")

    # The seat list opens from the button at the top, with the unread counts.
    await page.click("#seats-toggle")
    await expect(page.locator("#seat-list")).to_be_visible()
    hoa = page.locator(".seats a.seat[data-seat='hoa']")
    await expect(hoa.locator(".seat-about")).to_have_text("Chưa từng dùng bot: bắt đầu bằng /start")
    await screenshot(page, "sandbox-phone-03-seats")
    await hoa.click()
    await expect(page.locator("body")).to_have_attribute("data-seat", "hoa")
    await expect(page.locator("#seat-list")).to_be_hidden()

    # After each send the answer shows at the bottom, above the message box.
    await type_and_send(page, "/start")
    await bot_says(page, "Chọn ngôn ngữ")
    await newest_in_sight(page)
    await page.click("#open-attach")
    await expect(page.locator("#attach-menu")).to_be_visible()
    await page.click(".chat-head h1")  # a tap elsewhere closes the menu
    await expect(page.locator("#attach-menu")).to_be_hidden()
    await screenshot(page, "sandbox-phone-04-start")
    await tap(page, "Tiếng Việt ✓")
    await expect(page.locator("#keyboard button.key[data-location]")).to_be_visible()
    await newest_in_sight(page)
    await page.click("#keyboard button.key[data-location]")
    await screenshot(page, "sandbox-phone-05-map")
    await pick_on_map(page, BA_DINH, "Phường Ba Đình")
    await bot_says(page, "Bạn muốn nhận những cảnh báo nào?")
    await newest_in_sight(page)
    await screenshot(page, "sandbox-phone-06-topics")

    # Hoa's seat no longer says she never used the bot.
    await page.click("#seats-toggle")
    await expect(hoa.locator(".seat-about")).to_have_text("Cư dân mới: vừa bắt đầu dùng bot")


async def test_a_file_gets_the_bots_answer_and_a_photo_with_a_caption_resolves_a_report(sandbox, screen, tmp_path):
    page = screen
    _ = translator("vi").gettext
    await page.goto(sandbox.url + "?seat=lan")

    # At the report's photo step: a PDF is refused by the bot, a picture sent as a file is taken.
    await type_and_send(page, "/report")
    await tap(page, "Môi trường, vệ sinh")
    await bot_says(page, "từ khi nào")
    await type_and_send(page, "Nắp cống vỡ trước số 12 phố Phan Đình Phùng, rất nguy hiểm.")
    await bot_says(page, "Thêm ảnh về vấn đề")
    pdf = tmp_path / "bien-ban.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%a scanned letter\n")
    await attach(page, "#attach-file", pdf)
    await expect(page.locator("#attachment-bar")).to_contain_text("bien-ban.pdf")
    await page.click("#composer button[type=submit]")
    await bot_says(page, _("This file is not a photo. Only photos can be added to a report."))
    await expect(page.locator("#attachment-bar")).to_be_hidden()
    picture = tmp_path / "nap-cong.png"
    Image.open(io.BytesIO(sample_jpeg(seed=5))).save(picture, "PNG")
    await attach(page, "#attach-file", picture)
    await page.click("#composer button[type=submit]")
    await bot_says(page, "Đã lưu ảnh (1/5)")
    await expect(page.locator("#messages .msg.out .attachment a", has_text="nap-cong.png")).to_be_visible()
    await screenshot(page, f"sandbox-{screen.name}-file")

    # URENCO resolves a report by replying to the bot's question with a photo and a note.
    await page.goto(sandbox.url + "?seat=urenco")
    done = page.locator("button.button", has_text="✅ Đã xử lý xong…")
    code = re.search(r"PA-[0-9A-Z]{5}", await page.locator("#messages .msg.in", has=done).last.inner_text()).group(0)
    card = page.locator("#messages .msg.in", has=done).filter(has_text=code).last  # pinned, as above
    await card.locator("button.button", has_text="✅ Đã xử lý xong…").click()
    # The question about this report, found by its text: the demo's own notices to this group may
    # still be arriving from the outbox, so it need not be the newest message (a reopening came
    # after it once, on a loaded machine).
    question = page.locator("#messages .msg.in", has_text="Trả lời tin nhắn này").filter(has_text=code)
    await expect(question.last).to_be_visible()
    await expect(page.locator("#reply-bar")).to_be_visible()
    await attach(page, "#sample-photo")
    await expect(page.locator("#text")).to_have_attribute("placeholder", "Chú thích (không bắt buộc)")
    await page.fill("#text", NOTE)
    await screenshot(page, f"sandbox-{screen.name}-caption")
    await page.dblclick("#composer button[type=submit]")  # a double tap sends it once
    await expect(page.locator("#messages")).to_contain_text(f"Xong: {code} giờ là “Đã xử lý”")
    sent = page.locator("#messages .msg.out").last
    await expect(sent.locator("img.photo")).to_be_visible()
    await expect(sent).to_contain_text(NOTE)
    await expect(page.locator("#messages .msg.out img.photo")).to_have_count(1)
    await expect(page.locator("#attachment-bar")).to_be_hidden()
    async with sandbox.db.read() as session:
        resolved = (await session.execute(
            select(ReportEvent).join(Report, Report.id == ReportEvent.report_id)
            .where(Report.code == code, ReportEvent.action == "resolve").order_by(ReportEvent.id.desc())
        )).scalars().first()
    assert resolved.note == NOTE and resolved.photo_file_id


async def test_the_signed_out_dashboard_names_the_sandboxs_staff_and_every_page_has_an_icon(sandbox, screen):
    page = screen
    await page.goto(sandbox.url + "dashboard/")
    assert page.url.endswith("/dashboard/signed-out")
    await expect(page.locator("#sign-in-hint")).to_contain_text("Hùng")
    await expect(page.locator("#sign-in-hint")).to_contain_text("An")
    assert await page.evaluate(_ICON_WIDTH) > 0
    await screenshot(page, f"sandbox-{screen.name}-signed-out")
    await page.goto(sandbox.url)
    assert await page.evaluate(_ICON_WIDTH) > 0
