"""A report's thread on the dashboard's report page, over HTTP: staff ask the resident (who gets
the question in the bot, in the emulator) and add internal notes (which reach nobody); the page
shows the thread at once, in order, with the resident's photos (the cleaned copies) and corrected
location, the resident never named, everything typed shown as text; who may write, and bad input
refused with what was typed kept."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from bot.app import build_application
from complaints import lifecycle, thread
from complaints.lifecycle import Action, Actor, ActorKind
from complaints.media import MediaStore
from storage.models import Delivery, Report, ReportMessage
from tests.fixtures.bot import served
from tests.fixtures.city import REPORTER, add_report, grant
from tests.fixtures.dashboard import browser_at, web_settings
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import HOAN_KIEM, onboarded
from tests.fixtures.thread_messages import jpeg, resident_adds
from tests.fixtures.triage import file_report

XSS = "<script>alert(1)</script> <b>bold</b> & \"quoted\""


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en")


async def written(db) -> dict[str, int]:
    """How many thread messages and outbox rows there are."""
    async with db.read() as session:
        return {model.__tablename__: (await session.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (ReportMessage, Delivery)}


async def report_of(db, code: str) -> Report:
    [report] = await report_rows(db, code=code)
    return report


async def assign(db, code: str, agency: str) -> None:
    """A moderator's assignment made in the bot."""
    report = await report_of(db, code)
    async with db.transaction() as session:
        await lifecycle.apply(session, report.id, Action.ASSIGN, Actor(ActorKind.MODERATOR, 1, "Minh"),
                              policy=lifecycle.Policy(admin_ids=frozenset({1})), agency_code=agency)


def thread_of(page: str) -> str:
    """The thread's section of the report page."""
    return page[page.index('id="thread"'):page.index("</section>", page.index('id="thread"'))]


def asked_id(page: str) -> str:
    """The id of the thread's first message on the page."""
    return re.search(r'<li class="message [^"]*" data-message="(\d+)">', thread_of(page)).group(1)


def messages(page: str) -> list[str]:
    return re.findall(r'<li class="message [^"]*" data-message="\d+">(.*?)</li>', thread_of(page), re.S)


async def test_a_moderator_asks_the_resident_answers_and_the_page_shows_the_thread(application, emulator, settings,
                                                                                   db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=0)
        [report] = await report_rows(db)
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        assert status == 200 and "No messages yet." in page
        assert 'name="action" value="ask"' in page and 'name="action" value="note"' in page

        status, _page = await browser.post(f"/dashboard/reports/{report.code}/messages",
                                           {"action": "ask", "text": "Which side of the street?"},
                                           allow_redirects=False)
        assert status == 303
        status, page = await browser.get(f"/dashboard/reports/{report.code}?done=ask")
        assert "Your question is on its way to the resident." in page
        [asked] = messages(page)
        assert "Mai" in asked and "question to the resident" in asked and "Which side of the street?" in asked
        assert "waiting for the answer" in asked
        # The resident gets it in the bot, with the report's code, and can reply to it.
        question = await lan.next_message()
        assert report.code in question.text and "Which side of the street?" in question.text

        # The page's live line asks whether the thread grew since: not yet.
        live = re.search(r'data-live="([^"]+)"', thread_of(page)).group(1)
        assert live == f"/dashboard/reports/{report.code}/messages.json?after={int(asked_id(page))}"
        async with browser.http.get(base + live) as response:
            assert response.status == 200 and await response.json() == {"text": "", "done": False}
        # The resident answers by replying, with a photo (its camera and position inside) and a
        # caption; then adds a corrected location.
        await lan.send_photo(caption=f"The left side. {XSS}", image=jpeg(camera="SecretPhone"), reply_to=question)
        assert report.code in (await lan.next_message()).text  # thanked
        await resident_adds(db, settings, lan.id, report.id, location=HOAN_KIEM)
        async with browser.http.get(base + live) as response:
            assert await response.json() == {"done": True,
                                             "text": "2 new messages in the thread: reload the page to see them."}
        for after in ("-1", "x", "9" * 30):
            assert (await browser.get(f"/dashboard/reports/{report.code}/messages.json?after={after}"))[0] == 400
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        first, added, located = messages(page)
        assert "Which side of the street?" in first and "waiting for the answer" not in first
        assert "answer to a question" in added and "added to the report" in located
        assert "the resident" in added and "Lan" not in thread_of(page), "the resident is never named in the thread"
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;" in added
        assert "<script>" not in page
        assert "the resident" in located and f"Corrected location: {HOAN_KIEM[0]:.6f}, {HOAN_KIEM[1]:.6f}" in located
        [url] = re.findall(r'<img src="([^"]+)"', added)
        async with db.read() as session:
            [message] = (await session.execute(select(ReportMessage).where(ReportMessage.kind == "answer"))
                         ).scalars()
        assert url == f"/dashboard/reports/{report.code}/messages/{message.id}/photos/1"
        async with browser.http.get(base + url) as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
            stored = MediaStore(settings.media_dir).path_of(message.photos[0]["sha256"]).read_bytes()
            assert await response.read() == stored and b"SecretPhone" not in stored
        assert message.photos[0]["file_id"] not in page, "never the resident's Telegram file"
        for missing in (f"/dashboard/reports/{report.code}/messages/{message.id}/photos/2",
                        f"/dashboard/reports/{report.code}/messages/{message.id + 99}/photos/1",
                        f"/dashboard/reports/{report.code}/messages/{message.id}/photos/0"):
            assert (await browser.get(missing))[0] == 404, missing


async def test_agency_staff_add_an_internal_note_that_reaches_nobody(application, emulator, settings, db, city):
    hung = emulator.user(first_name="Hùng")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=0)
        [report] = await report_rows(db)
        await assign(db, report.code, "hn-so-gtvt")
        await lan.next_message()  # told of the assignment
        await resident_adds(db, settings, lan.id, report.id, text="It got worse after the rain.")
        await browser.sign_in(hung)
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        assert status == 200 and len(messages(page)) == 1
        before = await written(db)
        status, page = await browser.post(f"/dashboard/reports/{report.code}/messages",
                                          {"action": "note", "text": f"Crew booked for Monday {XSS}"})
        assert status == 200 and "?done=note" in browser.url
        assert "The internal note was added. The resident does not see it." in page
        resident, note = messages(page)
        assert "the resident" in resident and "It got worse after the rain." in resident
        assert "Hùng" in note and "internal note" in note and "not shown to the resident" in note
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in note and "<script>alert" not in page
        assert "Lan" not in page and "@lan" not in page, "agency staff never see who reported"
        after = await written(db)
        assert after == {"report_message": before["report_message"] + 1, "deliveries": before["deliveries"]}
        # Their question, though, reaches the resident, named as their agency.
        status, page = await browser.post(f"/dashboard/reports/{report.code}/messages",
                                          {"action": "ask", "text": "Is the hole deeper than 10 cm?"})
        assert status == 200 and len(messages(page)) == 3
        question = await lan.next_message()
        assert "Hanoi Department of Transport" in question.text and "deeper than 10 cm" in question.text


async def test_who_may_write_in_the_thread(application, emulator, settings, db, city):
    thu, bao, mai = emulator.user(first_name="Thu"), emulator.user(first_name="Bảo"), emulator.user(first_name="Mai")
    await grant(db, thu, "agency_staff", "hn-ubnd-hoan-kiem")
    await grant(db, bao, "broadcaster")
    await grant(db, mai, "moderator")
    code = await add_report(db)
    await assign(db, code, "hn-so-gtvt")
    closed = await add_report(db, state="closed", agency="hn-so-gtvt")
    before = await written(db)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        # Another agency's staff: as if there were no such report.
        await browser.sign_in(thu)
        assert (await browser.get(f"/dashboard/reports/{code}"))[0] == 404
        for action in ("ask", "note"):
            status, _page = await browser.post(f"/dashboard/reports/{code}/messages", {"action": action, "text": "?"})
            assert status == 404
        assert (await browser.get(f"/dashboard/reports/{code}/messages.json?after=0"))[0] == 404
        async with browser_at(base) as other:
            await other.sign_in(bao)
            assert (await other.get("/dashboard/stats"))[0] == 200
            status, _page = await other.post(f"/dashboard/reports/{code}/messages", {"action": "ask", "text": "?"})
            assert status == 403
        async with browser_at(base) as other:
            await other.sign_in(mai)
            status, page = await other.get(f"/dashboard/reports/{code}")
            for csrf in (None, "forged"):
                form = {"action": "ask", "text": "Where exactly?"}
                status, page = await other.post(f"/dashboard/reports/{code}/messages",
                                                 form if csrf is None else {**form, "csrf": csrf}, csrf=False)
                assert status == 403 and "Reload the page" in page
            # A closed report: no more questions, but a note still.
            status, page = await other.get(f"/dashboard/reports/{closed}")
            assert 'value="ask"' not in page and 'value="note"' in page
            assert await written(db) == before
            status, page = await other.post(f"/dashboard/reports/{closed}/messages",
                                            {"action": "ask", "text": "Still there?"})
            assert status == 409 and "nothing can be added to it any more" in html.unescape(page)
            assert 'Still there?</textarea>' in page
            status, page = await other.post(f"/dashboard/reports/{closed}/messages",
                                            {"action": "note", "text": "Closed by the ward."})
            assert status == 200 and "Closed by the ward." in thread_of(page)
    assert (await written(db))["report_message"] == before["report_message"] + 1


async def test_bad_input_is_refused_and_what_was_typed_is_kept(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    code = await add_report(db, reporter=REPORTER)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{code}")
        # A report whose resident asked Loa to forget them: nobody to ask, but notes still.
        assert "Nobody can be asked" in page and 'value="ask"' not in page and 'value="note"' in page
        before = await written(db)
        path = f"/dashboard/reports/{code}/messages"
        status, page = await browser.post(path, {"action": "note", "text": "   "})
        assert status == 400 and "Write the message." in page
        long = "x" * (thread.MESSAGE_MAX + 1)
        status, page = await browser.post(path, {"action": "ask", "text": long})
        assert status == 400 and f"Too long: at most {thread.MESSAGE_MAX} characters." in page
        assert f'name="text" maxlength="{thread.MESSAGE_MAX}" required>{long}</textarea>' in page
        status, page = await browser.post(path, {"action": "shout", "text": "hello"})
        assert status == 400
        status, page = await browser.post(path, {"action": "ask", "text": "Which house?"})
        assert status == 409 and "forget them" in html.unescape(page) and "Which house?</textarea>" in page
        assert await written(db) == before


async def test_with_the_pause_a_question_asked_on_the_page_holds_the_deadline(emulator, db, tmp_path, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    settings = web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en", LOA_PAUSE_WHILE_ASKING="true")
    async with served(build_application(settings, city), emulator, settings, db) as (base, _), \
            browser_at(base) as browser:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=0)
        [report] = await report_rows(db)
        await assign(db, report.code, "hn-so-gtvt")
        await lan.next_message()
        await browser.sign_in(mai)
        await browser.get(f"/dashboard/reports/{report.code}")
        status, page = await browser.post(f"/dashboard/reports/{report.code}/messages",
                                          {"action": "ask", "text": "Is it still there?"})
        assert status == 200
        [asked] = messages(page)
        assert "waiting for the answer; the deadline waits too" in asked
        assert "Is it still there?" in (await lan.next_message()).text
    async with db.read() as session:
        [question] = (await session.execute(select(ReportMessage))).scalars()
    assert question.pauses is True
