"""Files given to sending methods: uploads, attach:// references, file ids and HTTP URLs."""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Callable
from typing import Any

import aiohttp

from emulator import limits
from emulator.errors import WRONG_FILE_IDENTIFIER, bad_request
from emulator.files import StoredFile
from emulator.images import open_image, photo_sizes
from emulator.methods.registry import Context
from emulator.params import Upload


async def resolve_input(ctx: Context, value: object, field: str, max_url_size: int) -> Upload | StoredFile | None:
    """An InputFile parameter: the upload, or the stored file its id names, or the URL's content.

    None when nothing usable was given.
    """
    params = ctx.params
    if isinstance(value, Upload):
        return value
    if not isinstance(value, str) or not value.strip():
        return params.upload(field)
    text = value.strip()
    if text.startswith("attach://"):
        return params.upload(text[len("attach://"):])
    if text.lower().startswith(("http://", "https://")):
        data, content_type = await _fetch(ctx, text, max_url_size)
        return Upload(data, text.rsplit("/", 1)[-1].split("?")[0] or None, content_type)
    stored = ctx.state.files.get(text)
    if stored is None:
        raise bad_request(WRONG_FILE_IDENTIFIER)
    return stored


async def _fetch(ctx: Context, url: str, max_size: int) -> tuple[bytes, str | None]:
    try:
        session = ctx.emulator.http_session()
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            if response.status != 200:
                raise bad_request("failed to get HTTP URL content")
            data = await response.content.read(max_size + 1)
            if len(data) > max_size:
                raise bad_request("failed to get HTTP URL content")
            return data, response.content_type
    except (TimeoutError, aiohttp.ClientError, ValueError):
        raise bad_request("failed to get HTTP URL content") from None


# Files are checked and processed first and stored only once the send is accepted (a request
# answered with an error changes nothing): the prepare_* functions return the storing step.
Store = Callable[[], Any]


async def prepare_photo(ctx: Context, given: Upload | StoredFile) -> Store:
    """The sizes of a photo to send: a stored photo reused, or an upload processed like Telegram does."""
    if isinstance(given, StoredFile):
        if given.sizes is None:
            raise bad_request("type of file mismatch")
        return lambda: given.sizes
    if len(given.data) > limits.PHOTO_UPLOAD_MAX:
        raise bad_request("file is too big")
    sizes = await asyncio.to_thread(_process_photo, given.data)
    return lambda: ctx.state.files.add_photo_sizes(sizes)


def _process_photo(data: bytes) -> list[tuple[bytes, int, int]]:
    try:
        image = open_image(data)
    except ValueError:
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    width, height = image.size
    if width + height > limits.PHOTO_DIMENSIONS_MAX or max(width, height) > limits.PHOTO_RATIO_MAX * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return photo_sizes(image)


def prepare_document(ctx: Context, given: Upload | StoredFile) -> Store:
    if isinstance(given, StoredFile):
        return lambda: given
    if len(given.data) > limits.DOCUMENT_UPLOAD_MAX:
        raise bad_request("file is too big")
    if not given.data:
        raise bad_request("file must be non-empty")
    mime_type = given.content_type
    if not mime_type or mime_type == "application/octet-stream":
        mime_type = mimetypes.guess_type(given.filename or "")[0] or mime_type or "application/octet-stream"
    return lambda: ctx.state.files.add("document", given.data, mime_type=mime_type,
                                       file_name=given.filename or "document")
