"""The sandbox's web chat over HTTP, as its page's script uses it: seats, typing, buttons,
photos, locations, new residents; and what it refuses."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from sqlmodel import select

from bot.runner import CannotStart, serving
from emulator import Emulator
from emulator.images import sample_jpeg
from handlers.broadcast_prompts import severity_name
from kernel.i18n import translator
from kernel.settings import Settings
from sandbox import cast, demo
from sandbox.chat import HEADER
from sandbox.run import opened
from sandbox.stage import Stage
from storage.models import Resident
from tests.fixtures.dashboard import free_port
from web import server


async def test_the_page_offers_every_seat_and_starts_with_the_new_resident(sandbox, chat_client):
    async with chat_client.http.get(sandbox.url) as response:
        page = await response.text()
        assert response.status == 200
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'data-seat="hoa"' in page and "Private chat with the bot" not in page  # Vietnamese by default
    for seat in ("lan", "tom", "hoa", "hung", "mai", "dung", "an", "moderators", "urenco", "transport"):
        assert f'href="/?seat={seat}"' in page
    assert "Gửi /start để bắt đầu" in page
    async with chat_client.http.get(sandbox.url, params={"seat": "urenco", "lang": "en"}) as response:
        page = await response.text()
    assert "Staff group: you write as Mai Phạm." in page
    assert response.cookies["loa_sandbox_language"].value == "en"


async def test_the_page_links_the_public_portal_which_shows_the_demo(sandbox, chat_client):
    async with chat_client.http.get(sandbox.url) as response:
        page = await response.text()
    assert '<a href="/public/" target="_blank"' in page
    async with chat_client.http.get(sandbox.url + "public/") as response:
        assert response.status == 200 and 'href="/public/reports"' in await response.text()
    # Lan's report with a thread is on the portal; its thread is not.
    async with chat_client.http.get(f"{sandbox.url}public/reports/{sandbox.demo.asked}") as response:
        report = await response.text()
    assert response.status == 200 and sandbox.demo.asked in report
    assert demo.ANSWER not in report and demo.QUESTION not in report and not re.search(r"\bLan\b", report)


async def test_what_the_person_types_reaches_the_bot_and_its_answer_shows(sandbox, chat_client):
    status, _ = await chat_client.post("/sandbox/seats/hoa/text", {"text": "/start"})
    assert status == 200
    parts = await chat_client.view_until("hoa", "Xin chào! Đây là Loa")
    [message] = re.findall(r'data-message="(\d+)" data-text="Tiếng Việt ✓"', parts["chat"])
    status, answer = await chat_client.post("/sandbox/seats/hoa/tap", {"message": message, "text": "Tiếng Việt ✓"})
    assert status == 200 and answer["ok"]
    parts = await chat_client.view_until("hoa", "📍 Gửi vị trí của tôi")
    assert 'data-location="yes"' in parts["keyboard"]
    # The key shows its text as Telegram does: the bot's own pin, not a second one.
    assert ">📍 Gửi vị trí của tôi</button>" in parts["keyboard"] and "📍 📍" not in parts["keyboard"]
    ba_dinh = (21.0368, 105.8342)
    status, _ = await chat_client.post("/sandbox/seats/hoa/location", {
        "latitude": ba_dinh[0], "longitude": ba_dinh[1], "text": "📍 Gửi vị trí của tôi"})
    assert status == 200
    await chat_client.view_until("hoa", "Ba Đình")
    async with sandbox.db.read() as session:
        hoa = (await session.execute(select(Resident).where(Resident.telegram_id == cast.HOA.telegram_id))).scalar_one()
    assert hoa.area_code == "00004"


async def test_a_post_from_another_site_is_refused_and_sends_nothing(sandbox, chat_client):
    status, _ = await chat_client.post("/sandbox/seats/hoa/text", {"text": "/start"}, header=False)
    assert status == 403
    assert list(sandbox.stage.seats["hoa"].member.chat.log) == []


async def test_bad_input_gets_a_translated_answer(sandbox, chat_client):
    form = aiohttp.FormData()
    form.add_field("photo", b"%PDF-1.4 not a picture", filename="report.pdf", content_type="application/pdf")
    status, answer = await chat_client.post("/sandbox/seats/lan/photo?lang=vi", form)
    assert status == 400 and answer["error"] == ("Tệp này không phải là ảnh: hãy chọn một ảnh JPEG hoặc PNG, hoặc gửi "
                                                 "nó dưới dạng tệp.")
    form = aiohttp.FormData()
    form.add_field("caption", "x" * 1025)
    status, answer = await chat_client.post("/sandbox/seats/lan/photo?lang=en", form)
    assert status == 400 and answer["error"] == "A caption can be at most 1,024 characters."
    status, answer = await chat_client.post("/sandbox/seats/lan/document?lang=en", aiohttp.FormData({"caption": "x"}))
    assert status == 400 and answer["error"] == "Choose a file first."
    status, answer = await chat_client.post("/sandbox/seats/lan/location?lang=en", {"latitude": 91, "longitude": 0})
    assert status == 400 and answer["error"] == "Pick a point on the map first."
    status, answer = await chat_client.post("/sandbox/seats/lan/text?lang=en", {"text": "   "})
    assert status == 400 and answer["error"] == "Type a message first."
    status, answer = await chat_client.post("/sandbox/seats/lan/tap?lang=en", {"message": 999, "text": "Nope"})
    assert status == 409 and answer["error"] == "This button is no longer there."
    assert list(sandbox.stage.seats["lan"].member.chat.log) == []
    async with chat_client.http.get(sandbox.url + "sandbox/view", params={"seat": "nobody"}) as response:
        assert response.status == 404


async def test_only_the_sandboxs_own_host_names_are_answered(sandbox, chat_client):
    """DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1 reaches the port,
    but its requests name evil.example in Host and are refused."""
    port = sandbox.url.rstrip("/").rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.", "10.0.0.1",
                 "[::2]", "x@127.0.0.1", "[", "%00"):
        async with chat_client.http.post(sandbox.url + "sandbox/seats/lan/text?lang=en", json={"text": "hi"},
                                         headers={HEADER: "1", "Host": host}) as response:
            assert response.status == 421, host
            assert (await response.json())["error"] == ("This address is not the sandbox's: open it at the address "
                                                        "the console shows."), host
        async with chat_client.http.get(sandbox.url + "dashboard/queue", headers={"Host": host},
                                        allow_redirects=False) as response:
            assert response.status == 421, host
    lan = sandbox.stage.seats["lan"].member
    assert [m.text for m in lan.chat.log if m.sender.id == lan.id] == []
    for host in ("localhost", f"localhost:{port}", "127.0.0.1:1", f"[::1]:{port}", "LOCALHOST"):
        async with chat_client.http.get(sandbox.url, headers={"Host": host}) as response:
            assert response.status == 200, host
    status, _ = await chat_client.post("/sandbox/seats/lan/text", {"text": "/help"})
    assert status == 200


async def test_a_malformed_body_or_reply_to_gets_400_and_sends_nothing(sandbox, chat_client):
    headers = {HEADER: "1", "Content-Type": "application/json"}
    for body in (b"{not json", b"[" * 100_000, b'["a list"]', b"\xff"):
        async with chat_client.http.post(sandbox.url + "sandbox/seats/lan/text?lang=en", data=body,
                                         headers=headers) as response:
            assert response.status == 400 and (await response.json())["error"] == "This request is not valid."
    for reply_to in ([1], {"id": 1}, "9" * 5000, -3, 2.5):
        status, answer = await chat_client.post("/sandbox/seats/lan/text?lang=vi", {"text": "hi", "reply_to": reply_to})
        assert status == 400 and answer["error"] == "Yêu cầu này không hợp lệ.", reply_to
    status, answer = await chat_client.post("/sandbox/seats/lan/location?lang=en", {"latitude": 10**400 // 10**399,
                                                                                    "longitude": "1e999"})
    assert status == 400 and answer["error"] == "Pick a point on the map first."
    lan = sandbox.stage.seats["lan"].member
    assert [m.text for m in lan.chat.log if m.sender.id == lan.id] == []  # nothing of hers reached the bot


async def test_a_photo_from_the_computer_is_shown_from_the_emulator(sandbox, chat_client):
    form = aiohttp.FormData()
    form.add_field("photo", sample_jpeg(seed=7), filename="pothole.jpg", content_type="image/jpeg")
    status, _ = await chat_client.post("/sandbox/seats/lan/photo", form)
    assert status == 200
    parts = await chat_client.view_until("lan", 'class="photo"')
    file_id = parts["chat"].split('src="/sandbox/files/')[1].split('"')[0]
    async with chat_client.http.get(f"{sandbox.url}sandbox/files/{file_id}") as response:
        assert response.status == 200 and response.content_type == "image/jpeg"
        assert (await response.read())[:2] == b"\xff\xd8"


async def test_a_file_goes_as_a_document_with_its_caption_and_is_only_ever_downloaded(sandbox, chat_client):
    for name, content_type, data in (("biên bản <1>.pdf", "application/pdf", b"%PDF-1.4\n"),
                                      ("drawing.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'>"
                                                                       b"<script>alert(1)</script></svg>"),
                                      ("notes", "not a type", b"plain words")):
        form = aiohttp.FormData(quote_fields=False)  # names in UTF-8, as browsers send them
        form.add_field("document", data, filename=name, content_type=content_type)
        form.add_field("caption", "Xem <b>tệp</b> này")
        status, _ = await chat_client.post("/sandbox/seats/urenco/document", form)
        assert status == 200, name
    sent = [m for m in sandbox.stage.seats["urenco"].chat.chat.log if m.document]
    assert [(m.document.file_name, m.document.mime_type, m.caption) for m in sent] == [
        ("biên bản <1>.pdf", "application/pdf", "Xem <b>tệp</b> này"),
        ("drawing.svg", "image/svg+xml", "Xem <b>tệp</b> này"),
        ("notes", "application/octet-stream", "Xem <b>tệp</b> này")]
    parts = await chat_client.view_until("urenco", "biên bản &lt;1&gt;.pdf")
    assert "Xem &lt;b&gt;tệp&lt;/b&gt; này" in parts["chat"] and "<b>tệp" not in parts["chat"]
    for message in sent:
        async with chat_client.http.get(f"{sandbox.url}sandbox/files/{message.document.file_id}") as response:
            assert response.status == 200 and response.headers["Content-Disposition"] == "attachment"


async def test_a_new_residents_name_is_escaped_wherever_it_shows(sandbox, chat_client):
    status, answer = await chat_client.post("/sandbox/people", {"name": "<b>Eve</b> & co", "language": "en"})
    assert status == 200
    seat = answer["seat"]
    parts = await chat_client.view(seat)
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in parts["residents"] and "<b>Eve" not in parts["residents"]
    await chat_client.post(f"/sandbox/seats/{seat}/text", {"text": "<script>alert(1)</script>"})
    parts = await chat_client.view_until(seat, "&lt;script&gt;")
    assert "<script>" not in parts["chat"]
    status, answer = await chat_client.post("/sandbox/people?lang=en", {"name": "  ", "language": "en"})
    assert status == 400 and "name" in answer["error"]


async def test_hoas_seat_stops_saying_she_never_used_the_bot_once_she_has(sandbox, chat_client):
    parts = await chat_client.view("lan", language="en")
    assert "Has never used the bot: begin with /start" in parts["residents"]
    await chat_client.post("/sandbox/seats/hoa/text", {"text": "/start"})
    await chat_client.view_until("hoa", "Xin chào! Đây là Loa")
    parts = await chat_client.view("lan", language="en")
    assert "A new resident: has just started using the bot" in parts["residents"]
    assert "never used" not in parts["residents"]


async def test_a_demo_resident_is_known_to_the_bot(sandbox, chat_client):
    await chat_client.post("/sandbox/seats/lan/text", {"text": "/start"})
    parts = await chat_client.view_until("lan", "Ba Đình")
    assert "Xin chào! Đây là Loa" not in parts["chat"], "Lan set up her alerts before: no welcome"


async def test_the_real_bot_serves_no_chat_page(application, emulator, settings, db):
    async with serving(application, settings, db) as http, aiohttp.ClientSession() as session:
        async with session.get(server.address(http) + "/") as response:
            assert response.status == 404
        async with session.post(server.address(http) + "/sandbox/seats/lan/text", json={"text": "x"},
                                headers={"X-Loa-Sandbox": "1"}) as response:
            assert response.status == 404


async def test_the_administrators_alert_reaches_lan_in_her_chat(sandbox, chat_client):
    """What the README suggests trying: An broadcasts a severe alert to Ba Đình; Lan gets it."""
    _ = translator("vi").gettext
    an = sandbox.stage.seats["an"].member

    async def tap(text: str, **kw) -> None:
        await (await an.tap(text, **kw)).answer()

    await an.send("/broadcast")
    await an.next_message()
    await tap("Thời tiết và thiên tai")
    picker = await an.next_message()
    # It opens on the city the sandbox serves, the area of the demo's alert offered first.
    assert picker.text.splitlines()[-1].startswith("Phường, xã của Thành phố Hà Nội:")
    assert picker.buttons[0][0] == "⭐ Hà Nội" and "Chưa chọn khu vực nào." in picker.text
    await an.send("Ba Đình")
    await an.next_message()
    await tap("Phường Ba Đình, Hà Nội")
    await an.wait_for(lambda: ["➕ Toàn bộ Hà Nội"] in an.last_message.buttons)
    await tap(_("Done ✓"))
    await an.next_message()
    await tap(severity_name("severe", "vi"))
    await an.next_message()
    await an.send("Mưa lớn <b>và dông</b> chiều nay: hạn chế ra đường.")
    await an.next_message()
    await tap(_("Skip ›"))
    await an.next_message()
    await tap(_("No photo ›"))
    await an.next_message()
    controls = await an.next_message()
    await tap(_("📣 Send now"), message=controls)
    parts = await chat_client.view_until("lan", "Mưa lớn &lt;b&gt;và dông&lt;/b&gt; chiều nay")
    assert "NGHIÊM TRỌNG" in parts["chat"]


async def test_a_seat_of_an_earlier_run_leads_back_to_the_start(sandbox, chat_client):
    async with chat_client.http.get(sandbox.url, params={"seat": "r700000999"}, allow_redirects=False) as response:
        assert response.status == 302 and response.headers["Location"] == "/"


async def test_a_waiting_page_is_answered_on_a_change_or_when_the_server_stops():
    """/sandbox/view waits on the stage; the server's shutdown wakes it (chat._release_waiters),
    so that a page left open does not hold Ctrl-C for aiohttp's shutdown timeout."""
    emulator = Emulator()
    stage = Stage(emulator)
    waiting = asyncio.create_task(stage.wait(stage.version, timeout=60))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    emulator.user("Lan")  # a new account changes no chat: still waiting
    await asyncio.sleep(0.05)
    assert not waiting.done()
    stage.wake()
    await asyncio.wait_for(waiting, 5)
    changed = asyncio.create_task(stage.wait(stage.version, timeout=60))
    await emulator.user("Tom").send("/start")  # a message in a chat
    await asyncio.wait_for(changed, 5)


async def test_a_second_sandbox_in_the_same_folder_is_refused_and_harms_nothing(sandbox, tmp_path):
    settings = Settings(_env_file=None, HTTP_HOST="127.0.0.1", HTTP_PORT=str(free_port()))
    with pytest.raises(CannotStart, match="already running from this folder"):
        async with opened(settings, tmp_path / "data"):
            pass
    async with sandbox.db.read() as session:
        assert (await session.execute(select(Resident).where(Resident.telegram_id == cast.LAN.telegram_id))
                ).scalar_one()
