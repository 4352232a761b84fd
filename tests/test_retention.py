"""Retention: each kind is deleted after its period and kept before it, in batches; an alert's
figures survive the deletion of its outbox rows; the thread's photos keep their cleaned copy and
lose Telegram's ids as the reports' do; a claim of an update not yet done is never deleted; the
dry run deletes nothing; the job runs in one instance at a time; `loa retention run` over a real
database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from telegram.ext import CallbackContext

from broadcasts import alerts, outbox
from complaints import media, reports, retention
from emulator.images import sample_jpeg
from handlers import retention_job
from storage import jobs, logins
from storage.db import Database
from storage.models import (
    DashboardLogin,
    DashboardSession,
    Delivery,
    ReportDraft,
    ReportMessage,
    ReportPhoto,
    Resident,
    RetentionRun,
    UpdateClaim,
)
from storage.types import utcnow
from tests.fixtures.city import HOAN_KIEM_WARD
from tests.fixtures.cli import loa
from tests.fixtures.database import PG_URL

DAY = timedelta(days=1)
PERIODS = retention.Periods(sign_in=30 * DAY, outbox=30 * DAY, drafts=7 * DAY, file_ids=1 * DAY,
                            update_claims=1 * DAY)
KEY = logins.signing_key("a token")


def epoch(moment) -> int:
    return int(moment.timestamp())


async def count(db, model, *where) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def world(db, tmp_path):
    """A little of each kind, on either side of its period, as of `now`. Returns (now, alert id,
    the media store, the SHA-256 of the old and the new draft's photos)."""
    now = utcnow()
    store = media.MediaStore(tmp_path / "media")
    old_photo = store.put(sample_jpeg(seed=1), 10_000_000).sha256
    new_photo = store.put(sample_jpeg(seed=2), 10_000_000).sha256
    async with db.transaction() as session:
        # Sign-in links: spent 31 days ago, expired 31 days ago, spent yesterday, still valid.
        for made, spend in ((now - 32 * DAY, True), (now - 32 * DAY, False), (now - DAY, True), (now, False)):
            signed = await logins.create_link(session, KEY, 1, now=made)
            if spend:
                assert await logins.spend_link(session, KEY, signed, now=made + timedelta(minutes=1))
        # Sessions: ended 40 days ago, expired 31 days ago, ended yesterday, live.
        for started, end in ((now - 40 * DAY, True), (now - 32 * DAY, False), (now - DAY, True), (now, False)):
            opened = await logins.open_session(session, 1, name=None, language="vi", now=started)
            if end:
                await logins.end(session, opened.cookie, now=started)
        alert = await alerts.create(session, topic_code="weather", severity="severe", area_codes=[HOAN_KIEM_WARD],
                                    texts={"vi": "Mưa lớn"}, status="done")
        old, recent = epoch(now - 31 * DAY), epoch(now - 29 * DAY)
        rows = ([("sent", old)] * 3 + [("failed", old), ("blocked", old), ("expired", old), ("sent", recent),
                                        ("pending", None)])
        for n, (state, done_at) in enumerate(rows):
            session.add(Delivery(alert_id=alert.id, resident_id=1000 + n, chat_id=1000 + n, state=state,
                                 due_at=old, done_at=done_at))
        # A one-to-one message sent long ago: deleted, no tally.
        session.add(Delivery(chat_id=7, payload={"method": "sendMessage", "params": {"text": "x"}}, state="sent",
                             due_at=old, done_at=old))
        # Reports: filed two days ago with a stored photo and one whose copy could not be fetched;
        # filed now with a stored photo.
        photo = {"file_id": "AgAD-old", "file_unique_id": "u-old", "sha256": "a" * 64}
        unfetched = {"file_id": "AgAD-unfetched", "file_unique_id": "u-unf", "sha256": None}
        filed = await reports.file(session, category_code="roads", description="Ổ gà", area_code=HOAN_KIEM_WARD,
                                   photos=[photo, unfetched], now=now - 2 * DAY)
        await reports.file(session, category_code="roads", description="Ổ gà mới", area_code=HOAN_KIEM_WARD,
                           photos=[{**photo, "file_id": "AgAD-new", "file_unique_id": "u-new"}], now=now)
        # Drafts: untouched for 8 days and for 6 days, each with a stored photo.
        for n, (age, sha) in enumerate(((8 * DAY, old_photo), (6 * DAY, new_photo))):
            resident = Resident(telegram_id=5000 + n, onboarded=True)
            session.add(resident)
            await session.flush()
            session.add(ReportDraft(resident_id=resident.id, step="photos", updated_at=now - age, created_at=now - age,
                                    photos=[{"file_id": "f", "file_unique_id": f"d{n}", "sha256": sha}]))
        # The report's thread: an addition two days ago with a stored photo and one whose copy
        # could not be fetched; an addition now with a stored photo; an old message without photos.
        for at, photos in ((now - 2 * DAY, [{**photo, "file_id": "T-old", "file_unique_id": "t-old"},
                                            {**unfetched, "file_id": "T-unf", "file_unique_id": "t-unf"}]),
                           (now, [{**photo, "file_id": "T-new", "file_unique_id": "t-new"}]),
                           (now - 3 * DAY, [])):
            session.add(ReportMessage(report_id=filed.id, at=at, author="resident", kind="addition", text="x",
                                      photos=photos))
        # Claims of updates: done two days ago, done an hour ago, taken three days ago and never done.
        for update_id, taken, done in ((1, now - 2 * DAY, now - 2 * DAY), (2, now, now - timedelta(hours=1)),
                                       (3, now - 3 * DAY, None)):
            session.add(UpdateClaim(update_id=update_id, chat_id=42, payload="{}", taken_by="i", taken_at=taken,
                                    done_at=done))
    return now, alert.id, store, old_photo, new_photo


async def thread_photos(db) -> list[tuple[str, str, str | None]]:
    """The thread's photos: (Telegram file id, unique id, stored copy), sorted."""
    async with db.read() as session:
        rows = (await session.execute(select(ReportMessage.photos))).scalars()
        return sorted((p["file_id"], p["file_unique_id"], p["sha256"]) for photos in rows for p in photos)


EXPECTED = {"sign_in_links": 2, "dashboard_sessions": 2, "outbox": 7, "photo_file_ids": 1, "thread_file_ids": 1,
            "update_claims": 1, "drafts": 1}


async def test_each_kind_goes_after_its_period_and_stays_before(city, tmp_path):
    db = city
    now, alert_id, store, old_photo, new_photo = await world(db, tmp_path)
    async with db.read() as session:
        before = await alerts.progress(session, alert_id, now=now)
        sent_before = await alerts.sent_count(session, alert_id)
    assert (before.total, before.sent, before.failed, before.blocked, before.expired, before.remaining) == (
        8, 4, 1, 1, 1, 1)
    assert await retention.due(db, PERIODS, now=now) == EXPECTED

    # Batches of 2: every kind takes several transactions.
    deleted = await retention.run(db, PERIODS, store, now=now, batch=2)
    assert deleted == {**EXPECTED, "drafts_files": 1}

    assert await count(db, DashboardLogin) == 2 and await count(db, DashboardSession) == 2
    async with db.read() as session:
        assert await logins.current(session, "no such cookie") is None
    left = await count(db, Delivery)
    assert left == 2  # the recent sent one and the pending one
    assert await count(db, Delivery, Delivery.state == "pending") == 1
    async with db.read() as session:
        photos = {p.file_unique_id or p.telegram_file_id or "cleared": p.telegram_file_id for p in
                  (await session.execute(select(ReportPhoto))).scalars()}
    assert photos == {"cleared": "", "u-unf": "AgAD-unfetched", "u-new": "AgAD-new"}
    # The thread's photos as the report's: the old stored one's ids cleared, its copy kept.
    assert await thread_photos(db) == [("", "", "a" * 64), ("T-new", "t-new", "a" * 64), ("T-unf", "t-unf", None)]
    # Update claims: the one done two days ago went; the recent one and the one never done stay.
    async with db.read() as session:
        assert sorted((await session.execute(select(UpdateClaim.update_id))).scalars()) == [2, 3]
    assert await count(db, ReportDraft) == 1
    assert not store.path_of(old_photo).exists() and store.path_of(new_photo).exists()

    # The alert's figures are whole: its deleted rows count through its tally.
    async with db.read() as session:
        after = await alerts.progress(session, alert_id, now=now)
        assert await alerts.sent_count(session, alert_id) == sent_before == 4
    assert after == before

    # Nothing is left to delete; a second run changes nothing, the figures included.
    assert await retention.due(db, PERIODS, now=now) == dict.fromkeys(EXPECTED, 0)
    assert await retention.run(db, PERIODS, store, now=now) == dict.fromkeys([*EXPECTED, "drafts_files"], 0)
    async with db.read() as session:
        assert await alerts.progress(session, alert_id, now=now) == before

    # Later, the recent row's turn comes: its count joins the tally.
    later = now + 2 * DAY
    assert (await retention.run(db, PERIODS, store, now=later))["outbox"] == 1
    async with db.read() as session:
        assert await alerts.progress(session, alert_id, now=later) == before


async def test_the_dry_run_deletes_nothing(city, tmp_path):
    db = city
    now, alert_id, store, old_photo, _ = await world(db, tmp_path)
    rows = {model: await count(db, model) for model in (DashboardLogin, DashboardSession, Delivery, ReportDraft)}
    assert await retention.due(db, PERIODS, now=now) == EXPECTED
    assert {model: await count(db, model) for model in rows} == rows
    assert await count(db, ReportPhoto, ReportPhoto.telegram_file_id == "") == 0
    assert [file_id for file_id, _, _ in await thread_photos(db)] == ["T-new", "T-old", "T-unf"]
    assert await count(db, UpdateClaim) == 3
    assert store.path_of(old_photo).exists()


async def test_outbox_purges_racing_count_each_row_once(db):
    """Two purges at once (the job and `loa retention run`): each row's outcome lands in the
    tally once."""
    old = epoch(utcnow() - 40 * DAY)
    async with db.transaction() as session:
        alert = await alerts.create(session, topic_code="weather", severity="minor", area_codes=["01"],
                                    texts={"vi": "x"}, status="done")
        for n in range(50):
            session.add(Delivery(alert_id=alert.id, resident_id=n, chat_id=n, state="sent", due_at=old, done_at=old))

    async def purge():
        total = 0
        while True:
            async with db.transaction() as session:
                done = await outbox.purge_done(session, old + 1, 7)
            total += done
            if not done:
                return total

    assert sum(await asyncio.gather(purge(), purge())) == 50
    async with db.read() as session:
        assert (await alerts.progress(session, alert.id)).sent == 50
    assert await count(db, Delivery) == 0


async def test_a_thread_photo_keeps_its_cleaned_copy_while_the_report_is_kept(city, tmp_path):
    """An abandoned draft's photo that a thread also holds: the draft goes, the file stays with
    the thread; the message loses Telegram's id of it."""
    db = city
    now = utcnow()
    store = media.MediaStore(tmp_path / "media")
    sha = store.put(sample_jpeg(seed=3), 10_000_000).sha256
    async with db.transaction() as session:
        filed = await reports.file(session, category_code="roads", description="Ổ gà", area_code=HOAN_KIEM_WARD,
                                   now=now - 9 * DAY)
        session.add(ReportMessage(report_id=filed.id, at=now - 9 * DAY, author="resident", kind="addition",
                                  photos=[{"file_id": "T", "file_unique_id": "t", "sha256": sha}]))
        resident = Resident(telegram_id=6000, onboarded=True)
        session.add(resident)
        await session.flush()
        session.add(ReportDraft(resident_id=resident.id, step="photos", updated_at=now - 8 * DAY,
                                created_at=now - 8 * DAY,
                                photos=[{"file_id": "f", "file_unique_id": "d", "sha256": sha}]))
    deleted = await retention.run(db, PERIODS, store, now=now)
    assert (deleted["drafts"], deleted["drafts_files"], deleted["thread_file_ids"]) == (1, 0, 1)
    assert store.path_of(sha).exists()
    assert await thread_photos(db) == [("", "", sha)]


async def test_a_claim_not_yet_done_is_never_deleted(db, tmp_path):
    """However old, an update's claim that is not done may still be handled: it stays."""
    now = utcnow()
    async with db.transaction() as session:
        session.add(UpdateClaim(update_id=10, chat_id=1, payload="{}", taken_by="gone", taken_at=now - 90 * DAY))
        session.add(UpdateClaim(update_id=11, chat_id=1, payload="{}", taken_by="i", taken_at=now - 90 * DAY,
                                done_at=now - 90 * DAY))
    store = media.MediaStore(tmp_path / "media")
    assert (await retention.due(db, PERIODS, now=now))["update_claims"] == 1
    assert (await retention.run(db, PERIODS, store, now=now))["update_claims"] == 1
    async with db.read() as session:
        assert list((await session.execute(select(UpdateClaim.update_id))).scalars()) == [10]
    async with db.transaction() as session:
        await session.execute(UpdateClaim.__table__.delete())


async def test_the_bots_job_runs_alone_and_records_what_went(bot, db):
    [job] = bot.job_queue.get_jobs_by_name(retention_job.JOB_NAME)
    assert job.callback is retention_job.sweep_job
    job.schedule_removal()  # the test runs it, not the timer
    async with db.transaction() as session:
        await logins.create_link(session, KEY, 1, now=utcnow() - 40 * DAY)
    await retention_job.sweep_job(CallbackContext(bot))
    async with db.read() as session:
        [run] = (await session.execute(select(RetentionRun))).scalars().all()
    assert run.last_deleted["sign_in_links"] == 1 and await count(db, DashboardLogin) == 0
    # The next run replaces what the last one deleted.
    await retention_job.sweep_job(CallbackContext(bot))
    async with db.read() as session:
        [run] = (await session.execute(select(RetentionRun))).scalars().all()
    assert run.last_deleted["sign_in_links"] == 0
    if db.is_sqlite:
        return  # one process serves a SQLite file: the job always runs in it
    # Another instance runs it at this moment: this one skips the run, deleting nothing.
    async with db.transaction() as session:
        await logins.create_link(session, KEY, 1, now=utcnow() - 40 * DAY)
    other = Database(db.url, schema=db.schema)
    try:
        async with jobs.alone(other, retention_job.JOB_NAME) as running:
            assert running
            await retention_job.sweep_job(CallbackContext(bot))
            assert await count(db, DashboardLogin) == 1
    finally:
        await other.dispose()
    await retention_job.sweep_job(CallbackContext(bot))
    assert await count(db, DashboardLogin) == 0


async def test_the_command_over_a_real_database(city, tmp_path):
    db = city
    if not db.is_sqlite:
        # The `loa` process finds the database by DATABASE_URL alone, which cannot name the schema
        # this test run's PostgreSQL tables live in; the PostgreSQL runs above cover the same code.
        pytest.skip("the command's own process reaches the test's PostgreSQL schema by no URL")
    now, alert_id, store, old_photo, _ = await world(db, tmp_path)
    env = dict(DATABASE_URL=db.url, LOA_MEDIA_DIR=str(store.root))
    code, out, err = await loa("retention", "run", "--dry-run", cwd=tmp_path, **env)
    assert code == 0, err
    assert "would delete          7  outbox rows" in out and "would delete          1  abandoned report drafts" in out
    assert "dry run: nothing was deleted" in out
    assert await count(db, Delivery) == 9 and store.path_of(old_photo).exists()

    code, out, err = await loa("retention", "run", cwd=tmp_path, **env)
    assert code == 0, err
    assert "deleted          7  outbox rows" in out and "deleted          2  dashboard sign-in links" in out
    assert "deleted          1  their photo files" in out
    assert "deleted          1  claims of Telegram updates handled (update_claims)" in out
    assert await count(db, Delivery) == 2 and not store.path_of(old_photo).exists()
    async with db.read() as session:
        assert (await alerts.progress(session, alert_id)).sent == 4


@pytest.mark.skipif(not PG_URL, reason="on SQLite one process serves: the job and the command never overlap")
async def test_the_command_does_not_run_while_an_instance_runs_the_job(own_database, tmp_path):
    env = dict(DATABASE_URL=own_database, LOA_MEDIA_DIR=str(tmp_path / "media"), LOA_DEFAULT_LANGUAGE="vi")
    code, _out, err = await loa("db", "upgrade", cwd=tmp_path, **env)
    assert code == 0, err
    db = Database(own_database)  # what a running instance holds, on the command's own database
    try:
        async with db.transaction() as session:
            await logins.create_link(session, KEY, 1, now=utcnow() - 40 * DAY)
        async with jobs.alone(db, retention_job.JOB_NAME) as running:
            assert running
            code, out, err = await loa("retention", "run", cwd=tmp_path, **env)
            assert code == 1 and out == ""
            assert "Một phiên bản Loa đang chạy việc dọn dữ liệu" in err, err
            code, _out, err = await loa("retention", "run", cwd=tmp_path, **{**env, "LOA_DEFAULT_LANGUAGE": "en"})
            assert code == 1 and "The retention job is running in a Loa instance right now" in err, err
            assert await count(db, DashboardLogin) == 1
            code, out, err = await loa("retention", "run", "--dry-run", cwd=tmp_path, **env)
            assert code == 0 and "would delete          1  dashboard sign-in links" in out, err  # counting only
        code, out, err = await loa("retention", "run", cwd=tmp_path, **env)
        assert code == 0 and "deleted          1  dashboard sign-in links" in out, err
        assert await count(db, DashboardLogin) == 0
    finally:
        await db.dispose()
