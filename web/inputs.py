"""Reading what an HTTP client sends, whatever it sends: numbers from paths, queries and forms
within bounds, JSON bodies and forms that may be malformed. Every route reads its input through
these, so that absurd input (a 5,000-digit id, a 100,000-deep JSON array, a form that is not
UTF-8) is refused by the route in its interface's error format instead of failing the server.

Python's int() refuses more than 4,300 digits with ValueError, and a database column refuses a
number beyond its type (PostgreSQL's integer is 32 bits): `number` bounds both before either sees
the text. json.loads raises RecursionError on deep nesting; `parse_json` turns every failure into
`Unreadable`. json.loads holds the GIL for the whole parse (about 20-80 ms for a megabyte), so a
worker thread alone would not let the event loop run meanwhile; large bodies are parsed in a
thread one at a time, so that the loop waits for at most one such parse between its turns, however
many arrive together.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from web.keys import SETTINGS

# The largest value of a 32-bit integer column: ids of the database's rows stay below it.
MAX_ID = 2**31 - 1
# Bodies larger than this are parsed off the event loop.
THREAD_BYTES = 64 * 1024
log = logging.getLogger("loa.http")
_LARGE_PARSES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


class Unreadable(ValueError):
    """The body is not what the route reads (not JSON, not a form, not UTF-8); says why, in English."""


def number(raw: object, low: int = 1, high: int = MAX_ID) -> int | None:
    """`raw` as an integer within [low, high], or None: not a string of ASCII digits (with a sign
    when `low` is negative), more digits than `high` has, or out of bounds."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if low <= raw <= high else None
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit() or len(digits) > len(str(max(abs(low), abs(high)))):
        return None
    value = int(text)
    return value if low <= value <= high else None


def coordinate(raw: object, limit: float) -> float | None:
    """A latitude (limit 90) or longitude (limit 180) as a finite float within ±limit, or None."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    if isinstance(raw, str) and len(raw) > 32:
        return None
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return None
    return value if -limit <= value <= limit else None  # NaN compares False: refused too


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise Unreadable("the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise Unreadable("the body is not UTF-8") from None
    except ValueError as problem:  # JSONDecodeError, and numbers of more than 4,300 digits
        raise Unreadable(f"the body is not valid JSON: {str(problem)[:120]}") from None


async def parse_json(raw: bytes) -> Any:
    """The JSON value of `raw`; Unreadable when it is not JSON. Large bodies are parsed in a thread."""
    if len(raw) <= THREAD_BYTES:
        return _loads(raw)
    lock = _LARGE_PARSES.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        return await asyncio.to_thread(_loads, raw)


async def json_body(request: web.Request) -> Any:
    """The request's body as JSON (up to the server's body cap: a larger one raises aiohttp's 413)."""
    return await parse_json(await request.read())


async def form(request: web.Request) -> MultiDictProxy:
    """The request's form fields (url-encoded or multipart); Unreadable when the body is not a
    form in UTF-8. A body over the server's cap raises aiohttp's 413."""
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise
    except (UnicodeDecodeError, LookupError) as problem:
        raise Unreadable("the form is not in UTF-8") from problem
    except (ValueError, AssertionError, HttpProcessingError, web.HTTPBadRequest) as problem:
        raise Unreadable("the body is not a form") from problem


class BodyTimeout(asyncio.TimeoutError):
    """The body did not arrive within LOA_HTTP_BODY_SECONDS. A TimeoutError, so that aiohttp, when
    it tries to read the rest of the body after the answer, gives up and closes the connection."""


@web.middleware
async def body_deadline(request: web.Request, handler):
    """A request's body must arrive within LOA_HTTP_BODY_SECONDS of the handler starting, however
    the handler reads it: when the time is up, the next read fails, the answer is 408 and the
    connection is closed. (Slow headers: the server's keep-alive timeout, web/server.py.)"""
    if not request.body_exists:
        return await handler(request)
    seconds = request.config_dict[SETTINGS].http_body_seconds
    content = request.content

    def expire() -> None:
        if not content.is_eof():
            content.set_exception(BodyTimeout())

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        return await handler(request)
    except BodyTimeout:
        log.info("http_body_timeout method=%s path=%s remote=%s", request.method, request.path[:200], request.remote)
        answer = web.HTTPRequestTimeout()
        answer.force_close()
        raise answer from None
    finally:
        timer.cancel()
