"""The dashboard's report page over HTTP: what moderators and agency staff see, the photos, and
the actions, which reach the resident in the emulator as the bot's buttons do."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import build_application
from complaints import lifecycle
from complaints.lifecycle import Action, Actor, ActorKind
from complaints.media import MediaStore
from storage.models import Report, ReportEvent, ReportPhoto
from tests.fixtures.bot import served
from tests.fixtures.city import BA_DINH, BA_DINH_WARD, TRANSPORT, add_report, grant
from tests.fixtures.dashboard import browser_at, web_settings
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import HOAN_KIEM, onboarded
from tests.fixtures.triage import file_report

WARD = "Hoan Kiem Ward People's Committee"


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en")


def without_path(page: str) -> str:
    """A page without the address it was asked at (the language switch sends it back there)."""
    return re.sub(r'name="back" value="[^"]*"', "", page)


async def photo_status(browser, code: str, position: int) -> int:
    async with browser.http.get(f"{browser.base}/dashboard/photos/{code}/{position}") as response:
        await response.read()
        return response.status


def event_id(page: str) -> str:
    return re.search(r'name="expected_event_id" value="(\d+)"', page).group(1)


async def report_of(db, code: str) -> Report:
    [report] = await report_rows(db, code=code)
    return report


async def event_count(db, code: str) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(ReportEvent).join(Report)
                                      .where(Report.code == code))).scalar_one()


async def assign(db, code: str, agency: str, name: str = "Minh", telegram_id: int = 1) -> None:
    """A moderator's assignment made elsewhere (the bot, another browser)."""
    report = await report_of(db, code)
    async with db.transaction() as session:
        await lifecycle.apply(session, report.id, Action.ASSIGN, Actor(ActorKind.MODERATOR, telegram_id, name),
                              policy=lifecycle.Policy(admin_ids=frozenset({telegram_id})), agency_code=agency)


async def test_a_moderator_assigns_from_the_page_and_the_resident_is_told(emulator, db, tmp_path, city):
    mai = emulator.user(first_name="Mai")
    mods = emulator.group("Kiểm duyệt", members=[mai])
    await grant(db, mai, "moderator")
    settings = web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en",
                            LOA_MODERATORS_CHAT_ID=str(mods.chat.id))
    application = build_application(settings, city)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=1)
        [report] = await report_rows(db)
        card = await mods.next_message()
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        assert status == 200
        assert f"<title>{report.code} · Loa</title>" in page and "Received" in page
        assert "Traffic and roads" in page and "Hoan Kiem" in page and "21.032540, 105.850770" in page
        assert "https://www.openstreetmap.org/?mlat=21.032540&amp;mlon=105.850770" in page
        assert '<dd class="reporter">Lan @lan</dd>' in page, "moderators see who reported"
        assert f'<p class="description">{html.escape(report.description)}</p>' in page
        assert '<svg xmlns="http://www.w3.org/2000/svg" class="loa-map"' in page and "loa-map-marker" in page
        # The routed agency comes first and is marked so.
        options = re.findall(r'<option value="([\w-]+)"', page[page.index('name="agency"'):])
        assert options[0] == "hn-so-gtvt" and f"{TRANSPORT} (by the routing rules)" in page
        # The photo: the cleaned copy, never the resident's Telegram file.
        async with db.read() as session:
            [stored] = (await session.execute(select(ReportPhoto).where(ReportPhoto.report_id == report.id))
                        ).scalars()
        assert stored.telegram_file_id not in page and stored.file_unique_id not in page
        assert f'<img src="/dashboard/photos/{report.code}/1"' in page
        async with browser.http.get(f"{base}/dashboard/photos/{report.code}/1") as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
            assert await response.read() == MediaStore(settings.media_dir).path_of(stored.sha256).read_bytes()
        assert await photo_status(browser, report.code, 2) == 404

        status, page = await browser.post(f"/dashboard/reports/{report.code}/act",
                                          {"action": "assign", "agency": "hn-so-gtvt",
                                           "expected_event_id": event_id(page)}, allow_redirects=False)
        assert status == 303
        status, page = await browser.get(f"/dashboard/reports/{report.code}?done=assign")
        assert "The report was passed to the agency. The resident is being told." in page
        assert "Passed to the agency" in page and "— Mai," in page
        told = await lan.next_message()
        assert told.text == f"Report {report.code} has been passed to {TRANSPORT}, which will handle it."
        # The moderators' card follows.
        await mods.wait_for(lambda: "Passed to the agency" in card.caption
                            and f"assigned to {TRANSPORT}" in card.caption)
        assert (await report_of(db, report.code)).agency_code == "hn-so-gtvt"


async def test_agency_staff_take_up_and_resolve_and_the_resident_may_rate(application, emulator, settings, db, city):
    hung = emulator.user(first_name="Hùng")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=0)
        [report] = await report_rows(db)
        await assign(db, report.code, "hn-so-gtvt")
        await lan.next_message()
        await browser.sign_in(hung)
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        assert status == 200 and "Lan" not in page and "reporter" not in page, "agencies never see who reported"
        assert 'value="start"' in page and 'value="resolve"' in page and 'value="send_back"' in page
        assert 'value="assign"' not in page and 'value="reject"' not in page

        act = f"/dashboard/reports/{report.code}/act"
        status, _page = await browser.post(act, {"action": "start", "expected_event_id": event_id(page)},
                                           allow_redirects=False)
        assert status == 303
        assert (await lan.next_message()).text == f"{TRANSPORT} has started work on report {report.code}."
        status, page = await browser.get(f"/dashboard/reports/{report.code}?done=start")
        assert "Being handled" in page and 'value="start"' not in page

        # A note is required; nothing changes without one.
        status, page = await browser.post(act, {"action": "resolve", "note": "   ",
                                                "expected_event_id": event_id(page)})
        assert status == 400 and "Write what was done." in page
        status, page = await browser.post(act, {"action": "resolve", "note": "x" * 2001,
                                                "expected_event_id": event_id(page)})
        assert status == 400 and "Too long: at most 2000 characters." in page and "x" * 2001 in page
        assert (await report_of(db, report.code)).state == "in_progress"

        status, page = await browser.post(act, {"action": "resolve", "note": "Filled the pothole <b>today</b>",
                                                "expected_event_id": event_id(page)})
        assert status == 200 and browser.url.endswith("?done=resolve")
        assert "The report is resolved." in page and "Filled the pothole &lt;b&gt;today&lt;/b&gt;" in page
        resolved = await lan.next_message()
        assert resolved.text.startswith(f"{TRANSPORT} has resolved report {report.code}: "
                                        "Filled the pothole <b>today</b>")
        assert resolved.buttons == [["😊 Satisfied"], ["😐 Acceptable"], ["😞 Not satisfied"]]
        assert (await report_of(db, report.code)).state == "resolved"


async def test_agency_staff_send_a_report_back_and_lose_sight_of_it(application, emulator, settings, db, city):
    hung = emulator.user(first_name="Hùng")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    code = await add_report(db)
    await assign(db, code, "hn-so-gtvt")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(hung)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        act = f"/dashboard/reports/{code}/act"
        status, page = await browser.post(act, {"action": "send_back", "reason": "",
                                                "expected_event_id": event_id(page)})
        assert status == 400 and "Give a reason." in page
        status, page = await browser.post(act, {"action": "send_back", "reason": "The ward handles this street",
                                                "expected_event_id": event_id(page)})
        assert status == 200 and "/dashboard/agency?done=send_back" in browser.url
        assert f"{code}: The report was sent back to the moderators." in page
        assert (await browser.get(f"/dashboard/reports/{code}"))[0] == 404
    report = await report_of(db, code)
    assert (report.state, report.agency_code) == ("submitted", None)


async def test_what_agency_staff_and_others_cannot_see(application, emulator, settings, db, city):
    thu, bao, mai = emulator.user(first_name="Thu"), emulator.user(first_name="Bảo"), emulator.user(first_name="Mai")
    await grant(db, thu, "agency_staff", "hn-ubnd-hoan-kiem")
    await grant(db, bao, "broadcaster")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=1)
        [report] = await report_rows(db)
        code = report.code
        await assign(db, code, "hn-so-gtvt")
        await browser.sign_in(thu)
        _status, missing = await browser.get("/dashboard/reports/PA-22222")
        for path in (f"/dashboard/reports/{code}", f"/dashboard/reports/{code.lower()}",
                     f"/dashboard/photos/{code}/1"):
            status, page = await browser.get(path)
            assert status == 404 and without_path(page) == without_path(missing), path
        status, page = await browser.post(f"/dashboard/reports/{code}/act", {"action": "start"})
        assert status == 404
        # Once the report is theirs, they see it.
        await assign(db, code, "hn-ubnd-hoan-kiem")
        assert (await browser.get(f"/dashboard/reports/{code}"))[0] == 200
        assert await photo_status(browser, code, 1) == 200
        async with browser_at(base) as other:
            await other.sign_in(bao)
            assert (await other.get(f"/dashboard/reports/{code}"))[0] == 403
            assert await photo_status(other, code, 1) == 403
        # A moderator sees any report, agency or not.
        async with browser_at(base) as other:
            await other.sign_in(mai)
            assert (await other.get(f"/dashboard/reports/{code}"))[0] == 200
            assert await photo_status(other, code, 1) == 200
            assert await photo_status(other, code, 0) == 404
    assert (await report_of(db, code)).state == "assigned"


async def test_an_action_without_the_csrf_token_changes_nothing(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    code = await add_report(db)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        form = {"action": "assign", "agency": "hn-so-gtvt", "expected_event_id": event_id(page)}
        for csrf in (None, "forged"):
            data = form if csrf is None else {**form, "csrf": csrf}
            status, page = await browser.post(f"/dashboard/reports/{code}/act", data, csrf=False)
            assert status == 403 and "Reload the page" in page
    assert (await report_of(db, code)).state == "submitted" and await event_count(db, code) == 1


async def test_a_change_made_meanwhile_is_refused_and_what_was_typed_is_kept(application, emulator, settings, db,
                                                                              city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    code = await add_report(db)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        seen = event_id(page)
        await assign(db, code, "hn-so-gtvt", name="Minh")  # from the bot, while Mai was typing
        status, page = await browser.post(f"/dashboard/reports/{code}/act", {
            "action": "duplicate", "original_code": "PA-99999 typed by Mai", "expected_event_id": seen})
        assert status == 409
        at = r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d"  # 27 Nov 2026, 17:00
        assert re.search(rf"Already assigned to {TRANSPORT} by Minh at {at}\.", page)
        assert 'value="PA-99999 typed by Mai"' in page and "Passed to the agency" in page
        assert event_id(page) != seen, "the page is as the report is now"
    report = await report_of(db, code)
    assert (report.state, report.duplicate_of_id) == ("assigned", None)


async def test_bad_input_is_refused_with_the_form_and_changes_nothing(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    original = await add_report(db, description="The pothole by the bus stop, first report.",
                                age=timedelta(hours=1))
    near = (HOAN_KIEM[0] + 0.0009, HOAN_KIEM[1])
    code = await add_report(db, point=near, description="The same pothole by the bus stop, again.")
    far = await add_report(db, area=BA_DINH_WARD, point=BA_DINH)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        act = f"/dashboard/reports/{code}/act"
        status, page = await browser.get(f"/dashboard/reports/{code}")
        assert f'name="suggested" value="{original}"' in page and "100 m" in page and far not in page
        seen = event_id(page)
        for form, message in (
                ({"action": "assign", "agency": "hn-nowhere"}, "There is no active agency “hn-nowhere”."),
                ({"action": "assign", "agency": ""}, "Choose an agency."),
                ({"action": "duplicate", "original_code": "PA-22222"}, "There is no report PA-22222."),
                ({"action": "duplicate", "original_code": code}, "A report cannot be a duplicate of itself."),
                ({"action": "duplicate"}, "Choose one of the suggested reports or type a report's code."),
                ({"action": "reject", "reason": " "}, "Give a reason."),
                ({"action": "reject", "reason": "", "reason_template": "9"}, "Unknown reason."),
                ({"action": "priority", "priority": "very"}, "Unknown priority."),
                ({"action": "fly"}, "Unknown action."),
                ({"action": "start"}, "Only the staff of the agency handling this report can do this."),
                ({"action": "assign", "agency": "hn-so-gtvt", "expected_event_id": "x"},
                 "This request is not valid.")):
            status, page = await browser.post(act, {"expected_event_id": seen, **form})
            assert status in (400, 403) and message in html.unescape(page), (form, status)
        assert (await report_of(db, code)).state == "submitted" and await event_count(db, code) == 1

        # The suggestion, chosen: the report becomes a duplicate of the original.
        status, page = await browser.post(act, {"action": "duplicate", "suggested": original,
                                                "expected_event_id": seen})
        assert status == 200 and "marked as a duplicate" in page and f'href="/dashboard/reports/{original}"' in page
    report = await report_of(db, code)
    assert report.state == "duplicate" and report.duplicate_of_id == (await report_of(db, original)).id


async def test_a_template_reason_reaches_the_resident_in_their_language(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        binh = await onboarded(emulator, "vi")
        await file_report(binh, language="vi", photos=0)
        [report] = await report_rows(db)
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        assert "There is not enough information to act on it." in page
        status, page = await browser.post(f"/dashboard/reports/{report.code}/act", {
            "action": "reject", "reason_template": "1", "reason": "", "expected_event_id": event_id(page)})
        assert status == 200 and "The report was rejected." in page
        told = await binh.next_message()
        assert told.text.startswith("Phản ánh ") and "không được tiếp nhận" in told.text
    assert (await report_of(db, report.code)).state == "rejected"


async def test_priority_changes_are_internal_steps_in_the_history(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    code = await add_report(db)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        assert "Mark urgent" in page
        status, page = await browser.post(f"/dashboard/reports/{code}/act", {
            "action": "priority", "priority": "urgent", "expected_event_id": event_id(page)})
        assert status == 200 and "The priority was changed." in page and "Mark normal" in page
        assert '<span class="badge urgent">urgent</span>' in page
        assert "Priority changed" in page and "not shown to the resident" in page
    assert (await report_of(db, code)).priority == "urgent"


async def test_what_residents_typed_is_shown_as_text(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    xss = "<script>alert(1)</script>\n<b>bold</b> & \"quoted\""
    code = await add_report(db, description=xss, address="<img src=x onerror=alert(2)>",
                            reporter="<script>alert(3)</script>")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        assert status == 200
        assert ('<p class="description">&lt;script&gt;alert(1)&lt;/script&gt;\n&lt;b&gt;bold&lt;/b&gt; &amp; '
                '&#34;quoted&#34;</p>') in page
        assert "&lt;img src=x onerror=alert(2)&gt;" in page and "&lt;script&gt;alert(3)&lt;/script&gt;" in page
        assert "<script>alert" not in page and "<b>bold" not in page and "<img src=x" not in page
        status, page = await browser.post(f"/dashboard/reports/{code}/act", {
            "action": "reject", "reason": "<script>alert(4)</script>", "expected_event_id": event_id(page)})
        assert status == 200 and "&lt;script&gt;alert(4)&lt;/script&gt;" in page and "<script>alert" not in page


async def test_a_report_without_a_ward_offers_the_agencies_of_its_category_then_every_other(application, emulator,
                                                                                             settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    code = await add_report(db, category="sanitation", area=None, point=None, address="15 Hàng Bài")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        assert status == 200
        form = page[page.index('name="agency"'):page.index("</select>")]
        groups = re.findall(r'<optgroup label="([^"]+)">', form)
        assert groups == ["Taking this category", "Other agencies"]
        taking = form[:form.index("Other agencies")]
        assert re.findall(r'<option value="([\w-]+)"', taking)[:2] == ["hn-urenco", "hn-so-tnmt"]
        assert "hn-so-gtvt" not in taking and len(re.findall("<option ", form)) == 13
        status, page = await browser.post(f"/dashboard/reports/{code}/act",
                                          {"action": "assign", "agency": "hn-urenco",
                                           "expected_event_id": event_id(page)})
        assert status == 200 and "The report was passed to the agency." in page
        # Assigned, it is not offered to the agency holding it.
        form = page[page.index('name="agency"'):page.index("</select>")]
        assert "hn-urenco" not in form and len(re.findall("<option ", form)) == 12
    assert (await report_of(db, code)).agency_code == "hn-urenco"
