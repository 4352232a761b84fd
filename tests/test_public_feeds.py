"""The public feeds over HTTP (web/public.py, broadcasts/publish.py): the Atom feed of the sent
alerts, each alert's CAP 1.2 document valid against the OASIS schema, corrections and
cancellations with their references, caching, the switch, and one Loa following another's feed;
on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from bot.app import build_application
from broadcasts import cap, feeds, lifecycle, publish
from broadcasts.publish import headline as headline_of
from kernel.settings import Settings
from sandbox.demo import WEATHER_EN, WEATHER_VI
from storage import tokens
from storage.models import Agency, Alert, Delivery
from storage.types import utcnow
from tests.fixtures.alerts import residents_in_emulator, wards_of
from tests.fixtures.bot import served, settings_for
from tests.fixtures.browser import screenshot
from tests.fixtures.public import (
    SENDER,
    cancelled,
    corrected,
    delivered,
    follower_db,  # noqa: F401  (a fixture)
    never_sent,
    poll_until_new,
    portal,  # noqa: F401  (a fixture)
    portal_for,
    sent_alert,
    subscribe,
)

A = "{http://www.w3.org/2005/Atom}"
C = "{urn:oasis:names:tc:emergency:cap:1.2}"


@pytest.fixture
def settings(emulator, db, tmp_path):
    """`loa run`'s settings on a free port (the served bot's tests)."""
    return settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_HOST="127.0.0.1", HTTP_PORT="0",
                        LOA_CAP_SENDER=SENDER)


def entries(body: bytes) -> list[ET.Element]:
    root = ET.fromstring(body)
    assert root.tag == f"{A}feed"
    return root.findall(f"{A}entry")


def cap_link(entry: ET.Element) -> str:
    [link] = [link for link in entry.findall(f"{A}link") if link.get("type") == "application/cap+xml"]
    return link.get("href")


async def cap_of(portal, alert_id: int) -> tuple[ET.Element, cap.CapMessage]:
    status, headers, body = await portal.get(f"/public/alerts/{alert_id}.cap")
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/cap+xml")
    root = ET.fromstring(body)
    cap.validate(root)  # the OASIS schema shipped in broadcasts/schemas
    return root, cap.parse(body)  # and the rules the ingest adds to it


async def test_the_feed_lists_the_sent_alerts_newest_first(portal):
    db = portal.db
    first = await sent_alert(db, texts={"vi": "Ngập ở phố Hàng Bài <b>&amp;</b>", "en": "Flooding"})
    second = await sent_alert(db, topic_code="traffic", severity="moderate", texts={"vi": "Cấm đường Tràng Tiền"})
    hidden = await never_sent(db)
    relayed = await sent_alert(db, by=lifecycle.By("cap"), identifier="other@example.org,7",
                               texts={"vi": "Tin của nơi khác"})
    # Corrected here, twice: still another authority's alert, not published.
    relayed_fix = await corrected(db, relayed, {"vi": "Tin của nơi khác, đã sửa"})
    relayed_fix_again = await corrected(db, relayed_fix, {"vi": "Tin của nơi khác, sửa lần hai"})

    status, headers, body = await portal.get("/public/alerts.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    found = entries(body)
    assert [cap_link(entry) for entry in found] == [portal.url(f"/public/alerts/{n}.cap") for n in (second, first)]
    assert [entry.findtext(f"{A}title") for entry in found] == ["Cấm đường Tràng Tiền",
                                                                  "Ngập ở phố Hàng Bài <b>&amp;</b>"]
    assert found[0].find(f"{A}category").get("term") == "Transport"
    root = ET.fromstring(body)
    assert root.find(f"{A}author").findtext(f"{A}name") == SENDER
    assert root.find(f"{A}link").get("href") == portal.url("/public/alerts.atom")
    for alert_id in (*hidden, relayed, relayed_fix, relayed_fix_again):
        assert (await portal.get(f"/public/alerts/{alert_id}.cap"))[0] == 404
    assert (await portal.get("/public/alerts/99999999999999.cap"))[0] == 404
    assert (await portal.get("/public/alerts/abc.cap"))[0] == 404


async def test_a_cap_document_in_two_languages_with_polygons(portal):
    db = portal.db
    alert_id = await sent_alert(db, area_codes=["00070", "00082"], link="https://kttv.example.vn/mua",
                                texts={"vi": "Mưa rất lớn <script>\nTránh ra đường", "en": "Very heavy rain & wind"})
    root, message = await cap_of(portal, alert_id)
    assert (message.identifier, message.sender, message.status, message.msg_type, message.scope) == \
        (f"loa-{alert_id}", SENDER, "Actual", "Alert", "Public")
    assert [info.language for info in message.infos] == ["vi-VN", "en-US"]
    vi, en = message.infos
    assert vi.headline == "Mưa rất lớn <script>" and vi.description == "Mưa rất lớn <script>\nTránh ra đường"
    assert en.description == "Very heavy rain & wind" and (en.severity, en.urgency) == ("Severe", "Immediate")
    assert vi.categories == ("Met",) and vi.web == "https://kttv.example.vn/mua"
    assert [area.description for area in vi.areas] == ["Phường Hoàn Kiếm", "Phường Cửa Nam"]
    assert [area.description for area in en.areas] == ["Hoan Kiem Ward", "Cua Nam Ward"]
    for info in message.infos:
        assert [area.geocodes for area in info.areas] == [(("loa-area-code", "00070"),),
                                                          (("loa-area-code", "00082"),)]
        for area in info.areas:
            assert area.polygons and all(ring[0] == ring[-1] and len(ring) <= cap.MAX_POLYGON_POINTS
                                         for ring in area.polygons)
    # Loa's own ingest reads exactly the two wards back: the polygons stay inside them.
    assert await cap.match_areas(db, message) == ["00070", "00082"]
    only_shapes = cap.parse(ET.tostring(root).replace(b"<ns0:value>00070</ns0:value>", b"<ns0:value>x</ns0:value>")
                            .replace(b"<ns0:value>00082</ns0:value>", b"<ns0:value>x</ns0:value>"))
    assert await cap.match_areas(db, only_shapes) == ["00070", "00082"]


async def test_a_correction_and_a_cancellation_reference_what_they_replace(portal):
    db = portal.db
    await subscribe(db, "00070", 1000, count=2)
    original = await sent_alert(db)
    await delivered(db, original)
    correction = await corrected(db, original, {"vi": "Mưa rất lớn, đã sửa", "en": "Very heavy rain, corrected"})
    await delivered(db, correction)
    cancellation = await cancelled(db, correction)

    _, first = await cap_of(portal, original)
    _, update = await cap_of(portal, correction)
    _, cancel = await cap_of(portal, cancellation)
    assert (update.msg_type, cancel.msg_type) == ("Update", "Cancel")
    assert update.references == (cap.Reference(SENDER, f"loa-{original}", first.sent),)
    assert cancel.references == (cap.Reference(SENDER, f"loa-{correction}", update.sent),)
    assert update.infos[0].description == "Mưa rất lớn, đã sửa"
    assert cancel.infos[0].description == "Mưa rất lớn, đã sửa"  # what it cancels

    _, _, body = await portal.get("/public/alerts.atom")
    titles = [entry.findtext(f"{A}title") for entry in entries(body)]
    assert titles == ["Cancel: Mưa rất lớn, đã sửa", "Update: Mưa rất lớn, đã sửa", "Mưa lớn ở Hoàn Kiếm"]


async def test_feeds_are_cacheable_and_answer_304(portal):
    db = portal.db
    first = await sent_alert(db)
    status, headers, _ = await portal.get("/public/alerts.atom")
    etag = headers["ETag"]
    assert status == 200 and etag.startswith('"') and "max-age=60" in headers["Cache-Control"]
    status, again, body = await portal.get("/public/alerts.atom", **{"If-None-Match": etag})
    assert (status, body, again["ETag"]) == (304, b"", etag)

    await sent_alert(db, texts={"vi": "Tin mới"})
    status, changed, body = await portal.get("/public/alerts.atom")  # a 200 reads the version with its body
    assert status == 200 and changed["ETag"] != etag and len(entries(body)) == 2
    assert (await portal.get("/public/alerts.atom", **{"If-None-Match": etag}))[0] == 200
    assert (await portal.get("/public/alerts.atom", **{"If-None-Match": changed["ETag"]}))[0] == 304

    status, headers, _ = await portal.get(f"/public/alerts/{first}.cap")
    assert status == 200 and "max-age=60" in headers["Cache-Control"]
    status, _, body = await portal.get(f"/public/alerts/{first}.cap", **{"If-None-Match": f'W/{headers["ETag"]}'})
    assert (status, body) == (304, b"")


async def test_the_switch_off_answers_404(areas_loaded):
    alert_id = await sent_alert(areas_loaded)
    async with portal_for(areas_loaded, LOA_PUBLIC_PORTAL="false") as closed:
        assert (await closed.get("/public/alerts.atom"))[0] == 404
        assert (await closed.get(f"/public/alerts/{alert_id}.cap"))[0] == 404
        assert (await closed.get("/public/anything"))[0] == 404


def test_the_settings_check_the_cap_sender():
    assert Settings(_env_file=None).cap_sender_id == "loa@127.0.0.1"
    assert Settings(_env_file=None, DASHBOARD_URL="https://loa.hanoi.gov.vn/").cap_sender_id == "loa@loa.hanoi.gov.vn"
    assert Settings(_env_file=None, LOA_CAP_SENDER=" canhbao@hanoi.gov.vn ").cap_sender_id == "canhbao@hanoi.gov.vn"
    assert Settings(_env_file=None).public_portal is True
    for bad in ("a b", "a,b", "a<b", "a&b"):
        try:
            Settings(_env_file=None, LOA_CAP_SENDER=bad)
        except ValueError as error:
            assert "LOA_CAP_SENDER" in str(error)
        else:
            raise AssertionError(f"{bad!r} was accepted")


async def test_one_loa_follows_anothers_feed(portal, follower_db):
    """A second Loa polls the first one's /public/alerts.atom over HTTP, as LOA_CAP_FEEDS makes it
    do, and takes each alert once: the original, its correction as a correction, nothing again."""
    db = portal.db
    followers = await subscribe(follower_db, "00070", 5000, count=2)
    neighbours = await subscribe(follower_db, "00082", 6000)  # Cửa Nam, beside Hoàn Kiếm
    original = await sent_alert(db, texts={"vi": "Mưa lớn ở Hoàn Kiếm", "en": "Heavy rain in Hoan Kiem"})
    await delivered(db, original)
    url = portal.url("/public/alerts.atom")
    settings = Settings(_env_file=None, DATABASE_URL=follower_db.url, LOA_CAP_FEEDS=url)
    poller = feeds.FeedPoller(follower_db, settings)

    [result] = await poller.poll_all()
    assert result.status == 200 and len(result.taken) == 1 and result.summary is None, result
    async with follower_db.read() as session:
        taken = await session.get(Alert, result.taken[0])
        chats = set((await session.execute(select(Delivery.chat_id).where(Delivery.alert_id == taken.id))).scalars())
    assert (taken.source, taken.identifier, taken.area_codes) == ("cap", f"{SENDER},loa-{original}", ["00070"])
    assert taken.texts == {"vi": "Mưa lớn ở Hoàn Kiếm", "en": "Heavy rain in Hoan Kiem"}
    assert (taken.topic_code, taken.severity) == ("weather", "severe")
    assert chats == set(followers) and not chats & set(neighbours)

    [again] = await poller.poll_all()  # unchanged: 304, nothing taken
    assert again.status == 304 and again.taken == []

    correction = await corrected(db, original, {"vi": "Mưa rất lớn"})
    third = await poll_until_new(poller)
    assert third.status == 200 and len(third.taken) == 1 and third.duplicates == 0, third
    async with follower_db.read() as session:
        follow = await session.get(Alert, third.taken[0])
    assert (follow.kind, follow.replaces_id, follow.texts) == ("correction", taken.id, {"vi": "Mưa rất lớn"})
    assert correction != original

    # The follower's own feed does not relay what it took: two Loa following each other never loop.
    async with portal_for(follower_db) as follower:
        _, _, body = await follower.get("/public/alerts.atom")
    assert entries(body) == []
    assert (await poller.poll_all())[0].taken == []
    async with db.read() as session:
        assert len(await publish.feed_alerts(session)) == 2


async def test_loa_run_publishes_what_an_agency_sent_through_the_api(application, emulator, settings, db):
    """`loa run`'s own server: an agency's system sends an alert through the REST API, the bot
    sends it to the residents, and the public feed and CAP document show it under the agency's name."""
    sims = await residents_in_emulator(emulator, db, 2, quiet_start_minute=None, quiet_end_minute=None)
    [ward] = await wards_of(db, "01", 1)
    async with db.transaction() as session:
        session.add(Agency(code="kttv", name_vi="Đài Khí tượng Thủy văn", name_en="Hydro-Meteorological Service"))
        await session.flush()
        _, token = await tokens.create(session, name="KTTV", agency_code="kttv", scopes=["alerts"])
    alert = {"topic": "weather", "areas": [ward], "severity": "severe", "urgency": "immediate",
             "texts": {"vi": "Bão số 3 đổ bộ", "en": "Typhoon Three makes landfall"}}
    async with served(application, emulator, settings, db) as (base, http):
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{base}/api/v1/alerts", json=alert, headers=auth) as response:
            assert response.status == 201, await response.text()
            alert_id = (await response.json())["id"]
        later = {**alert, "texts": {"vi": "Hẹn giờ"}, "send_at": (utcnow() + timedelta(days=2)).isoformat()}
        async with http.post(f"{base}/api/v1/alerts", json=later, headers=auth) as response:
            assert response.status == 201, await response.text()
        for sim in sims:
            message = await sim.next_message()
            assert "Bão số 3 đổ bộ" in message.text
        async with http.get(f"{base}/public/alerts.atom") as response:
            assert response.status == 200
            found = entries(await response.read())
        assert [cap_link(entry) for entry in found] == [f"{base}/public/alerts/{alert_id}.cap"]
        async with http.get(cap_link(found[0])) as response:
            assert response.status == 200
            body = await response.read()
    cap.validate(ET.fromstring(body))
    message = cap.parse(body)
    assert [info.sender_name for info in message.infos] == ["Đài Khí tượng Thủy văn", "Hydro-Meteorological Service"]
    assert [info.areas[0].geocodes for info in message.infos] == [(("loa-area-code", ward),)] * 2


async def test_loa_run_without_the_portal(emulator, settings, areas_loaded):
    closed = settings.model_copy(update={"public_portal": False})
    async with served(build_application(closed, areas_loaded), emulator, closed, areas_loaded) as (base, http):
        async with http.get(f"{base}/public/alerts.atom") as response:
            assert response.status == 404
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200


async def test_a_follower_takes_a_long_feed_oldest_first(portal, follower_db):
    """More new entries than a poll fetches (feeds.MAX_ENTRIES): the oldest come first, so the
    correction, listed first in the newest-first feed, comes after the alert it corrects."""
    db = portal.db
    original = await sent_alert(db, texts={"vi": "Tin gốc"})
    await delivered(db, original)
    for n in range(feeds.MAX_ENTRIES):
        await sent_alert(db, severity="minor", texts={"vi": f"Tin {n}"})
    await corrected(db, original, {"vi": "Tin gốc, đã sửa"})
    poller = feeds.FeedPoller(follower_db, Settings(_env_file=None, DATABASE_URL=follower_db.url))
    url = portal.url("/public/alerts.atom")

    [first] = await poller.poll_all([url])
    assert len(first.taken) == feeds.MAX_ENTRIES and first.summary is None, first
    [second] = await poller.poll_all([url])
    assert len(second.taken) == 2, second
    async with follower_db.read() as session:
        rows = (await session.execute(select(Alert).order_by(Alert.id))).scalars().all()
    assert rows[0].texts == {"vi": "Tin gốc"} and rows[0].kind == "alert"
    last = rows[-1]
    assert (last.kind, last.replaces_id, last.texts) == ("correction", rows[0].id, {"vi": "Tin gốc, đã sửa"})
    assert len(rows) == feeds.MAX_ENTRIES + 2
    assert (await poller.poll_all([url]))[0].status == 304


async def test_the_sandbox_links_to_the_feed_of_its_demo_alert(sandbox, chat_client):
    async with chat_client.http.get(sandbox.url, params={"lang": "en"}) as response:
        page = await response.text()
    assert '<a href="/public/alerts.atom" target="_blank" rel="noopener" type="application/atom+xml">Alert feed</a>' \
        in page
    async with chat_client.http.get(sandbox.url + "public/alerts.atom") as response:
        assert response.status == 200
        found = entries(await response.read())
    [entry] = found  # the severe weather alert sent two days ago
    assert entry.findtext(f"{A}title") == headline_of(WEATHER_VI)
    async with chat_client.http.get(cap_link(entry)) as response:
        assert response.status == 200
        message = cap.parse(await response.read())
    assert [info.language for info in message.infos] == ["vi-VN", "en-US"]
    assert message.infos[1].description == WEATHER_EN.strip()


async def test_the_sandbox_page_opens_the_feed_in_chromium(sandbox, page):
    await page.goto(sandbox.url)
    link = page.get_by_role("link", name="Nguồn tin cảnh báo")
    await expect(link).to_be_visible()
    async with page.context.expect_page() as opened:
        await link.click()
    feed = await opened.value
    await feed.wait_for_load_state()
    assert feed.url == sandbox.url + "public/alerts.atom"
    await expect(feed.locator("body")).to_contain_text(headline_of(WEATHER_VI))
    await screenshot(feed, "public-feed-sandbox")
