"""Abuse controls that /forget does not undo: a ban and the hourly report limit are kept under a
pseudonym of the Telegram id (storage/abuse.py). Bans come from the command line, the moderators'
card (with a confirmation, moderators only) and the dashboard's report page; the resident is told
politely, once."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import build_application
from complaints import bans
from kernel.i18n import translator
from storage import abuse
from storage.models import Ban, Delivery, ReportQuota, Resident
from tests.fixtures.bot import served
from tests.fixtures.city import grant
from tests.fixtures.cli import loa
from tests.fixtures.dashboard import browser_at, web_settings
from tests.fixtures.reports import report_rows, resident_of, start_report
from tests.fixtures.residents import LONG_BIEN, onboarded, tap, until
from tests.fixtures.triage import file_report, settings, staff  # noqa: F401 (fixtures)

REFUSED = "Sorry, you can no longer send reports through Loa."
TOLD = "Loa will no longer accept reports from you"


async def forget_and_start_again(user) -> None:
    """/forget, confirmed, then /start and the whole onboarding again, in English."""
    await user.send("/forget")
    confirm = await user.next_message()
    await tap(user, "Yes, delete my data", message=confirm)
    await until(user, confirm, "Your data has been deleted.")
    await user.send("/start")
    await user.next_message()
    await tap(user, "English ✓")
    await user.next_message()
    await user.share_location(*LONG_BIEN)
    await user.next_message()
    summary = await user.next_message()
    await tap(user, "Done ✓")
    await until(user, summary, "Quiet hours")
    await tap(user, "Keep 22:00–06:00")
    await until(user, summary, "All set!")


def gettext(language: str):
    return translator(language).gettext


async def notices(db, user) -> list[str]:
    async with db.read() as session:
        rows = (await session.execute(select(Delivery.payload).where(Delivery.chat_id == user.id))).scalars()
        return [row["params"]["text"] for row in rows if row and TOLD in row["params"].get("text", "")]


async def test_a_ban_outlives_forget_and_start(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    secret = bot.bot_data["settings"].pseudonym_secret
    async with db.transaction() as session:
        assert await bans.ban(session, secret, lan.id, reason="spam", gettext=gettext)
        assert not await bans.ban(session, secret, lan.id, reason="again", gettext=gettext)
    bot.bot_data["sender"].wake()
    told = await lan.next_message()
    assert told.text.startswith(TOLD) and "Alerts still reach you" in told.text
    assert (await start_report(lan)).text.startswith(REFUSED)

    await forget_and_start_again(lan)
    async with db.read() as session:
        assert await resident_of(db, lan) is not None
        # Nothing in the ban names the resident: only the pseudonym.
        [row] = (await session.execute(select(Ban))).scalars()
        assert str(lan.id) not in row.pseudonym and row.reason == "spam"
    assert (await start_report(lan)).text.startswith(REFUSED)
    assert await report_rows(db) == []


async def test_the_hourly_limit_outlives_forget_and_start(bot, emulator, db):
    bot.bot_data["settings"] = bot.bot_data["settings"].model_copy(update={"reports_per_hour": 1})
    lan = await onboarded(emulator, "en")
    done = await file_report(lan, photos=0)
    assert done.text.startswith("✅ Thank you! Your report has been received.")
    assert (await start_report(lan)).text.startswith("You have sent 1 reports in the last hour")

    await forget_and_start_again(lan)
    assert (await start_report(lan)).text.startswith("You have sent 1 reports in the last hour")
    assert len(await report_rows(db)) == 1
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ReportQuota))).scalar_one() == 1
    # Another resident is not limited.
    hoa = await onboarded(emulator, "en")
    assert (await start_report(hoa)).text.startswith("What is the problem about?")


async def test_moderators_ban_the_reporter_from_the_card_with_a_confirmation(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    [report] = await report_rows(db)
    card = await staff.mods.next_message()
    assert ["🚫 Ban reporter…"] in card.buttons

    # Someone in the group without the role learns nothing and changes nothing, at either step.
    refusal = await (await staff.mods.tap(staff.guest, "🚫 Ban reporter…", message=card)).answer()
    assert refusal.show_alert and refusal.text == "Only moderators can ban a reporter."
    await (await staff.mods.tap(staff.mai, "🚫 Ban reporter…", message=card)).answer()
    await staff.mods.wait_for(lambda: [f"🚫 Yes, ban the reporter of {report.code}"] in card.buttons)
    refusal = await (await staff.mods.tap(staff.guest, f"🚫 Yes, ban the reporter of {report.code}",
                                          message=card)).answer()
    assert refusal.text == "Only moderators can ban a reporter."
    assert report.code not in refusal.text
    async with db.read() as session:
        assert (await session.execute(select(Ban))).all() == []

    # « Back shows the card's buttons again; then a moderator confirms, twice in a row.
    await (await staff.mods.tap(staff.mai, "« Back", message=card)).answer()
    await staff.mods.wait_for(lambda: ["🚫 Ban reporter…"] in card.buttons)
    await (await staff.mods.tap(staff.mai, "🚫 Ban reporter…", message=card)).answer()
    await staff.mods.wait_for(lambda: [f"🚫 Yes, ban the reporter of {report.code}"] in card.buttons)
    # Two presses before the card changes (taken from the same keyboard): one ban, one notice.
    confirm = _data(card.message.reply_markup, "Yes, ban")
    first = staff.mods._callback(staff.mai.user, card.message, confirm)
    second = staff.mods._callback(staff.minh.user, card.message, confirm)
    answers = sorted([(await first.answer()).text, (await second.answer()).text])
    assert answers == [f"The reporter of {report.code} is banned already.",
                       f"The reporter of {report.code} is banned: Loa refuses their reports from now on."]
    told = await lan.next_message()
    assert told.text.startswith(TOLD)
    await staff.mods.wait_for(lambda: "🚫 banned from reporting" in card.text
                              and ["🚫 Ban reporter…"] not in card.buttons)
    assert len(await notices(db, lan)) == 1
    async with db.read() as session:
        [row] = (await session.execute(select(Ban))).scalars()
        assert (row.banned_by, row.report_code) in {(staff.mai.id, report.code), (staff.minh.id, report.code)}
    assert (await start_report(lan)).text.startswith(REFUSED)


def _data(markup, label: str) -> str:
    for row in markup["inline_keyboard"]:
        for button in row:
            if label in button["text"]:
                return button["callback_data"]
    raise AssertionError(f"no button {label!r} in {markup}")


async def test_a_forgotten_reporter_cannot_be_banned_from_the_card(bot, emulator, db, staff):
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    card = await staff.mods.next_message()
    await lan.send("/forget")
    confirm = await lan.next_message()
    await tap(lan, "Yes, delete my data", message=confirm)
    await staff.mods.wait_for(lambda: "👤 anonymous" in card.text and ["🚫 Ban reporter…"] not in card.buttons)


async def test_the_dashboard_bans_and_unbans_the_reporter(emulator, db, tmp_path, city):
    mai = emulator.user(first_name="Mai")
    hung = emulator.user(first_name="Hùng")
    await grant(db, mai, "moderator")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    settings = web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en")
    application = build_application(settings, city)
    async with served(application, emulator, settings, db) as (base, _), \
            browser_at(base) as browser, browser_at(base) as other:
        lan = await onboarded(emulator, "en")
        await file_report(lan, photos=0)
        [report] = await report_rows(db)
        await browser.sign_in(mai)
        status, page = await browser.get(f"/dashboard/reports/{report.code}")
        assert status == 200 and f'action="/dashboard/reports/{report.code}/ban"' in page
        url = f"/dashboard/reports/{report.code}/ban"
        # Without the CSRF token, and without ticking the box: nothing happens.
        status, _page = await browser.post(url, {"confirm": "yes", "csrf": "forged"}, allow_redirects=False)
        assert status == 403
        status, page = await browser.post(url, {"reason": "spam"}, allow_redirects=False)
        assert status == 400 and "Tick the box to confirm the ban." in page and 'value="spam"' in page
        # Agency staff may not, even for a report their agency could see.
        await other.sign_in(hung)
        status, _page = await other.post(url, {"confirm": "yes"}, allow_redirects=False)
        assert status == 403
        async with db.read() as session:
            assert (await session.execute(select(Ban))).all() == []

        status, _page = await browser.post(url, {"confirm": "yes", "reason": "<b>spam</b>"}, allow_redirects=False)
        assert status == 303
        status, page = await browser.get(f"/dashboard/reports/{report.code}?done=ban")
        assert "The reporter is banned: Loa refuses their reports from now on." in page
        assert 'class="badge banned"' in page and "<b>spam</b>" not in page
        assert (await lan.next_message()).text.startswith(TOLD)
        assert (await start_report(lan)).text.startswith(REFUSED)
        # Again (a second tab): no second notice.
        status, _page = await browser.post(url, {"confirm": "yes"}, allow_redirects=False)
        assert status == 303 and len(await notices(db, lan)) == 1

        status, _page = await browser.post(f"/dashboard/reports/{report.code}/unban", {}, allow_redirects=False)
        assert status == 303
        assert (await lan.next_message()).text == "You can send reports through Loa again. Thank you for your patience."
        assert (await start_report(lan)).text.startswith("What is the problem about?")


async def test_loa_residents_ban_and_unban(sqlite_db, tmp_path):
    async with sqlite_db.transaction() as session:
        session.add(Resident(telegram_id=4242, language="vi", onboarded=True))
    env = {"DATABASE_URL": sqlite_db.url}
    code, out, err = await loa("residents", "ban", "4242", "--reason", "spam", cwd=tmp_path, **env)
    assert code == 0, err
    assert out == "4242 banned: Loa refuses their reports from now on, also after /forget\n"
    code, out, _err = await loa("residents", "ban", "4242", cwd=tmp_path, **env)
    assert code == 0 and out == "4242 is banned already: nothing changed\n"
    async with sqlite_db.read() as session:
        assert await abuse.ban_of(session, None, 4242) is not None
        assert await abuse.ban_of(session, None, 4243) is None
        texts = [p["params"]["text"] for p in (await session.execute(select(Delivery.payload))).scalars()]
    # Told once, in their language.
    assert texts == [translator("vi").gettext(bans.BANNED)] and texts[0] != bans.BANNED

    code, out, _err = await loa("residents", "unban", "4242", cwd=tmp_path, **env)
    assert code == 0 and out == "4242 may file reports again\n"
    code, _out, err = await loa("residents", "unban", "4242", cwd=tmp_path, **env)
    assert code == 1 and "4242 is not banned" in err
    # A ban on someone who never used the bot (or was forgotten) holds when they come.
    code, _out, _err = await loa("residents", "ban", "777", cwd=tmp_path, **env)
    assert code == 0
    async with sqlite_db.read() as session:
        assert await abuse.ban_of(session, None, 777) is not None


async def test_a_configured_secret_key_makes_other_pseudonyms(sqlite_db):
    async with sqlite_db.transaction() as session:
        stored = await abuse.pseudonym(session, None, 4242)
        configured = await abuse.pseudonym(session, "a-long-enough-secret-key", 4242)
        assert stored != configured and len(stored) == len(configured) == 64
        assert await abuse.pseudonym(session, None, 4242) == stored, "the stored key is kept"
