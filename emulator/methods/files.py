"""getFile: a downloadable path for a stored file, up to the 20 MB bots may download."""

from __future__ import annotations

from emulator import limits
from emulator.errors import WRONG_FILE_ID, bad_request
from emulator.methods.registry import Context, method


@method("getFile")
def get_file(ctx: Context) -> dict:
    file_id = ctx.params.str("file_id").strip()
    if not file_id:
        raise bad_request("file_id not specified")
    stored = ctx.state.files.get(file_id)
    if stored is None:
        raise bad_request(WRONG_FILE_ID)
    if stored.size > limits.DOWNLOAD_MAX:
        raise bad_request("file is too big")
    return stored.file()
