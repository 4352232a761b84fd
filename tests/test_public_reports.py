"""The public portal's reports over HTTP (web/public_reports.py, complaints/public.py): the list with
its filters, paging and map, a report's page, its photo, the GeoJSON, caching; the privacy rules
proven against every page and feed under /public/; and the resident's one-tap answer at submission,
through the emulator. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from complaints import public, thread
from complaints.lifecycle import Actor, ActorKind
from handlers.context import services
from storage.models import Report
from tests.fixtures.bot import settings_for
from tests.fixtures.browser import screenshot
from tests.fixtures.city import grant
from tests.fixtures.public import portal_for, sent_alert
from tests.fixtures.public_reports import (
    BA_DINH_WARD,
    HOSTILE_NOTE,
    PUBLIC_POINT,
    REJECT_REASON,
    SECRETS,
    THREAD_POINT,
    crawl,
    seed_secrets,
)
from tests.fixtures.reports import report_rows, review_card, to_photos
from tests.fixtures.residents import onboarded, tap, until


@pytest.fixture
async def reports_portal(city, tmp_path):
    async with portal_for(city, LOA_MEDIA_DIR=str(tmp_path / "media")) as made:
        made.seeded = await seed_secrets(city, tmp_path / "media")
        yield made


EN = "loa_lang=en"  # the cookie of a visitor who chose English


def _html(body: bytes) -> str:
    return body.decode()


async def test_no_public_page_or_feed_shows_what_the_resident_did_not_allow(reports_portal):
    portal, seeded = reports_portal, reports_portal.seeded
    await sent_alert(portal.db)  # the alerts' feeds and pages are crawled too
    codes = (seeded.private, seeded.rejected, seeded.with_photo, seeded.no_photo)
    starts = ["/public/", "/public/agencies", "/public/alerts", "/public/alerts.atom", "/public/reports",
              "/public/reports.geojson", "/public/reports?state=done", "/public/reports.geojson?limit=1000"]
    starts += [f"/public/reports/{code}{tail}" for code in codes for tail in ("", "/photo")]
    # And again in English (the language switch keeps it in a cookie, which the crawl then sends).
    starts += ["/public/language/en?back=/public/reports"] + [f"/public/reports/{code}?en" for code in codes]
    pages = await crawl(portal, starts)
    served = {path for path, (status, _body) in pages.items() if status == 200}
    # Every report page, its feed and its map were read, and the alert's CAP document from the feed.
    assert {f"/public/reports/{seeded.private}", f"/public/reports/{seeded.rejected}", "/public/reports",
            "/public/reports.geojson", "/public/alerts.atom"} <= served
    assert {"/public/", "/public/agencies", "/public/alerts"} <= served
    assert any(path.endswith(".cap") for path in served)
    assert any(re.fullmatch(r"/public/alerts/\d+", path) for path in served)
    assert any("Passed to Hanoi Department of Transport" in pages[path][1].decode("utf-8", "replace")
               for path in served)  # English
    for path, (status, body) in pages.items():
        assert status in (200, 404), (path, status)
        if status != 200:
            continue
        text = body.decode("utf-8", "replace")
        for name, secret in SECRETS.items():
            assert secret not in text, (path, name)
        for photo in seeded.hidden_photos:
            assert photo != body, path
    # The photos: only the one its resident allowed.
    assert pages[f"/public/reports/{seeded.with_photo}/photo"] == (200, seeded.shown_photo)
    # The thread the crawl found nothing of is there: question, answer with its photo, location, note.
    async with portal.db.read() as session:
        messages = await thread.messages(session, await thread.report_id_of(session, seeded.with_photo),
                                         for_staff=True)
    assert [(m.kind, m.visibility) for m in messages] == [
        ("question", "public"), ("answer", "public"), ("addition", "public"), ("note", "internal")]
    assert messages[1].text == SECRETS["answer"] and messages[1].photos[0]["file_id"] == SECRETS["thread_photo"]
    assert messages[2].area_code is not None and messages[2].latitude == THREAD_POINT[0]
    for code in (seeded.private, seeded.rejected, seeded.no_photo):
        assert pages[f"/public/reports/{code}/photo"][0] == 404


async def test_a_private_report_stands_at_its_wards_centre_and_shows_its_public_history(reports_portal):
    portal, seeded = reports_portal, reports_portal.seeded
    status, headers, body = await portal.get(f"/public/reports/{seeded.private}", Cookie=EN)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = _html(body)
    assert "Traffic and roads" in page and "Hoan Kiem Ward" in page
    assert "kept private by the resident: only the ward is shown" in page
    assert "Passed to Hanoi Department of Transport" in page
    assert "Rated by the resident: acceptable" in page
    # The resolution's note is shown, escaped; nothing of it runs.
    assert "<script>alert(1)" not in page
    assert "Đã vá xong &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;dọn&#34; sạch" in page
    assert HOSTILE_NOTE not in page
    assert "/photo" not in page
    status, _headers, body = await portal.get("/public/reports.geojson")
    [private] = [f for f in json.loads(body)["features"] if f["properties"]["code"] == seeded.private]
    assert private["properties"]["location"] == "area_centre" and private["properties"]["photo"] is None
    lon, lat = private["geometry"]["coordinates"]
    assert abs(lat - 21.0287654) > 1e-4 or abs(lon - 105.8512345) > 1e-4


async def test_a_rejected_report_shows_only_its_reason(reports_portal):
    portal, seeded = reports_portal, reports_portal.seeded
    status, _headers, body = await portal.get(f"/public/reports/{seeded.rejected}", Cookie=EN)
    page = _html(body)
    assert status == 200
    assert seeded.rejected in page and "Rejected" in page
    assert "Không thuộc thẩm quyền của thành phố &lt;i&gt;x&lt;/i&gt;" in page and REJECT_REASON not in page
    for shown_elsewhere in ("Public security", "Ba Dinh", "21.03412", "/photo", "Due"):
        assert shown_elsewhere not in page
    # And it is in no list, map or feed.
    for path in ("/public/reports", "/public/reports?state=rejected", "/public/reports.geojson"):
        status, _headers, body = await portal.get(path)
        assert seeded.rejected not in body.decode() or status == 400, path


async def test_the_list_filters_pages_and_maps(reports_portal):
    portal, seeded = reports_portal, reports_portal.seeded

    async def codes_of(query: str) -> list[str]:
        status, _headers, body = await portal.get("/public/reports.geojson" + query)
        assert status == 200, body
        return [f["properties"]["code"] for f in json.loads(body)["features"]]

    # Newest first; never the rejected one.
    assert await codes_of("") == [seeded.no_photo, seeded.private, seeded.with_photo]
    assert await codes_of("?state=closed") == [seeded.private]
    assert await codes_of("?state=open") == [seeded.no_photo, seeded.with_photo]
    assert await codes_of("?state=assigned") == [seeded.no_photo]
    assert await codes_of("?category=infrastructure") == [seeded.no_photo]
    assert await codes_of(f"?area={BA_DINH_WARD}") == [seeded.no_photo, seeded.with_photo]
    assert await codes_of("?area=01") == [seeded.no_photo, seeded.private, seeded.with_photo]  # Hà Nội's units
    assert await codes_of("?period=30") == [seeded.no_photo, seeded.private]
    assert await codes_of("?limit=1") == [seeded.no_photo]

    status, headers, body = await portal.get("/public/reports?per_page=1&page=2", Cookie=EN)
    page = _html(body)
    assert status == 200 and "3 reports · page 2 of 3" in page
    assert seeded.private in page and seeded.no_photo not in page.split("<ul")[1]
    assert 'rel="prev"' in page and 'rel="next"' in page
    assert "<svg" in page and f'href="/public/reports/{seeded.private}"' in page
    assert "12 &lt;b&gt;Phố&lt;/b&gt;" not in page  # addresses are on the report's own page only
    # A page beyond the last shows the last; malformed values are refused, saying which.
    status, _headers, body = await portal.get("/public/reports?per_page=1&page=99")
    assert status == 200 and "page 3" in _html(body).replace("trang 3", "page 3")
    for query, name in (("state=bogus", "state"), ("page=0", "page"), ("page=abc", "page"),
                        ("per_page=101", "per_page"), ("period=2", "period"), ("page=" + "9" * 40, "page"),
                        ("category=" + "x" * 60, "category")):
        status, _headers, body = await portal.get(f"/public/reports?{query}", Cookie=EN)
        assert status == 400 and f"“{name}”" in body.decode(), query
    status, _headers, _body = await portal.get("/public/reports.geojson?limit=1001")
    assert status == 400

    # The home page's map shows the open reports, each a link to its page.
    status, _headers, body = await portal.get("/public/", Cookie=EN)
    home = _html(body)
    assert status == 200 and "Open reports" in home and 'href="/public/reports?state=open"' in home
    mapped = set(re.findall(r'<a href="/public/reports/([\w-]+)" class="loa-map-marker">', home))
    assert mapped == {seeded.no_photo, seeded.with_photo}


async def test_a_report_page_its_photo_and_caching(reports_portal):
    portal, seeded = reports_portal, reports_portal.seeded
    status, headers, body = await portal.get(f"/public/reports/{seeded.with_photo}", Cookie=EN)
    page = _html(body)
    assert status == 200
    assert f'src="/public/reports/{seeded.with_photo}/photo"' in page
    assert "12 &lt;b&gt;Phố&lt;/b&gt; Điện Biên Phủ" in page  # the address, allowed, and escaped
    assert f"{PUBLIC_POINT[0]:.5f}" in page
    assert headers["Cache-Control"] == "public, max-age=60"
    status, again, body = await portal.get(f"/public/reports/{seeded.with_photo}",
                                           Cookie=EN, **{"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""
    # A change of any report makes every page new.
    async with portal.db.transaction() as session:
        report = (await session.execute(Report.__table__.select().where(Report.code == seeded.no_photo))).one()
        await session.execute(Report.__table__.update().where(Report.id == report.id)
                              .values(updated_at=report.updated_at + timedelta(seconds=5)))
    status, changed, _body = await portal.get(f"/public/reports/{seeded.with_photo}",
                                              Cookie=EN, **{"If-None-Match": headers["ETag"]})
    assert status == 200 and changed["ETag"] != headers["ETag"]
    status, _headers, body = await portal.get(f"/public/reports/{seeded.no_photo}", Cookie=EN)
    assert status == 200 and "/photo" not in _html(body) and "Passed to Hanoi Department of Transport" in _html(body)
    for path in ("/public/reports/PA-ZZZZZ", "/public/reports/PA-ZZZZZ/photo", "/public/reports/%3Cx%3E"):
        assert (await portal.get(path))[0] == 404


async def test_the_switch_turns_the_reports_off(city, tmp_path):
    async with portal_for(city, LOA_PUBLIC_PORTAL="false") as portal:
        for path in ("/public/reports", "/public/reports.geojson", "/public/reports/PA-AAAAA"):
            assert (await portal.get(path))[0] == 404


# ---------------------------------------------------------------- the question at submission


@pytest.fixture
def settings(emulator, db, tmp_path):
    return settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), LOA_PUBLIC_REPORTS_DEFAULT="place")


async def test_the_resident_chooses_what_the_portal_shows_with_one_tap(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    card = await review_card(lan, photos=1)
    # The default of the setting is ticked.
    assert ["✓ Public without photo"] in card.buttons and ["Public with photo"] in card.buttons
    assert ["Private: no photo, only the ward"] in card.buttons
    answer = await tap(lan, "Public with photo", message=card)
    assert answer.text == "Public with photo ✓"
    await lan.wait_for(lambda: ["✓ Public with photo"] in card.buttons)
    assert ["Public without photo"] in card.buttons
    # The same tap again changes nothing and says so.
    assert (await tap(lan, "✓ Public with photo", message=card)).text == "Public with photo ✓"
    await tap(lan, "Private: no photo, only the ward", message=card)
    await lan.wait_for(lambda: ["✓ Private: no photo, only the ward"] in card.buttons)
    assert (await tap(lan, "✅ Submit", message=card)).text == "Sent ✓"
    done = await lan.next_message()
    assert done.text.endswith("On the public portal: Private: no photo, only the ward "
                              "(only its category, ward and progress are shown)")
    [report] = await report_rows(db)
    assert report.publicity == public.WARD
    # An old button of the card, after it was sent, does nothing.
    late = await lan.tap_data("rv:photo", card)
    assert (await late.answer()).text.startswith("This button is no longer active")
    assert (await report_rows(db))[0].publicity == public.WARD
    # /status says what was chosen.
    await lan.send(f"/status {report.code}")
    status = await lan.next_message()
    assert "On the public portal: Private: no photo, only the ward" in status.text


async def test_without_a_tap_the_setting_decides(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    card = await review_card(lan)
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    [report] = await report_rows(db)
    assert report.publicity == public.PLACE


async def test_after_forget_the_portal_shows_nothing_of_the_resident(bot, emulator, db, settings):
    """/forget keeps the reports as anonymous records (storage/residents.forget): the portal shows
    the report as its resident chose, and still nothing of them, of their thread or its photo."""
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    lan = await onboarded(emulator, "en", first_name="Quynhforgotten", username="quynh_forgotten")
    await to_photos(lan, description="Ổ gà FORGOTTENTEXT trước nhà tôi, gọi 0912345678")
    card = await review_card(lan, photos=1)
    await tap(lan, "Public with photo", message=card)
    await lan.wait_for(lambda: ["✓ Public with photo"] in card.buttons)
    await tap(lan, "✅ Submit", message=card)
    await lan.next_message()
    [report] = await report_rows(db)
    async with db.transaction() as session:
        asked = await thread.ask(session, report.id, Actor(ActorKind.MODERATOR, mai.id, "Mai Askingname"),
                                 "QUESTIONFORGOTTEN: which side?")
    services(bot).carry_out(asked.effects)
    question = await lan.next_message()
    assert "QUESTIONFORGOTTEN" in question.text
    await lan.send_photo(caption="ANSWERFORGOTTEN by the gate", reply_to=question)
    assert (await lan.next_message()).text.startswith("Thank you: your answer was passed on")
    async with db.read() as session:
        [_asked, answer] = await thread.messages(session, report.id, for_staff=True)
    assert answer.author_telegram_id == lan.id and len(answer.photos) == 1
    thread_photo = (settings.media_dir / answer.photos[0]["sha256"][:2] / f"{answer.photos[0]['sha256']}.jpg"
                    ).read_bytes()

    await lan.send("/forget")
    confirm = await lan.next_message()
    await tap(lan, "Yes, delete my data", message=confirm)
    await until(lan, confirm, "Your data has been deleted.")
    [report] = await report_rows(db)
    assert (report.resident_id, report.reporter_name, report.publicity) == (None, None, public.PHOTO)

    async with portal_for(db, LOA_MEDIA_DIR=str(settings.media_dir)) as portal:
        pages = await crawl(portal, ["/public/", "/public/reports", "/public/reports.geojson",
                                     f"/public/reports/{report.code}", f"/public/reports/{report.code}?en"])
        photo = await portal.get(f"/public/reports/{report.code}/photo")
    # The report is still there, as its resident chose: its place and its own photo.
    assert pages[f"/public/reports/{report.code}"][0] == 200
    assert report.code in pages["/public/reports"][1].decode()
    [feature] = [f for f in json.loads(pages["/public/reports.geojson"][1])["features"]
                 if f["properties"]["code"] == report.code]
    assert feature["properties"]["location"] != "area_centre" and photo[0] == 200
    assert photo[2] != thread_photo
    for path, (_status, body) in pages.items():
        text = body.decode("utf-8", "replace")
        for secret in ("Quynhforgotten", "quynh_forgotten", str(lan.id), "FORGOTTENTEXT", "0912345678",
                       "QUESTIONFORGOTTEN", "ANSWERFORGOTTEN", "Askingname", answer.photos[0]["file_id"]):
            assert secret not in text, (path, secret)
        assert body != thread_photo, path


async def test_the_reports_in_chromium(reports_portal, screen):
    """Desktop and phone: the list, its filters (a form, no script) and a report's page; nothing
    scrolls sideways at a phone's width."""
    portal, seeded, page = reports_portal, reports_portal.seeded, screen
    await page.goto(portal.url("/public/reports"))
    await expect(page.locator("h1")).to_have_text("Phản ánh")
    await expect(page.locator(".reports-list li")).to_have_count(3)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, f"public-{screen.name}-reports")
    await page.get_by_label("Trạng thái").select_option("open")
    await page.get_by_role("button", name="Xem").click()
    await expect(page.locator(".reports-list li")).to_have_count(2)
    assert "state=open" in page.url
    await page.get_by_role("link", name=seeded.with_photo, exact=True).click()
    await expect(page.locator("h1")).to_contain_text(seeded.with_photo)
    await page.wait_for_function("document.querySelector('.public-photo img').naturalWidth > 0")
    assert await page.evaluate("document.querySelector('.public-photo img').naturalWidth") == 40  # the photo
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, f"public-{screen.name}-report")
