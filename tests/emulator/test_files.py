"""Photos, albums, documents and downloads."""

import io

import pytest
from PIL import Image
from telegram import InputMediaDocument, InputMediaPhoto
from telegram.error import BadRequest

from emulator.images import sample_jpeg


def jpeg(width, height, seed=1):
    return sample_jpeg(width, height, seed=seed)


async def test_a_user_photo_arrives_in_telegram_sizes_and_downloads(tg, emulator, lan):
    original = jpeg(1600, 1200)
    await lan.send_photo(caption="Ổ gà ở đường Hùng Vương", image=original)
    message = (await tg.get_updates())[0].message
    assert message.caption == "Ổ gà ở đường Hùng Vương"
    assert [(p.width, p.height) for p in message.photo] == [(90, 68), (320, 240), (800, 600), (1280, 960),
                                                            (1600, 1200)]
    for size in message.photo:
        data = await (await tg.get_file(size.file_id)).download_as_bytearray()
        assert len(data) == size.file_size
        assert Image.open(io.BytesIO(bytes(data))).size == (size.width, size.height)
    assert len({p.file_unique_id for p in message.photo}) == 5


async def test_small_photos_have_only_the_sizes_below_the_original(lan):
    sent = await lan.send_photo(image=jpeg(300, 200))
    assert [(s["width"], s["height"]) for s in sent.photo_sizes] == [(90, 60), (300, 200)]


async def test_upload_download_round_trip_keeps_document_bytes(tg, lan):
    data = bytes(range(256)) * 300
    sent = await tg.send_document(lan.id, data, filename="bao-cao.bin", caption="Báo cáo")
    assert (sent.document.file_name, sent.document.file_size, sent.caption) == ("bao-cao.bin", len(data), "Báo cáo")
    downloaded = await (await tg.get_file(sent.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == data
    assert (await lan.next_message()).document["file_name"] == "bao-cao.bin"


async def test_bot_photo_upload_is_processed_and_resent_by_file_id(tg, emulator, lan):
    upload = jpeg(1000, 800)
    first = await tg.send_photo(lan.id, upload, caption="<b>Cảnh báo</b>", parse_mode="HTML")
    assert [p.width for p in first.photo] == [90, 320, 800, 1000]
    assert first.caption == "Cảnh báo" and first.caption_entities[0].type == "bold"
    again = await tg.send_photo(lan.id, first.photo[-1].file_id)
    assert [p.file_unique_id for p in again.photo] == [p.file_unique_id for p in first.photo]
    largest = await (await tg.get_file(first.photo[-1].file_id)).download_as_bytearray()
    assert Image.open(io.BytesIO(bytes(largest))).size == (1000, 800)
    view = await lan.next_message()
    assert view.photo == first.photo[-1].file_id and view.caption == "Cảnh báo"


async def test_photo_errors(tg, emulator, lan):
    emulator.expect_error(400)
    document = await tg.send_document(lan.id, b"%PDF", filename="a.pdf")
    with pytest.raises(BadRequest, match="^Wrong file identifier/http url specified$"):
        await tg.send_photo(lan.id, "AgACAgIAAxkBAAnotafile")
    with pytest.raises(BadRequest, match="^Type of file mismatch$"):
        await tg.send_photo(lan.id, document.document.file_id)
    with pytest.raises(BadRequest, match="^Image_process_failed$"):
        await tg.send_photo(lan.id, b"not an image at all")
    with pytest.raises(BadRequest, match="^Photo_invalid_dimensions$"):
        await tg.send_photo(lan.id, jpeg(2100, 100))
    with pytest.raises(BadRequest, match="^Message caption is too long$"):
        await tg.send_photo(lan.id, jpeg(100, 100), caption="c" * 1025)
    with pytest.raises(BadRequest, match="^File is too big$"):
        await tg.send_photo(lan.id, b"\xff\xd8" + bytes(10 * 1024 * 1024))
    with pytest.raises(BadRequest, match="^There is no photo in the request$"):
        await tg.do_api_request("sendphoto", api_kwargs={"chat_id": lan.id})
    assert [m.document for m in lan.messages if m.document] and len(lan.messages) == 1


async def test_caption_limit_counts_text_after_parsing(tg, lan):
    sent = await tg.send_photo(lan.id, jpeg(100, 100), caption="<i>" + "x" * 1024 + "</i>", parse_mode="HTML")
    assert len(sent.caption) == 1024


async def test_get_file_errors(tg, emulator, lan):
    big = emulator.state.files.add("document", bytes(20 * 1024 * 1024 + 1), file_name="big.bin")
    emulator.expect_error(400)
    with pytest.raises(BadRequest, match="^File is too big$"):
        await tg.get_file(big.file_id)
    with pytest.raises(BadRequest, match="^Wrong file_id or the file is temporarily unavailable$"):
        await tg.get_file("BQACnope")
    response = await tg.request._client.get(f"{emulator.url}/file/bot{emulator.token}/photos/nope.jpg")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_media_group_shares_an_id_and_uses_attach_references(tg, emulator, lan):
    emulator.limits.rate_limits = False  # four messages at once to one chat; limits are tested elsewhere
    known = (await tg.send_photo(lan.id, jpeg(200, 200, seed=2))).photo[-1].file_id
    media = [InputMediaPhoto(jpeg(400, 300, seed=3), caption="Trước"), InputMediaPhoto(known),
             InputMediaPhoto(jpeg(300, 400, seed=4), caption="<b>Sau</b>", parse_mode="HTML")]
    sent = await tg.send_media_group(lan.id, media)
    assert len(sent) == 3
    assert len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id
    assert [m.caption for m in sent] == ["Trước", None, "Sau"]
    assert [m.photo[-1].width for m in sent] == [400, 200, 300]
    form = emulator.calls_to("sendMediaGroup")[0].params
    assert form["media"].count('"attach://') == 2  # two uploads as multipart parts, one file_id
    await lan.next_message()
    album = [await lan.next_message() for _ in range(3)]
    assert [m.media_group_id for m in album] == [sent[0].media_group_id] * 3


async def test_media_group_size_and_type_limits(tg, emulator, lan):
    emulator.limits.rate_limits = False
    emulator.expect_error(400)
    photo = InputMediaPhoto(jpeg(50, 50))
    with pytest.raises(BadRequest, match="^Too few messages to send as an album$"):
        await tg.send_media_group(lan.id, [photo])
    with pytest.raises(BadRequest, match="^Too many messages to send as an album$"):
        await tg.send_media_group(lan.id, [InputMediaPhoto(jpeg(50, 50, seed=i)) for i in range(11)])
    with pytest.raises(BadRequest, match="^Document can't be mixed with other media types$"):
        await tg.send_media_group(lan.id, [photo, InputMediaDocument(b"%PDF", filename="a.pdf")])
    ten = await tg.send_media_group(lan.id, [InputMediaPhoto(jpeg(50, 50, seed=i)) for i in range(10)])
    assert len(ten) == 10


async def test_user_album_is_one_update_per_photo(tg, lan):
    sent = await lan.send_album([jpeg(200, 100, seed=i) for i in range(3)], caption="3 ảnh")
    updates = await tg.get_updates()
    assert [u.message.media_group_id for u in updates] == [sent[0].media_group_id] * 3
    assert [u.message.caption for u in updates] == ["3 ảnh", None, None]


async def test_other_user_media_have_telegram_shapes(tg, lan):
    await lan.send_voice(duration=4)
    await lan.send_sticker()
    await lan.send_video(duration=7)
    await lan.send_document(b"hello", "note.txt", "text/plain", caption="ghi chú")
    await lan.send_photo()
    voice, sticker, video, document, photo = [u.message for u in await tg.get_updates()]
    assert (voice.voice.to_dict()["duration"], voice.voice.mime_type) == (4, "audio/ogg")
    assert (sticker.sticker.width, sticker.sticker.type) == (512, "regular")
    assert video.video.to_dict()["duration"] == 7
    assert (document.document.file_name, document.caption) == ("note.txt", "ghi chú")
    assert bytes(await (await document.document.get_file()).download_as_bytearray()) == b"hello"
    assert photo.photo[-1].width == 640


async def test_a_group_member_sends_a_document_in_reply(tg, emulator):
    mai = emulator.user(first_name="Mai")
    group = emulator.group("URENCO", members=[mai], bot_admin=True)
    question = await tg.send_message(group.id, "Trả lời tin nhắn này")
    await group.send_document(mai, b"%PDF-1.4", "bien-ban.pdf", "application/pdf", caption="Biên bản",
                              reply_to=question.message_id)
    (message,) = [u.message for u in await tg.get_updates() if u.message]
    assert (message.from_user.id, message.chat.id) == (mai.id, group.id)
    assert (message.document.file_name, message.document.mime_type, message.caption) == (
        "bien-ban.pdf", "application/pdf", "Biên bản")
    assert message.reply_to_message.message_id == question.message_id
    assert bytes(await (await message.document.get_file()).download_as_bytearray()) == b"%PDF-1.4"
