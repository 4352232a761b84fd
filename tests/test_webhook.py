"""Webhook mode end to end: the emulator posts updates to Loa's HTTP server, as Telegram does."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket

import pytest
from sqlalchemy import text

from bot.app import build_application
from handlers.awaiting import Awaiting
from storage import residents
from storage.updates import UpdateClaims
from tests.fixtures.bot import served, settings_for
from tests.fixtures.cli import LOA, environment, loa
from tests.fixtures.rating import file_report, resolved_report
from tests.fixtures.reports import DESCRIPTION, review_card, start_report, to_photos
from tests.fixtures.residents import HOAN_KIEM, LONG_BIEN, at_area_step, onboarded, tap
from web import webhook

SECRET = "test-webhook-secret_0123456789"
PATH = "/telegram/" + hashlib.sha256(SECRET.encode()).hexdigest()[:32]
MAX_BODY = 16 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(emulator, db, tmp_path):
    """Webhook mode: WEBHOOK_URL is this test's server (the `application` fixture is built with it)."""
    port = free_port()
    return settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_HOST="127.0.0.1",
                        HTTP_PORT=str(port), WEBHOOK_URL=f"http://127.0.0.1:{port}",
                        WEBHOOK_SECRET=SECRET, WEBHOOK_MAX_CONNECTIONS="60", LOA_MAX_BODY_BYTES=str(MAX_BODY))


def handled(application) -> int:
    """Updates the bot handled so far (the loa_updates_handled_total counter, all kinds)."""
    return int(sum(sample.value for family in application.update_processor.stats.handled.collect()
                   for sample in family.samples if sample.name.endswith("_total")))


async def settled(application) -> None:
    """Wait until every update put on the queue has been handled."""
    await asyncio.wait_for(application.update_queue.join(), 10)


def captured_start(emulator, resident) -> dict:
    """The update a resident's /start makes, taken from the emulator before it is delivered."""
    update = emulator.default_bot.updates.pop()
    assert "/start" in update["message"]["text"] and update["message"]["chat"]["id"] == resident.id
    return update


async def post(session, url, body, secret: str | None = SECRET):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data, headers=headers) as response:
        return response.status


async def test_the_webhook_is_set_on_start_and_stays_set_on_stop(application, emulator, settings, db):
    account = emulator.default_bot
    async with served(application, emulator, settings, db) as (base, _session):
        hook = account.webhook
        assert hook is not None
        assert hook.url == f"{settings.webhook_url}{PATH}" and base == settings.webhook_url
        assert hook.secret_token == SECRET
        assert hook.max_connections == 60
        assert "chat_member" in account.allowed_updates and "message_reaction" in account.allowed_updates
        assert not application.updater.running  # nobody polls getUpdates
    # Another instance behind the same address may still be serving: the webhook stays.
    assert account.webhook is not None
    assert [name for name, _ in emulator.calls if "Webhook" in name] == ["setWebhook"]


async def test_long_polling_after_webhook_mode_removes_the_webhook_and_answers(application, emulator, settings, db,
                                                                                tmp_path):
    async with served(application, emulator, settings, db):
        pass
    polling = settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_PORT=str(free_port()))
    async with served(build_application(polling, db), emulator, polling, db):
        assert emulator.default_bot.webhook is None
        lan = emulator.user(first_name="Lan", language_code="vi")
        await lan.send("/start")
        assert (await lan.next_message(timeout=10)).text.startswith("Xin chào")


async def test_a_residents_start_posted_to_the_webhook_is_answered(application, emulator, settings, db):
    async with served(application, emulator, settings, db):
        lan = emulator.user(first_name="Lan", language_code="vi")
        await lan.send("/start")
        reply = await lan.next_message()
        assert reply.text.startswith("Xin chào! Đây là Loa")
        await (await lan.tap("Tiếng Việt ✓")).answer()  # a callback query, through the webhook too
        assert (await lan.next_message()).text.startswith("Bạn sống ở phường, xã nào?")
    async with db.read() as session:
        resident = await residents.by_telegram_id(session, lan.id)
    assert resident is not None and resident.first_name == "Lan"
    assert emulator.webhooks.deliveries >= 2 and not any(name == "getUpdates" for name, _ in emulator.calls)


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_handled(application, emulator, settings, db):
    minh = emulator.user(first_name="Minh", language_code="vi")
    await minh.send("/start")
    update = captured_start(emulator, minh)
    async with served(application, emulator, settings, db) as (base, session):
        assert await post(session, base + PATH, update, secret=None) == 403
        assert await post(session, base + PATH, update, secret="not-the-secret-0123456789") == 403
        assert await post(session, base + PATH, update, secret=SECRET + "x") == 403
        assert await post(session, base + PATH, update, secret="") == 403
        await settled(application)
        assert handled(application) == 0 and minh.messages == []
        async with db.read() as session_:
            assert await residents.by_telegram_id(session_, minh.id) is None
        # Another path is not a webhook at all.
        assert await post(session, base + "/telegram/" + "0" * 32, update) == 404
        # The very same body with the secret is taken.
        assert await post(session, base + PATH, update) == 200
        assert (await minh.next_message()).text.startswith("Xin chào! Đây là Loa")
    assert handled(application) == 1


async def test_an_update_delivered_twice_is_handled_once(application, emulator, settings, db):
    hoa = emulator.user(first_name="Hoa", language_code="vi")
    await hoa.send("/start")
    update = captured_start(emulator, hoa)
    async with served(application, emulator, settings, db) as (base, session):
        assert await post(session, base + PATH, update) == 200
        await hoa.next_message()
        assert await post(session, base + PATH, update) == 200
        assert await post(session, base + PATH, update) == 200
        await settled(application)
        assert handled(application) == 1
        assert len(hoa.messages) == 1
        # The next update of the same chat goes through.
        await hoa.send("/help")
        await hoa.next_message()
        await settled(application)
        assert handled(application) == 2


async def test_malformed_json_and_non_updates_get_400(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, session):
        for body in (b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"{}", b'{"update_id": "7"}',
                     b'{"update_id": true}', b'{"update_id": 5, "message": {"text": "no chat"}}'):
            assert await post(session, base + PATH, body) == 400, body
        await settled(application)
        assert handled(application) == 0


async def test_a_deeply_nested_body_gets_400_and_the_server_keeps_answering(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, session):
        for body in (b"[" * 8000 + b"]" * 8000, b'{"a":' * 2500 + b"1" + b"}" * 2500, b"9" * 5000):
            assert await post(session, base + PATH, body) == 400, body[:10]
        async with session.get(base + "/healthz") as response:
            assert response.status == 200
        await settled(application)
        assert handled(application) == 0


async def test_a_body_over_the_cap_gets_413(application, emulator, settings, db):
    async with served(application, emulator, settings, db) as (base, session):
        body = json.dumps({"update_id": 1, "padding": "x" * MAX_BODY}).encode()
        assert await post(session, base + PATH, body) == 413
        await settled(application)
        assert handled(application) == 0


async def test_run_webhook_needs_a_url_and_a_secret(tmp_path):
    code, _out, err = await loa("run", "--webhook", cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x")
    assert code == 1 and "WEBHOOK_URL" in err and "Traceback" not in err
    code, _out, err = await loa("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x", WEBHOOK_URL="https://loa.example")
    assert code == 1 and "WEBHOOK_SECRET" in err and "Traceback" not in err
    code, _out, err = await loa("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="1:x", WEBHOOK_URL="https://loa.example",
                                WEBHOOK_SECRET="short")
    assert code == 1 and "WEBHOOK_SECRET must be" in err and "Traceback" not in err


async def test_loa_run_in_webhook_mode_answers_and_stops_cleanly(tmp_path, emulator):
    await loa("db", "upgrade", cwd=tmp_path)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *LOA, "run", "--webhook", cwd=tmp_path,
        env=environment(TELEGRAM_BOT_TOKEN=emulator.token, TELEGRAM_API_URL=emulator.url,
                        HTTP_PORT=str(port), WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_SECRET=SECRET),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        resident = emulator.user(first_name="Minh", language_code="vi")
        await resident.send("/start")
        reply = await resident.next_message(timeout=30)
        assert reply.text.startswith("Xin chào! Đây là Loa")
        assert emulator.default_bot.webhook.url == f"http://127.0.0.1:{port}{PATH}"
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    log = err.decode()
    assert process.returncode == 0, log
    assert "mode=webhook" in log and "stopping" in log
    assert SECRET not in log and emulator.token not in log
    assert emulator.default_bot.webhook is not None, "left for the other instances"
    assert not any(name == "getUpdates" for name, _ in emulator.calls)


# Several instances on PostgreSQL: the updates are claimed in the database (storage/updates.py).
# `UpdateClaims(db, me=...)` plays another instance.

def postgresql_only(db) -> None:
    if db.is_sqlite:
        pytest.skip("one process serves a SQLite file: updates are not claimed in the database")


async def claim_row(db, update_id: int):
    async with db.read() as session:
        return (await session.execute(text("SELECT taken_by, done_at FROM update_claims WHERE update_id = :id"),
                                      {"id": update_id})).one_or_none()


async def until_claimed(db, update_id: int) -> None:
    async def claimed():
        while await claim_row(db, update_id) is None:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(claimed(), 30)


def earlier_of(update: dict, text: str = "/help") -> dict:
    """An update of the same chat just before `update`."""
    earlier = json.loads(json.dumps(update))
    earlier["update_id"] = update["update_id"] - 1
    earlier["message"]["text"] = text
    return earlier


async def test_a_later_update_waits_for_an_earlier_one_of_its_chat_at_another_instance(application, emulator,
                                                                                      settings, db):
    postgresql_only(db)
    hoa = emulator.user(first_name="Hoa", language_code="vi")
    await hoa.send("/start")
    update = captured_start(emulator, hoa)
    earlier = earlier_of(update)
    async with (UpdateClaims(db, me="other-instance") as other,
                served(application, emulator, settings, db) as (base, session)):
        assert (await other.claim(earlier["update_id"], hoa.id, json.dumps(earlier))).taken
        posting = asyncio.ensure_future(post(session, base + PATH, update))
        await until_claimed(db, update["update_id"])
        assert not posting.done() and handled(application) == 0  # waiting for the other instance
        other.done(earlier["update_id"])
        await other.flush()
        assert await posting == 200
        assert (await hoa.next_message()).text.startswith("Xin chào! Đây là Loa")
        await settled(application)
        assert handled(application) == 1
    assert (await claim_row(db, update["update_id"])).done_at is not None


async def test_at_the_wait_bound_the_claim_is_given_back_and_the_answer_asks_for_a_resend(
        application, emulator, settings, db, monkeypatch):
    postgresql_only(db)
    monkeypatch.setattr(webhook, "CHAT_WAIT_S", 0.2)
    hoa = emulator.user(first_name="Hoa", language_code="vi")
    await hoa.send("/start")
    update = captured_start(emulator, hoa)
    earlier = earlier_of(update)
    async with (UpdateClaims(db, me="other-instance") as other,
                served(application, emulator, settings, db) as (base, session)):
        await other.claim(earlier["update_id"], hoa.id, json.dumps(earlier))
        async with session.post(base + PATH, data=json.dumps(update).encode(),
                                headers={"Content-Type": "application/json",
                                         "X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 503 and response.headers["Retry-After"] == "1"
        assert (await claim_row(db, update["update_id"])).taken_by == ""  # given back
        assert handled(application) == 0
        other.done(earlier["update_id"])
        await other.flush()
        # Telegram's resend is taken and handled, once.
        assert await post(session, base + PATH, update) == 200
        assert (await hoa.next_message()).text.startswith("Xin chào! Đây là Loa")
        assert await post(session, base + PATH, update) == 200
        await settled(application)
        assert handled(application) == 1 and len(hoa.messages) == 1


async def test_an_update_whose_instance_died_is_handled_after_its_lease(application, emulator, settings, db):
    postgresql_only(db)
    hoa = emulator.user(first_name="Hoa", language_code="vi")
    await hoa.send("/start")
    update = captured_start(emulator, hoa)
    # Another instance took it, answered 200, and died: Telegram will not send it again.
    async with UpdateClaims(db, me="dead-instance") as dead:
        assert (await dead.claim(update["update_id"], hoa.id, json.dumps(update))).taken
    async with db.transaction() as session:
        await session.execute(text("UPDATE update_claims SET taken_at = now() - interval '1 hour'"))
    async with served(application, emulator, settings, db) as (base, session):
        assert (await hoa.next_message(timeout=30)).text.startswith("Xin chào! Đây là Loa")
        await settled(application)
        assert handled(application) == 1
        await application.update_processor.claims.flush()
        row = await claim_row(db, update["update_id"])
        assert row.taken_by == application.update_processor.claims.me and row.done_at is not None
        # A late resend is a duplicate.
        assert await post(session, base + PATH, update) == 200
        await settled(application)
        assert handled(application) == 1 and len(hoa.messages) == 1


async def test_a_tap_whose_instance_died_after_its_commit_still_gets_the_next_question(
        application, emulator, settings, db):
    postgresql_only(db)
    hoa = emulator.user(first_name="Hoa", language_code="vi")
    async with served(application, emulator, settings, db):
        await hoa.send("/start")
        welcome = await hoa.next_message()
    # No instance serves now: the tap waits at Telegram (the emulator retries its delivery).
    pressed = await hoa.tap("Tiếng Việt ✓")
    tap = next(u for u in emulator.default_bot.updates if "callback_query" in u)
    # Another instance took the tap, answered it, committed the language step, and died before
    # asking the next question; its lease ran out.
    async with UpdateClaims(db, me="dead-instance") as dead:
        assert (await dead.claim(tap["update_id"], hoa.id, json.dumps(tap))).taken
    await emulator.api.call(emulator.default_bot, "answerCallbackQuery",
                            {"callback_query_id": pressed.query.id, "text": "Ngôn ngữ: Tiếng Việt"})
    async with db.transaction() as session:
        resident = await residents.by_telegram_id(session, hoa.id, for_update=True)
        resident.awaiting = Awaiting.AREA
        await session.execute(text("UPDATE update_claims SET taken_at = now() - interval '1 hour'"))
    # Answering the tap again is refused (it was answered): that must not stop the rest.
    emulator.expect_error("query is too old")
    survivor = build_application(settings, db)
    async with served(survivor, emulator, settings, db):
        await hoa.wait_for(lambda: (welcome.text or "").startswith("Ngôn ngữ: Tiếng Việt"), timeout=30)
        assert (await hoa.next_message(timeout=30)).text.startswith("Bạn sống ở phường, xã nào?")
        await settled(survivor)
        assert handled(survivor) == 1



# ---------------------------------------------------------------- a step committed by an instance that died


async def committed_and_died(application, emulator, settings, db, walk, act):
    """A resident walked to a step by `walk(emulator, application, db)`; then their `act(user)` handled as by an
    instance that dies after its commit and before its reply: the handler's work is committed
    while every message and edit it sends fails (500); the claim is then left as a SIGKILL leaves
    it: not done, its lease run out. Returns the resident and how many messages they had."""
    async with served(application, emulator, settings, db):
        user = await walk(emulator, application, db)
        seen, before = len(user.all_messages), handled(application)
        emulator.faults.rate_500 = 1.0
        emulator.expect_error(500)
        await act(user)

        async def handled_it():
            while handled(application) == before:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(handled_it(), 30)
        emulator.faults.rate_500 = 0.0
    assert len(user.all_messages) == seen  # nothing reached the resident
    async with db.transaction() as session:
        update_id = (await session.execute(text("SELECT max(update_id) FROM update_claims WHERE chat_id = :chat"),
                                           {"chat": user.id})).scalar_one()
        await session.execute(text("UPDATE update_claims SET done_at = NULL, taken_by = 'dead-instance', "
                                   "taken_at = now() - interval '1 hour' WHERE update_id = :id"), {"id": update_id})
    return user, seen


async def _onboarded(emulator, *_):
    return await onboarded(emulator, "en", first_name="Hoa", username="hoa")


async def _at_area(emulator, *_):
    return await at_area_step(emulator, "en", first_name="Hoa", username="hoa")


async def _at_category(emulator, *_):
    user = await _onboarded(emulator)
    await start_report(user)
    return user


async def _at_description(emulator, *_):
    user = await _at_category(emulator)
    await tap(user, "Traffic and roads")
    await user.next_message()
    return user


async def _at_photos(emulator, *_):
    user = await _onboarded(emulator)
    await to_photos(user)
    return user


async def _at_location(emulator, *_):
    user = await _at_photos(emulator)
    await tap(user, "No photo")
    await user.next_message()
    return user


async def _at_review(emulator, *_):
    user = await _at_photos(emulator)
    await review_card(user)
    return user


async def _rating(emulator, application, db):
    user, _report, _message = await resolved_report(application, emulator, db, await _onboarded(emulator))
    return user


async def _at_comment(emulator, application, db):
    user = await _rating(emulator, application, db)
    await tap(user, "😊 Satisfied")
    await user.next_message()
    return user


async def _adding(emulator, application, db):
    user = await _onboarded(emulator)
    report = await file_report(user, db)
    await user.send(f"/status {report.code}")
    status = await user.next_message()
    await tap(user, "➕ Add to my report", message=status)
    await user.next_message()
    return user


# Per kind of step (a text, a location, a photo, a button): where the resident is, what they do,
# and the question the survivor must then ask.
STEPS_DONE = {
    "area by location": (_at_area, lambda u: u.share_location(*LONG_BIEN), "Which alerts do you want to receive?"),
    "category button": (_at_category, lambda u: u.tap("Traffic and roads"), "Describe the problem"),
    "description text": (_at_description, lambda u: u.send(DESCRIPTION), "Add photos of the problem"),
    "photo": (_at_photos, lambda u: u.send_photo(), "📷 Photo saved (1 of 5)."),
    "no photo button": (_at_photos, lambda u: u.tap("No photo"), "Where is the problem?"),
    "shared location": (_at_location, lambda u: u.share_location(*HOAN_KIEM), "Your report: please check it"),
    "submit button": (_at_review, lambda u: u.tap("✅ Submit"), "✅ Thank you! Your report has been received."),
    "rating button": (_rating, lambda u: u.tap("😊 Satisfied"), "Add a comment? Type it now, or tap Skip."),
    # An addition to a report is not added twice (complaints/thread.py `add`, again=).
    "addition text": (_adding, lambda u: u.send("The hole got bigger today."), "Added to report"),
    # Nothing is awaited once the comment is saved: a neutral pointer, not "I didn't understand".
    "comment text": (_at_comment, lambda u: u.send("Quick work, thank you."), "Send /help to see what I can do."),
}


@pytest.mark.parametrize("step", list(STEPS_DONE))
async def test_a_step_whose_instance_died_after_its_commit_gets_the_next_question_once(
        application, emulator, settings, db, step):
    postgresql_only(db)
    walk, act, asked = STEPS_DONE[step]
    hoa, seen = await committed_and_died(application, emulator, settings, db, walk, act)
    emulator.expect_error("query is too old")  # a tap: answered already by the dead instance
    survivor = build_application(settings, db)
    async with served(survivor, emulator, settings, db):
        await hoa.wait_for(lambda: len(hoa.all_messages) > seen, timeout=30)
        await settled(survivor)
        await survivor.update_processor.claims.flush()
        assert handled(survivor) == 1
    new = [m.text or m.caption or "" for m in hoa.all_messages[seen:]]
    assert len(new) == 1 and new[0].startswith(asked), new
    if step == "addition text":
        async with db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM report_message"))).scalar_one() == 1
    if step == "submit button":
        async with db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM reports"))).scalar_one() == 1
