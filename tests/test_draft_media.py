"""The photos of report drafts: a resident holds at most LOA_DRAFT_MEDIA_BYTES of them; the
files of a cancelled, cleared, forgotten or abandoned draft leave the media store (unless a
report or another draft holds the same photo); an image declaring more pixels than Loa decodes
is refused from its header."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import select

from emulator.images import sample_jpeg
from handlers import retention_job
from storage.models import ReportDraft
from storage.types import utcnow
from tests.fixtures.reports import to_photos
from tests.fixtures.residents import onboarded, tap, until
from tests.fixtures.triage import file_report


def stored_files(bot) -> set[str]:
    return {path.stem for path in Path(bot.bot_data["settings"].media_dir).rglob("*.jpg")}


async def draft_of(db) -> ReportDraft | None:
    async with db.read() as session:
        return (await session.execute(select(ReportDraft))).scalar_one_or_none()


def bilevel_png(width: int = 6000, height: int = 6600) -> bytes:
    """A tiny file (a few KB) that declares ~40 million pixels."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()


async def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    data = bilevel_png()
    assert len(data) < 10_000
    await lan.send_document(data, "bomb.png", "image/png")
    assert (await lan.next_message()).text == (
        "This image has too many pixels for Loa: at most 16 million. Please send it as a photo rather than "
        "as a file, or a smaller one.")
    assert stored_files(bot) == set() and (await draft_of(db)).photos == []
    # The draft goes on: a photo is taken as before.
    await lan.send_photo()
    assert (await lan.next_message()).text.startswith("📷 Photo saved (1 of 5).")


async def test_a_draft_holds_at_most_the_configured_photo_bytes_and_loses_nothing(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send_photo()
    assert (await lan.next_message()).text.startswith("📷 Photo saved (1 of 5).")
    [first] = (await draft_of(db)).photos
    assert first["bytes"] > 0
    bot.bot_data["settings"] = bot.bot_data["settings"].model_copy(
        update={"draft_media_bytes": first["bytes"] + 10})
    await lan.send_photo(image=sample_jpeg(seed=99))
    refusal = await lan.next_message()
    assert refusal.text.startswith("This report already holds 0.01 MB of photos, the most Loa keeps for a report "
                                   "not yet sent, so this one was not added. The photos you sent are kept.")
    assert refusal.buttons == [["Done ✓"]]
    assert (await draft_of(db)).photos == [first] and stored_files(bot) == {first["sha256"]}
    # Once at the cap, a photo is refused before it is even downloaded.
    bot.bot_data["settings"] = bot.bot_data["settings"].model_copy(update={"draft_media_bytes": first["bytes"]})
    await lan.send_photo(image=sample_jpeg(seed=98))
    assert (await lan.next_message()).text.startswith("This report already holds")
    await tap(lan, "Done ✓", message=refusal)
    assert (await lan.next_message()).text.startswith("Where is the problem?")
    assert stored_files(bot) == {first["sha256"]}


async def test_cancel_and_remove_delete_the_draft_photos_but_not_those_of_reports(bot, emulator, db):
    shared = sample_jpeg(seed=7)
    hoa = await onboarded(emulator, "en")
    await to_photos(hoa)
    await hoa.send_photo(image=shared)
    await hoa.next_message()
    await tap(hoa, "Done ✓")
    await hoa.next_message()
    await hoa.send("/cancel")
    assert (await hoa.next_message()).text == "The report was cancelled; nothing was sent."
    assert stored_files(bot) == set()

    # "Remove the photos" (changing the photos from the review) deletes their files too.
    await to_photos(hoa)
    await hoa.send_photo()
    await hoa.next_message()
    await tap(hoa, "Done ✓")
    await hoa.next_message()
    await hoa.tap("📍 Share the location", location=(21.03254, 105.85077))
    await hoa.next_message()
    review = await hoa.next_message()
    await tap(hoa, "✏️ Photos", message=review)
    photos = await hoa.next_message()
    assert len(stored_files(bot)) == 1
    await tap(hoa, "Remove the photos", message=photos)
    await until(hoa, photos, "Add photos of the problem")
    assert stored_files(bot) == set()
    await hoa.send("/cancel")
    await hoa.next_message()

    # A photo a report holds stays when a draft with the same photo is cancelled.
    lan = await onboarded(emulator, "en")
    await file_report(lan, photos=0)
    await to_photos(lan)
    await lan.send_photo(image=shared)
    await lan.next_message()
    await tap(lan, "Done ✓")
    await lan.next_message()
    await to_photos_again_and_submit(lan)
    kept = stored_files(bot)
    assert len(kept) == 1
    await to_photos(hoa)
    await hoa.send_photo(image=shared)
    await hoa.next_message()
    assert stored_files(bot) == kept
    await hoa.send("/cancel")
    await hoa.next_message()
    assert stored_files(bot) == kept


async def to_photos_again_and_submit(user) -> None:
    await user.tap("📍 Share the location", location=(21.03254, 105.85077))
    await user.next_message()
    card = await user.next_message()
    await tap(user, "✅ Submit", message=card)
    assert (await user.next_message()).text.startswith("✅ Thank you!")


async def test_forget_deletes_the_photos_of_the_draft(bot, emulator, db):
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send_photo()
    await lan.next_message()
    assert len(stored_files(bot)) == 1
    await lan.send("/forget")
    confirm = await lan.next_message()
    await tap(lan, "Yes, delete my data", message=confirm)
    await until(lan, confirm, "Your data has been deleted.")
    assert stored_files(bot) == set()


async def test_abandoned_drafts_go_with_their_photos(bot, emulator, db):
    [job] = bot.job_queue.get_jobs_by_name(retention_job.JOB_NAME)
    assert job.callback is retention_job.sweep_job
    lan = await onboarded(emulator, "en")
    await to_photos(lan)
    await lan.send_photo()
    await lan.next_message()
    assert (await retention_job.sweep(bot, now=utcnow() + timedelta(days=6)))["drafts_files"] == 0
    assert await draft_of(db) is not None and len(stored_files(bot)) == 1
    assert (await retention_job.sweep(bot, now=utcnow() + timedelta(days=8)))["drafts_files"] == 1
    assert await draft_of(db) is None and stored_files(bot) == set()
    # The resident starts afresh.
    await lan.send("/report")
    assert (await lan.next_message()).text.startswith("What is the problem about?")
