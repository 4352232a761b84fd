"""POST /api/v1/cap: an agency's system sends a CAP 1.2 alert message (broadcasts/cap.py).

    POST /api/v1/cap
    Authorization: Bearer loa_...            (a token with the `alerts` scope)
    Content-Type: application/cap+xml        (or application/xml, text/xml)
    <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">...</alert>

Answers, all JSON:
- 201 a new alert: {"alert": {"id", "source": "cap", "identifier": "sender,identifier", "kind"
  (alert | correction | cancellation), "status", "replaces_id", "topic", "severity", "urgency",
  "areas", "languages", "expires_at", "created_at"}, "duplicate": false, "queued" (its messages
  to residents are in the outbox), "recipients" (how many), "warnings" (why it is held, if it
  is: a status other than Actual, a scope other than Public, no matching area, expired, an
  Update or Cancel of an alert not taken here)}.
- 200 the same message again from the same agency (same sender and identifier): the alert it
  made, "duplicate": true; nothing new is stored or sent. Deduplication is per agency: another
  agency's message with the same sender and identifier is its own (and never answered with the
  first agency's alert). A token may use any <sender>; Updates and Cancels reach only its own
  agency's alerts of the same sender.
- 400 `invalid_cap`: not well-formed, an encoding other than UTF-8 and those expat reads (UTF-7
  and unknown ones are refused), a DOCTYPE (hence any entity, internal or external), against the
  schema or the rules; the message names the element (`/alert/info[1]/area[2]/polygon[1]: ...`)
  and `field` holds its path.
- 400 `too_complex`: more elements or attributes than a CAP message has (refused before the
  schema), a polygon with more points or a message with more shapes than broadcasts/cap.py
  accepts, or work beyond its time budget. Parsing, checking and matching areas run in a worker
  thread, so the server keeps answering meanwhile.
- 401 / 403: no, unknown or revoked token / a token without the `alerts` scope (web/auth.py).
- 413 `too_large`: a body over LOA_MAX_BODY_BYTES (counted after any Content-Encoding).
- 415 `unsupported_media_type`; 422 `unsupported_cap`: msgType Ack or Error.
Nothing is stored unless the answer is 201.
"""

from __future__ import annotations

import logging

from aiohttp import web

from broadcasts import cap
from kernel.logs import fields
from web import auth, context
from web.keys import DB, SETTINGS

log = logging.getLogger("loa.cap")

PATH = "/api/v1/cap"
CONTENT_TYPES = ("application/cap+xml", "application/xml", "text/xml")
CHUNK = 64 * 1024


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    too_large = auth.error(413, "too_large", f"The body is larger than the {limit:,} bytes accepted.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def post_cap(request: web.Request) -> web.Response:
    who = await auth.caller(request, "alerts")
    if request.content_type not in CONTENT_TYPES:
        raise auth.error(415, "unsupported_media_type",
                         f"Send the CAP message as {' or '.join(CONTENT_TYPES[:2])} "
                         f"(got {request.content_type or 'none'}).")
    settings, db = request.config_dict[SETTINGS], request.config_dict[DB]
    body = await read_body(request, settings.max_body_bytes)
    wake = context.sender_waker(request)
    try:
        taken = await cap.ingest(db, body, tz=settings.tz, max_bytes=settings.max_body_bytes, on_slice=wake,
                                 agency_code=who.agency_code)
    except cap.CapError as error:
        log.info("cap_refused %s", fields(token=who.token_id, code=error.code, problem=str(error)[:200]))
        raise auth.error(error.status, error.code, str(error), field=error.path) from None
    context.carry_out(request, taken.effects)
    alert = taken.alert
    log.info("cap_taken %s", fields(alert=alert.id, kind=alert.kind, token=who.token_id,
                                    duplicate=not taken.created, recipients=taken.recipients))
    return web.json_response(taken.as_dict(), status=201 if taken.created else 200)


def setup(app: web.Application) -> None:
    app.router.add_post(PATH, post_cap)
