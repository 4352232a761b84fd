"""Signing in to the dashboard with the link the bot sends, the session cookie, CSRF, signing out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage import logins, roles
from storage.models import DashboardLogin, DashboardSession
from storage.types import utcnow
from tests.fixtures.bot import served
from tests.fixtures.city import grant
from tests.fixtures.dashboard import browser_at, sign_in_link, web_settings


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en")


async def test_staff_sign_in_once_with_the_link_and_land_on_their_page(application, emulator, settings, db):
    mai = emulator.user(first_name="Mai", language_code="vi")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        link = await sign_in_link(mai)
        assert link.startswith(f"http://127.0.0.1:{settings.http_port}/dashboard/login?t=")
        # Opening the link (as a link preview would) spends nothing; the button does.
        for _ in range(2):
            status, page = await browser.get(link)
            assert status == 200 and 'action="/dashboard/login"' in page
        token = link.split("t=", 1)[1]
        status, _page = await browser.post("/dashboard/login", {"t": token}, csrf=False, allow_redirects=False)
        assert status == 303
        async with browser.http.get(base + "/dashboard", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/dashboard/queue"
        # The cookie: HttpOnly, SameSite=Lax, only for /dashboard.
        cookie = next(c for c in browser.http.cookie_jar if c.key == "loa_session")
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/dashboard"
        # The used link opened again in the signed-in browser (from the chat, say) leads to the dashboard.
        status, page = await browser.get(link)
        assert status == 200 and browser.url == base + "/dashboard/queue" and "already used" not in page
        status, page = await browser.post("/dashboard/login", {"t": token}, csrf=False)
        assert status == 200 and browser.url == base + "/dashboard/queue" and "already used" not in page
        # A second use of the same link fails in another browser.
        async with browser_at(base) as other:
            status, page = await other.post("/dashboard/login", {"t": token}, csrf=False)
            assert status == 400 and "already used" in page
            assert other.cookie() is None
    async with db.read() as session:
        stored = (await session.execute(select(DashboardLogin))).scalars().all()
        sessions = (await session.execute(select(DashboardSession))).scalars().all()
    assert len(stored) == 1 and stored[0].used_at is not None and token.split(".")[0] not in stored[0].token_hash
    assert len(sessions) == 1
    assert (sessions[0].telegram_id, sessions[0].name, sessions[0].language) == (mai.id, "Mai", "vi")


async def test_residents_get_no_link(application, emulator, settings, db):
    lan = emulator.user(first_name="Lan", language_code="en")
    async with served(application, emulator, settings, db):
        await lan.send("/dashboard")
        reply = await lan.next_message()
    assert "for moderators, agency staff and broadcasters" in reply.text and "/dashboard/login" not in reply.text
    async with db.read() as session:
        assert (await session.execute(select(DashboardLogin))).first() is None


async def test_forged_expired_and_garbled_links_are_refused(application, emulator, settings, db):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    key = logins.signing_key(settings.telegram_bot_token.get_secret_value())
    async with db.transaction() as session:
        old = await logins.create_link(session, key, mai.id, now=utcnow() - timedelta(minutes=11))
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        link = await sign_in_link(mai)
        token = link.split("t=", 1)[1]
        forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        for bad in (forged, token.split(".")[0], "", "x" * 300, old):
            status, page = await browser.get(f"/dashboard/login?t={bad}")
            if bad == old:  # genuine signature: the page shows; the sign-in itself is refused
                assert status == 200
            else:
                assert status == 400 and "not valid" in page
            status, page = await browser.post("/dashboard/login", {"t": bad}, csrf=False)
            assert status == 400 and browser.cookie() is None
        # The genuine link still works after all that.
        status, _ = await browser.post("/dashboard/login", {"t": token}, csrf=False, allow_redirects=False)
        assert status == 303 and browser.cookie()


async def test_signing_out_needs_the_csrf_token_and_ends_the_session(application, emulator, settings, db):
    mai = emulator.user(first_name="Mai", language_code="en")
    await grant(db, mai, "broadcaster")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        cookie = browser.cookie()
        status, page = await browser.post("/dashboard/logout", {"csrf": "forged"}, csrf=False)
        assert status == 403 and "Reload the page" in page
        async with db.read() as session:
            assert await logins.current(session, cookie) is not None
        async with browser.http.get(base + "/dashboard", allow_redirects=False) as response:
            assert response.headers["Location"] == "/dashboard/broadcasts"
        async with db.read() as session:
            live = await logins.current(session, cookie)
        status, _page = await browser.post("/dashboard/logout", {"csrf": live.csrf_token}, csrf=False)
        assert status == 200 and browser.url.endswith("/dashboard/signed-out")
        async with db.read() as session:
            assert await logins.current(session, cookie) is None
        # The old cookie, replayed, no longer signs anyone in.
        async with browser_at(base) as replay:
            replay.http.cookie_jar.update_cookies({"loa_session": cookie})
            async with replay.http.get(base + "/dashboard", allow_redirects=False) as response:
                assert response.headers["Location"] == "/dashboard/signed-out"


async def test_a_role_taken_away_takes_the_dashboard_with_it(application, emulator, settings, db):
    mai = emulator.user(first_name="Mai", language_code="en")
    await grant(db, mai, "agency_staff", "ubnd-hoan-kiem")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        async with browser.http.get(base + "/dashboard", allow_redirects=False) as response:
            assert response.headers["Location"] == "/dashboard/agency"
        async with db.transaction() as session:
            await roles.revoke(session, mai.id, "agency_staff")
        status, page = await browser.get("/dashboard")
        assert status == 403 and "Your role does not allow this" in page


async def test_pages_carry_security_headers_and_the_language_can_change(application, emulator, settings, db):
    mai = emulator.user(first_name="Mai", language_code="en")
    await grant(db, mai, "moderator")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        async with browser.http.get(base + "/dashboard/signed-out") as response:
            headers = response.headers
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
        await browser.sign_in(mai)
        cookie = browser.cookie()
        async with db.read() as session:
            live = await logins.current(session, cookie)
        status, _ = await browser.post("/dashboard/language", {"csrf": live.csrf_token, "language": "en",
                                                               "back": "https://evil.example/"}, csrf=False,
                                       allow_redirects=False)
        assert status == 303
        async with db.read() as session:
            assert (await logins.current(session, cookie)).language == "en"
        status, _ = await browser.post("/dashboard/language", {"csrf": live.csrf_token, "language": "xx"},
                                       csrf=False, allow_redirects=False)
        async with db.read() as session:
            assert (await logins.current(session, cookie)).language == "en"


async def test_the_real_bots_signed_out_page_gives_no_sandbox_hint_and_the_server_has_an_icon(
        application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        status, page = await browser.get("/dashboard/signed-out")
        assert status == 200 and "send /dashboard" in page and "sign-in-hint" not in page and "Hùng" not in page
        async with browser.http.get(base + "/favicon.ico") as response:
            assert response.status == 200 and response.content_type == "image/svg+xml"
            assert (await response.read()).startswith(b"<svg")
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
