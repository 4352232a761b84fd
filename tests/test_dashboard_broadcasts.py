"""Broadcasts on the dashboard over HTTP: the recipient count, sending now or later, the residents
receiving the alert in Telegram, the history with its counts, stopping an alert as the bot does,
and the refusals (role, CSRF, bad forms), each leaving nothing behind."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from storage.models import Alert, BroadcastSchedule, Delivery
from storage.types import utcnow
from tests.fixtures.bot import served
from tests.fixtures.broadcasts import broadcaster, eventually, quiet_now, resident_in
from tests.fixtures.dashboard import browser_at, web_settings

LONG_BIEN = "00145"
HOAN_KIEM = "00070"
HANOI = "01"
TEXT = "Mưa lớn từ 14:00 <script>alert('x')</script> & <b>hôm nay</b>"


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path)


def compose(**fields) -> dict:
    return {"topic": "weather", "areas": LONG_BIEN, "severity": "severe", "text_vi": TEXT, "text_en": "",
            "link": "", "when": "now", "action": "send", **fields}


async def alert_count(db) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Alert))).scalar_one()


async def alert(db, alert_id: int) -> Alert:
    async with db.read() as session:
        return await session.get(Alert, alert_id)


def sent_id(browser) -> int:
    found = re.search(r"/dashboard/broadcasts/(\d+)", browser.url)
    assert found, browser.url
    return int(found.group(1))


def history_row(page: str, alert_id: int) -> list[str]:
    """The cells of one alert's row in the history, as text."""
    row = re.search(rf'<tr data-alert="{alert_id}">(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]


async def test_a_broadcaster_counts_sends_follows_and_cancels_an_alert(application, emulator, settings, db):
    boss = await broadcaster(db, emulator)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        reached = [await resident_in(db, emulator, LONG_BIEN, name=f"LB{n}") for n in range(2)]
        elsewhere = await resident_in(db, emulator, HOAN_KIEM, name="HK")
        await resident_in(db, emulator, LONG_BIEN, topics=("traffic",), name="Traffic")
        await browser.sign_in(boss)
        status, page = await browser.get("/dashboard/broadcasts")
        assert status == 200 and "No alert has been sent yet." in page

        status, page = await browser.get("/dashboard/broadcasts/new")
        assert status == 200 and 'data-count="/dashboard/broadcasts/count.json"' in page
        # Choosing a province shows its wards, and what was typed stays.
        status, page = await browser.post("/dashboard/broadcasts", compose(action="wards", areas=HOAN_KIEM,
                                                                            province=HANOI))
        assert status == 200 and f'value="{LONG_BIEN}"' in page and escape(TEXT) in page
        assert re.search(rf'value="{HOAN_KIEM}" checked', page) and "Recipients now:" in page

        for query, text in ((f"topic=weather&areas={LONG_BIEN}", "2 recipients"),
                            (f"topic=weather&areas={LONG_BIEN}&areas={HOAN_KIEM}", "3 recipients"),
                            (f"topic=weather&areas={HANOI}", "3 recipients"),
                            (f"topic=traffic&areas={LONG_BIEN}", "3 recipients"),  # all three follow traffic
                            (f"topic=nope&areas={LONG_BIEN}", "Choose a topic first."),
                            ("topic=weather", "Choose at least one area first.")):
            async with browser.http.get(f"{base}/dashboard/broadcasts/count.json?{query}") as response:
                assert response.status == 200 and (await response.json()) == {"text": text}, query

        status, page = await browser.post("/dashboard/broadcasts", compose(text_en="Heavy rain <i>today</i>"))
        assert status == 200, page
        alert_id = sent_id(browser)
        assert f"Alert #{alert_id}" in page
        # Typed text is shown as text, never as markup.
        assert escape(TEXT) in page and "<script>alert" not in page and "<i>today" not in page
        for user in reached:
            message = await user.next_message()
            assert message.text.startswith("🟠") and TEXT in message.text
        assert elsewhere.last_message.text.startswith("Xin chào")

        async def done():
            found = await alert(db, alert_id)
            return found if found.status == "done" else None

        sent = await eventually(done, timeout=15.0)
        assert (sent.source, sent.sender_telegram_id, sent.texts) == (
            "dashboard", boss.id, {"vi": TEXT, "en": "Heavy rain <i>today</i>"})
        async with browser.http.get(f"{base}/dashboard/broadcasts/{alert_id}/progress.json") as response:
            assert (await response.json()) == {
                "done": True, "text": "Sending finished · Recipients: 2 · Sent: 2 · Failed: 0 · Blocked the bot: 0"}
        status, page = await browser.get("/dashboard/broadcasts")
        cells = history_row(page, alert_id)
        assert cells[1:4] == ["Weather and disasters", "🟠 Severe", "Long Bien Ward"]
        assert cells[6:] == ["Hà", "Sent", "2", "0", "0", "0", "0"]

        # Someone else's alert cannot be stopped by another broadcaster.
        other = await broadcaster(db, emulator, name="Other")
        async with browser_at(base) as second:
            await second.sign_in(other)
            status, page = await second.get(f"/dashboard/broadcasts/{alert_id}")
            assert status == 200 and "Cancel the alert" not in page
            status, _page = await second.post(f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "notice"})
            assert status == 403

        status, page = await browser.get(f"/dashboard/broadcasts/{alert_id}")
        assert "The 2 residents who received it will be told it is no longer in force." in page
        status, page = await browser.post(f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "notice"})
        assert status == 200 and "The alert is cancelled" in page and "Cancel the alert" not in page
        for user in reached:
            assert (await user.next_message()).text.startswith("✅ HỦY CẢNH BÁO")
        async with db.read() as session:
            notice = (await session.execute(select(Alert).where(Alert.replaces_id == alert_id))).scalar_one()
        assert (notice.kind, notice.source, (await alert(db, alert_id)).status) == ("cancellation", "dashboard",
                                                                                     "cancelled")
        assert f'href="/dashboard/broadcasts/{notice.id}"' in page
        # Twice is refused: it changed meanwhile.
        status, _page = await browser.post(f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "notice"})
        assert status == 409


async def test_sending_is_stopped_midway_and_the_counts_say_so(application, emulator, settings, db):
    boss = await broadcaster(db, emulator, role="admin")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        awake = await resident_in(db, emulator, LONG_BIEN, name="Day")
        sleeping = [await resident_in(db, emulator, LONG_BIEN, quiet=quiet_now(settings.tz), name=f"Night{n}")
                    for n in range(2)]
        await browser.sign_in(boss)
        await browser.get("/dashboard/broadcasts/new")
        status, page = await browser.post("/dashboard/broadcasts", compose(severity="moderate"))
        alert_id = sent_id(browser)
        assert TEXT in (await awake.next_message()).text

        async def waiting():
            async with browser.http.get(f"{base}/dashboard/broadcasts/{alert_id}/progress.json") as response:
                body = await response.json()
            return body if "Sent: 1" in body["text"] else None

        body = await eventually(waiting, timeout=15.0)
        assert body == {"done": False, "text": "Sending… · Recipients: 3 · Sent: 1 · Failed: 0 · Blocked the bot: 0 "
                                               "· Waiting for quiet hours to end: 2"}
        status, page = await browser.get("/dashboard/broadcasts")
        assert f'data-live="/dashboard/broadcasts/{alert_id}/progress.json"' in page
        assert history_row(page, alert_id)[-5:] == ["1", "0", "0", "2", "0"]
        status, page = await browser.get(f"/dashboard/broadcasts/{alert_id}")
        assert "Cancel sending" in page and 'name="way" value="sending"' in page
        status, page = await browser.post(f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "sending"})
        assert status == 200 and "Sending stopped" in page
        assert re.search(r'data-count="cancelled">2<', page) and "Cancel sending" not in page
    for user in sleeping:
        assert user.last_message.text.startswith("Xin chào")
    async with db.read() as session:
        states = dict((await session.execute(select(Delivery.state, func.count())
                                             .where(Delivery.alert_id == alert_id).group_by(Delivery.state))).all())
    assert states == {"sent": 1, "cancelled": 2} and (await alert(db, alert_id)).status == "cancelled"


async def test_an_alert_sent_later_is_a_schedule_that_can_be_stopped(application, emulator, settings, db):
    boss = await broadcaster(db, emulator)
    at = (utcnow() + timedelta(days=1)).astimezone(settings.tz).replace(second=0, microsecond=0)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(boss)
        await browser.get("/dashboard/broadcasts/new")
        status, page = await browser.post("/dashboard/broadcasts", compose(
            when="later", send_at=at.strftime("%Y-%m-%dT%H:%M"), repeat="weekly"))
        assert status == 200 and "Scheduled" in page and "Stop the schedule" in page
        alert_id = sent_id(browser)
        async with db.read() as session:
            schedule = (await session.execute(select(BroadcastSchedule))).scalar_one()
        assert (schedule.alert_id, schedule.created_by, schedule.active, schedule.next_run_at) == (
            alert_id, boss.id, True, at)
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[at.weekday()]
        assert schedule.cron == f"{at.minute} {at.hour} * * {day}"
        assert (await alert(db, alert_id)).status == "template"
        status, page = await browser.post(f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "schedule"})
        assert status == 200 and "The schedule was stopped" in page
    async with db.read() as session:
        schedule = (await session.execute(select(BroadcastSchedule))).scalar_one()
        deliveries = (await session.execute(select(func.count()).select_from(Delivery))).scalar_one()
    assert not schedule.active and deliveries == 0
    assert (await alert(db, alert_id)).status == "cancelled"


async def test_a_moderator_is_refused_every_broadcast_route(application, emulator, settings, db):
    mai = await broadcaster(db, emulator, role="moderator", name="Mai")
    async with db.transaction() as session:
        sent = Alert(topic_code="weather", severity="severe", area_codes=[HANOI], texts={"vi": "x"}, status="done")
        session.add(sent)
        await session.flush()
        alert_id = sent.id
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get("/dashboard/stats")  # to have a CSRF token
        assert status == 200 and "/dashboard/broadcasts" not in page
        for path in ("/dashboard/broadcasts", "/dashboard/broadcasts/new", "/dashboard/broadcasts?page=2",
                     f"/dashboard/broadcasts/count.json?topic=weather&areas={HANOI}",
                     f"/dashboard/broadcasts/{alert_id}", f"/dashboard/broadcasts/{alert_id}/progress.json"):
            status, page = await browser.get(path)
            assert status == 403 and "Your role does not allow this." in page, path
        for path, data in (("/dashboard/broadcasts", compose()),
                           (f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "notice"})):
            status, _page = await browser.post(path, data)
            assert status == 403, path
    assert await alert_count(db) == 1 and (await alert(db, alert_id)).status == "done"


async def test_a_form_without_the_csrf_token_does_nothing(application, emulator, settings, db):
    boss = await broadcaster(db, emulator)
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(boss)
        await browser.get("/dashboard/broadcasts/new")
        for token in (None, "forged"):
            data = compose() if token is None else compose(csrf=token)
            status, page = await browser.post("/dashboard/broadcasts", data, csrf=False)
            assert status == 403 and "Reload the page" in page
        assert await alert_count(db) == 0
        status, _page = await browser.post("/dashboard/broadcasts", compose(when="later", send_at="2099-01-01T07:00"))
        assert status == 400  # more than a year away: nothing either
        await browser.post("/dashboard/broadcasts", compose(when="later", send_at=(
            utcnow() + timedelta(hours=3)).astimezone(settings.tz).strftime("%Y-%m-%dT%H:%M")))
        alert_id = sent_id(browser)
        status, _page = await browser.post(f"/dashboard/broadcasts/{alert_id}/cancel", {"way": "schedule"},
                                           csrf=False)
        assert status == 403 and (await alert(db, alert_id)).status == "template"


@pytest.mark.parametrize("fields, problem", [
    ({"text_vi": "   "}, "Write the text of the alert in Vietnamese."),
    ({"areas": "99999"}, "There is no area 99999: choose the areas from the list."),
    ({"text_vi": "Mưa " + "x" * 3500}, "The text is too long: 3,504 characters, and an alert can have at most 3,500."),
    ({"text_en": "y" * 3501}, "The text is too long: 3,501 characters"),
    ({"areas": ""}, "Choose at least one area."),
    ({"topic": "nope"}, "Choose a topic from the list."),
    ({"severity": "unknown"}, "Choose how serious the alert is."),
    ({"link": "javascript:alert(1)"}, "The link must be a web address"),
    ({"when": "later", "send_at": "2020-01-01T07:00"}, "That time has already passed."),
    ({"when": "later", "send_at": "tomorrow"}, "Choose the date and time to send it"),
])
async def test_a_bad_form_is_shown_again_with_what_was_typed(application, emulator, settings, db, fields, problem):
    boss = await broadcaster(db, emulator)
    typed = compose(**{"text_en": "Heavy rain & <b>wind</b>", "link": "https://nchmf.gov.vn/?a=1&b=2", **fields})
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(boss)
        await browser.get("/dashboard/broadcasts/new")
        status, page = await browser.post("/dashboard/broadcasts", typed)
    assert status == 400 and problem in html.unescape(page)
    assert 'role="alert"' in page and "The alert was not sent." in page
    for name in ("text_vi", "text_en"):
        assert f'name="{name}" rows=' in page and escape(typed[name]) in page  # kept, escaped
    assert f'value="{escape(typed["link"])}"' in page
    assert await alert_count(db) == 0
